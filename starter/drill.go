package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/internal/tclient"
	"github.com/runnerhub/lifeboat/schemas"
)

// drill runs `lifeboat drill CLUSTER --kind K` and `lifeboat drill report ID`.
func drill(args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "report" {
		return drillReport(args[1:], stdout)
	}
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	var conn tclient.Options
	conn.RegisterFlags(fs)
	var in schemas.DrillInput
	fs.StringVar(&in.Kind, "kind", schemas.DrillRestore, "restore, failover or full")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 1 {
		return errUsage
	}
	in.Cluster = pos[0]
	c, _, ctx, done, err := waitingSession(conn)
	if err != nil {
		return err
	}
	defer done()
	id := schemas.DrillWorkflowID(in.Cluster, time.Now().UTC().Format("20060102T150405.000Z"))
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: schemas.GlobalTaskQueue}, schemas.DRDrillWorkflow, in)
	if err != nil {
		return fmt.Errorf("start drill: %w", err)
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "%s drill of %s started (workflow %s)\n", in.Kind, in.Cluster, id)
	}
	var rep schemas.DrillReport
	err = waitShowing(ctx, run, &rep, stdout, !*asJSON && isTerminal(stdout), func() string {
		return drillStatus(ctx, c, run)
	})
	if err != nil {
		// A drill that ran and failed returns its report in the failure's
		// details; show it before the error.
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.Type() == schemas.ErrDrillFailed {
			if failed, ok := drillFailureReport(ctx, c, id); ok {
				printDrill(stdout, failed)
			}
		}
		return workflowFailure("drill", id, err)
	}
	if *asJSON {
		return writeJSON(stdout, rep)
	}
	printDrill(stdout, rep)
	return nil
}

// drillStatus is one line on a running drill: the step its restore child or
// its own activities are at.
func drillStatus(ctx context.Context, c client.Client, run client.WorkflowRun) string {
	desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
	if err != nil {
		return "progress unknown: " + err.Error()
	}
	for _, ch := range desc.PendingChildren {
		line := workflowStatus(ctx, c, ch.WorkflowId, ch.RunId, ch.WorkflowTypeName, func(*commonpb.Payloads) (string, bool) { return "", false })
		return ch.WorkflowTypeName + ": " + line
	}
	for _, pa := range desc.PendingActivities {
		return fmt.Sprintf("%s: %s", pa.ActivityType.GetName(), activityState(pa.State))
	}
	return "drill " + strings.ToLower(desc.WorkflowExecutionInfo.Status.String())
}

// drillFailureReport reads the report a failed drill stored, by asking for
// the newest report of its cluster that the workflow wrote.
func drillFailureReport(ctx context.Context, c client.Client, workflowID string) (schemas.DrillReport, bool) {
	cluster := strings.Split(workflowID, "/")[1]
	res, err := drillReports(ctx, c, schemas.DrillReportsInput{Cluster: cluster, Limit: 1})
	if err != nil || len(res.Reports) == 0 {
		return schemas.DrillReport{}, false
	}
	return res.Reports[0], true
}

// drillReports runs the DrillReports workflow, which reads the store.
func drillReports(ctx context.Context, c client.Client, in schemas.DrillReportsInput) (schemas.DrillReportsResult, error) {
	id := fmt.Sprintf("drill-reports/%s/%s", in.Cluster, time.Now().UTC().Format("20060102T150405.000000Z"))
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: schemas.GlobalTaskQueue}, schemas.DrillReportsWorkflow, in)
	if err != nil {
		return schemas.DrillReportsResult{}, fmt.Errorf("read drill reports: %w", err)
	}
	var res schemas.DrillReportsResult
	if err := run.Get(ctx, &res); err != nil {
		return res, workflowFailure("drill reports", id, err)
	}
	return res, nil
}

// drills lists a cluster's past drills, newest first:
//
//	lifeboat drills CLUSTER [--limit N] [--json]
func drills(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("drills", flag.ContinueOnError)
	var conn tclient.Options
	conn.RegisterFlags(fs)
	limit := fs.Int("limit", 20, "how many drills, newest first")
	asJSON := fs.Bool("json", false, "print the reports as JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 1 {
		return errUsage
	}
	c, ctx, done, err := session(conn, 5*time.Minute)
	if err != nil {
		return err
	}
	defer done()
	res, err := drillReports(ctx, c, schemas.DrillReportsInput{Cluster: pos[0], Limit: *limit})
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, res.Reports)
	}
	printDrills(stdout, res.Reports)
	return nil
}

