package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/runnerhub/lifeboat/internal/tclient"
	"github.com/runnerhub/lifeboat/policy"
	"github.com/runnerhub/lifeboat/schemas"
)

// haCommand is the shape every HA command shares: a cluster, the Temporal
// connection and, optionally, --json.
type haCommand struct {
	fs      *flag.FlagSet
	conn    tclient.Options
	asJSON  *bool
	timeout *time.Duration
}

func newHACommand(name string, wait time.Duration) *haCommand {
	h := &haCommand{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	h.conn.RegisterFlags(h.fs)
	h.asJSON = h.fs.Bool("json", false, "print JSON")
	h.timeout = h.fs.Duration("timeout", wait, "how long to wait")
	return h
}

// parse returns the single CLUSTER argument.
func (h *haCommand) parse(args []string) (string, error) {
	pos, err := parseInterspersed(h.fs, args)
	if err != nil || len(pos) != 1 {
		return "", errUsage
	}
	return pos[0], nil
}

// open parses the arguments and connects to Temporal.
func (h *haCommand) open(args []string) (cluster string, c client.Client, ctx context.Context, done func(), err error) {
	if cluster, err = h.parse(args); err != nil {
		return "", nil, nil, nil, err
	}
	c, ctx, done, err = session(h.conn, *h.timeout)
	return cluster, c, ctx, done, err
}

// monitorState parses the arguments and asks the cluster's monitor for its
// state.
func (h *haCommand) monitorState(args []string) (schemas.MonitorState, error) {
	cluster, c, ctx, done, err := h.open(args)
	if err != nil {
		return schemas.MonitorState{}, err
	}
	defer done()
	return queryStatus(ctx, c, cluster)
}

// monitorStart starts a cluster's HealthMonitor unless it runs already.
func monitorStart(args []string, stdout io.Writer) error {
	h := newHACommand("monitor", 30*time.Second)
	cluster, c, ctx, done, err := h.open(args)
	if err != nil {
		return err
	}
	defer done()
	id, started, err := ensureMonitor(ctx, c, cluster)
	if err != nil {
		return err
	}
	if started {
		fmt.Fprintf(stdout, "started %s\n", id)
	} else {
		fmt.Fprintf(stdout, "%s is already running\n", id)
	}
	return nil
}

// ensureMonitor starts the monitor; a running one is left alone.
func ensureMonitor(ctx context.Context, c client.Client, cluster string) (string, bool, error) {
	id := schemas.MonitorWorkflowID(cluster)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: schemas.GlobalTaskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, schemas.HealthMonitorWorkflow, schemas.MonitorInput{Cluster: cluster})
	if err != nil {
		return id, false, fmt.Errorf("start %s: %w", id, err)
	}
	// With use-existing, a running monitor's run ID comes back: compare.
	desc, err := c.DescribeWorkflowExecution(ctx, id, run.GetRunID())
	if err != nil {
		return id, false, fmt.Errorf("describe %s: %w", id, err)
	}
	started := time.Since(desc.GetWorkflowExecutionInfo().GetStartTime().AsTime()) < 5*time.Second
	return id, started, nil
}

// queryStatus asks the cluster's monitor for its status.
func queryStatus(ctx context.Context, c client.Client, cluster string) (schemas.MonitorState, error) {
	var st schemas.MonitorState
	v, err := c.QueryWorkflow(ctx, schemas.MonitorWorkflowID(cluster), "", schemas.QueryStatus)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return st, fmt.Errorf("cluster %s has no running monitor: start it with `lifeboat monitor %s`", cluster, cluster)
	}
	if err != nil {
		return st, fmt.Errorf("query the monitor of %s: %w", cluster, err)
	}
	if err := v.Get(&st); err != nil {
		return st, fmt.Errorf("decode the status: %w", err)
	}
	return st, nil
}

func status(args []string, stdout io.Writer) error {
	h := newHACommand("status", 30*time.Second)
	st, err := h.monitorState(args)
	if err != nil {
		return err
	}
	if *h.asJSON {
		return writeJSON(stdout, st)
	}
	printStatus(stdout, st, time.Now())
	return nil
}

func printStatus(w io.Writer, st schemas.MonitorState, now time.Time) {
	fmt.Fprintf(w, "cluster %s: %s\n", st.Cluster, strings.ToUpper(st.Status))
	fmt.Fprintf(w, "primary %s at epoch %d", dash(st.Primary), st.Epoch)
	if st.RedisMaster != "" {
		fmt.Fprintf(w, "; Redis master %s", st.RedisMaster)
	}
	fmt.Fprintln(w)
	if st.Paused {
		var by []string
		for _, owner := range slices.Sorted(maps.Keys(st.PausedBy)) {
			by = append(by, strings.TrimSpace(owner+" "+st.PausedBy[owner]))
		}
		fmt.Fprintf(w, "automatic failover paused by: %s\n", strings.Join(by, "; "))
	}
	if f := st.Failover; f != nil {
		fmt.Fprintf(w, "failover %s of %s running for %s; RTO deadline in %s\n",
			f.WorkflowID, f.Failed, now.Sub(f.Started).Round(time.Second), f.Deadline.Sub(now).Round(time.Second))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tKIND\tREGION\tROLE\tSTATE\tCIRCUIT\tFAILS\tLATENCY ms (ewma/p95)\tLAG\tNOTE")
	for _, name := range st.Order {
		o, ok := st.Components[name]
		if !ok {
			continue
		}
		lag := ""
		if o.Kind == schemas.KindPostgres && o.Role == schemas.RoleReplica {
			lag = fmt.Sprintf("%dB %.1fs", o.LagBytes, o.LagSeconds)
		}
		note := o.Error
		if o.Anomaly {
			note = strings.TrimSpace(note + " latency anomaly")
		}
		if o.Warning != "" {
			note = strings.TrimSpace(note + " " + o.Warning)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%.1f (%.1f/%.1f)\t%s\t%s\n", name, o.Kind, o.Region, dash(o.Role),
			o.State, policy.CircuitOf(o.State), o.Failures, o.LatencyMS, o.EWMAMS, o.P95MS, lag, note)
	}
	_ = tw.Flush()
	for _, p := range st.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
	for _, p := range st.Warnings {
		fmt.Fprintf(w, "warning: %s\n", p)
	}
	fmt.Fprintf(w, "predictions look %s ahead; monitor run %d, updated %s ago\n",
		st.Horizon, st.Runs, now.Sub(st.Updated).Round(time.Second))
}

// pause and resume hold or release the operator's pause of automatic failover.
func pauseResume(signal string) func([]string, io.Writer) error {
	return func(args []string, stdout io.Writer) error {
		h := newHACommand(signal, 30*time.Second)
		reason := h.fs.String("reason", "", "why (shown in status)")
		cluster, c, ctx, done, err := h.open(args)
		if err != nil {
			return err
		}
		defer done()
		req := schemas.PauseRequest{Owner: schemas.OwnerOperator, Reason: *reason}
		if err := c.SignalWorkflow(ctx, schemas.MonitorWorkflowID(cluster), "", signal, req); err != nil {
			return fmt.Errorf("%s the monitor of %s: %w", signal, cluster, err)
		}
		verb := map[string]string{schemas.SignalPause: "paused", schemas.SignalResume: "resumed"}[signal]
		fmt.Fprintf(stdout, "automatic failover of %s %s\n", cluster, verb)
		return nil
	}
}

func history(args []string, stdout io.Writer) error {
	h := newHACommand("history", 30*time.Second)
	st, err := h.monitorState(args)
	if err != nil {
		return err
	}
	cluster := st.Cluster
	events := st.Events
	if *h.asJSON {
		return writeJSON(stdout, events)
	}
	if len(events) == 0 {
		fmt.Fprintf(stdout, "no failover, switchover or rejoin of %s yet\n", cluster)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN\tKIND\tFROM\tTO\tEPOCH\tOUTCOME\tTOOK\tDETAIL")
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", e.Started.UTC().Format(time.RFC3339), e.Kind, dash(e.From), dash(e.To),
			e.Epoch, e.Outcome, e.Took.Round(time.Millisecond), e.Detail)
	}
	return tw.Flush()
}