// drillReport prints one stored report as Markdown:
//
//	lifeboat drill report ID [--cluster C] [--json]
func drillReport(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("drill report", flag.ContinueOnError)
	var conn tclient.Options
	conn.RegisterFlags(fs)
	cluster := fs.String("cluster", "", "the drill's cluster (default: the cluster of LIFEBOAT_TOPOLOGY)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 1 {
		return errUsage
	}
	if *cluster == "" {
		if *cluster, err = topologyCluster(); err != nil {
			return err
		}
	}
	c, ctx, done, err := session(conn, 5*time.Minute)
	if err != nil {
		return err
	}
	defer done()
	res, err := drillReports(ctx, c, schemas.DrillReportsInput{Cluster: *cluster, ID: pos[0]})
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, res.Reports[0])
	}
	fmt.Fprint(stdout, res.Markdown)
	return nil
}

// topologyCluster is the cluster named by the topology file in
// LIFEBOAT_TOPOLOGY, the default where a command needs a cluster.
func topologyCluster() (string, error) {
	p := os.Getenv("LIFEBOAT_TOPOLOGY")
	if p == "" {
		return "", errors.New("name the drill's cluster with --cluster (or set LIFEBOAT_TOPOLOGY)")
	}
	t, err := schemas.LoadTopology(p)
	if err != nil {
		return "", err
	}
	return t.Cluster, nil
}

// printDrill writes a drill's summary: verdict, achieved against targets,
// where the report and picture are.
func printDrill(w io.Writer, r schemas.DrillReport) {
	verdict := "PASSED"
	if !r.Passed {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "%s drill %s of %s in %s: %s (%.1fs)\n", r.Kind, r.ID, r.Cluster, r.Region, verdict, r.EndedAt.Sub(r.StartedAt).Seconds())
	if rs := r.Restore; rs != nil {
		fmt.Fprintf(w, "  restore:  RTO %.1fs (target %.0fs), RPO %.1fs (target %.0fs), backup %s, heartbeat %s\n",
			rs.RTOSeconds, r.TargetRTOSeconds, rs.RPOSeconds, r.TargetRPOSeconds, rs.BackupID, rs.Heartbeat.UTC().Format(time.RFC3339))
		for _, t := range rs.Tables {
			fmt.Fprintf(w, "            %s: %d rows, checksum %s\n", t.Table, t.Rows, t.Checksum)
		}
	}
	if f := r.Failover; f != nil {
		fmt.Fprintf(w, "  failover: RTO %.1fs (target %.0fs), %s promoted at epoch %d by %s\n",
			f.RTOSeconds, r.TargetRTOSeconds, f.Promoted, f.Epoch, f.WorkflowID)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  failed: %s\n", f)
	}
	fmt.Fprintf(w, "  steps:")
	for _, s := range r.Steps {
		fmt.Fprintf(w, "  %s %.1fs", s.Name, s.Seconds)
	}
	fmt.Fprintln(w)
	if r.Keys.JSON != "" {
		fmt.Fprintf(w, "  report: %s, %s, picture %s (in the backup store)\n", r.Keys.JSON, r.Keys.Markdown, r.Keys.SVG)
	}
}

// printDrills writes one line per drill, so the trend shows.
func printDrills(w io.Writer, reports []schemas.DrillReport) {
	if len(reports) == 0 {
		fmt.Fprintln(w, "no drills yet: lifeboat drill CLUSTER --kind restore")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tRESULT\tRTO\tRPO\tFAILOVER RTO\tTARGETS (RTO/RPO)")
	for _, r := range reports {
		result := "pass"
		if !r.Passed {
			result = "FAIL"
		}
		rto, rpo, frto := "-", "-", "-"
		if rs := r.Restore; rs != nil {
			rto, rpo = fmt.Sprintf("%.1fs", rs.RTOSeconds), fmt.Sprintf("%.1fs", rs.RPOSeconds)
		}
		if f := r.Failover; f != nil {
			frto = fmt.Sprintf("%.1fs", f.RTOSeconds)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.0fs/%.0fs\n", r.ID, r.Kind, result, rto, rpo, frto, r.TargetRTOSeconds, r.TargetRPOSeconds)
	}
	tw.Flush()
}