func switchover(args []string, stdout io.Writer) error {
	h := newHACommand("switchover", 5*time.Minute)
	to := h.fs.String("to", "", "the replica to promote (required)")
	cluster, err := h.parse(args)
	if err != nil || *to == "" {
		return errUsage
	}
	c, ctx, done, err := session(h.conn, *h.timeout)
	if err != nil {
		return err
	}
	defer done()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: schemas.SwitchoverWorkflowID(cluster), TaskQueue: schemas.GlobalTaskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
	}, schemas.SwitchoverWorkflow, schemas.SwitchoverInput{Cluster: cluster, Candidate: *to})
	if err != nil {
		return fmt.Errorf("start switchover: %w", err)
	}
	var res schemas.SwitchoverResult
	if err := run.Get(ctx, &res); err != nil {
		return fmt.Errorf("switchover %s: %w", run.GetID(), err)
	}
	if *h.asJSON {
		return writeJSON(stdout, res)
	}
	fmt.Fprintf(stdout, "switched %s from %s to %s at epoch %d in %s (clean stop at %s, old primary rejoined: %v)\n",
		cluster, res.From, res.To, res.Epoch, res.Took.Round(time.Millisecond), res.StopLSN, res.Rejoined)
	printSteps(stdout, res.Steps)
	return nil
}

// failoverCmd starts a Failover by hand: for a primary the monitor will not
// fail over (paused, or the only replica too far behind, with --force).
func failoverCmd(args []string, stdout io.Writer) error {
	h := newHACommand("failover", 5*time.Minute)
	force := h.fs.Bool("force", false, "promote a replica beyond the allowed lag, losing what it lacks")
	region := h.fs.String("region", "", "promote only in this region")
	cluster, c, ctx, done, err := h.open(args)
	if err != nil {
		return err
	}
	defer done()
	st, err := queryStatus(ctx, c, cluster)
	if err != nil {
		return err
	}
	if st.Primary == "" {
		return fmt.Errorf("the monitor of %s knows no primary to fail over from", cluster)
	}
	last := st.Components[st.Primary]
	in := schemas.FailoverInput{
		Cluster: cluster, Failed: st.Primary, Epoch: st.Epoch, LastPrimaryLSN: last.CurrentLSN, Synchronous: last.Synchronous,
		Force: *force, OnlyRegion: *region, Monitor: schemas.MonitorWorkflowID(cluster), Reason: "started by an operator",
	}
	id := schemas.FailoverWorkflowID(cluster, st.Epoch)
	run, err := c.SignalWithStartWorkflow(ctx, id, schemas.SignalFailoverDetected, schemas.FailoverDetected{Region: "operator", At: time.Now()},
		client.StartWorkflowOptions{ID: id, TaskQueue: schemas.GlobalTaskQueue, WorkflowTaskTimeout: schemas.FailoverTaskTimeout}, schemas.FailoverWorkflow, in)
	if err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	fmt.Fprintf(stdout, "failover %s started from %s (epoch %d)\n", id, st.Primary, st.Epoch)
	var res schemas.FailoverResult
	if err := run.Get(ctx, &res); err != nil {
		return fmt.Errorf("failover %s: %w", id, err)
	}
	if *h.asJSON {
		return writeJSON(stdout, res)
	}
	fmt.Fprintf(stdout, "promoted %s (%s) at epoch %d in %s; fenced: %s; estimated loss %d bytes\n",
		res.Promoted, res.Candidate.Reason, res.Epoch, res.Took.Round(time.Millisecond), res.Fenced, res.Candidate.LossBytes)
	printSteps(stdout, res.Steps)
	return nil
}

func printSteps(w io.Writer, steps []schemas.Step) {
	for _, s := range steps {
		fmt.Fprintf(w, "  %-10s %6.3fs\n", s.Name, s.Seconds)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
