package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"

	"github.com/runnerhub/lifeboat/internal/failbench"
	"github.com/runnerhub/lifeboat/schemas"
)

// TestChaosFailoverWorkerDeath kills (SIGKILL) the worker that runs a
// Failover at one of its steps, restarts it the way the stack starts it,
// and wants the failover finished by a worker: exactly one promotion (one
// new timeline, one completed Promote), the epoch one higher, and no write
// that the failbench writer had acknowledged lost. The reduced set kills
// after the promotion; the full one after the fence, the promotion, the
// repoint and the publication, one failover each.
func TestChaosFailoverWorkerDeath(t *testing.T) {
	row := chaosRow{Scenario: "worker death during a failover"}
	recordChaos(t, &row)
	steps := []string{stepPromote}
	if chaosFull() {
		steps = []string{stepFence, stepPromote, stepRepoint, stepPublish}
	}
	h := newHA(t)
	h.takeStack()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(len(steps))*6*time.Minute)
	defer cancel()
	// A killed worker comes back from bin/, which this run has just built:
	// its twin must be of the same build, or a workflow pinned to the old
	// one would find no worker.
	restartWorkers(ctx, t)
	w, err := failbench.StartWriter(ctx, root, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	c := temporalClient(t)
	var done []string
	for i, step := range steps {
		if i > 0 {
			if err := h.restore(ctx); err != nil {
				t.Fatalf("put the stack back before the next round: %v", err)
			}
		}
		var killed killedWorker
		next := h.routingEpoch(ctx) + 1
		r := h.failoverWithFault(ctx, c, w, i+1, step, "the failover's worker dies", func(run client.WorkflowRun) string {
			killed = h.killWorkerAfter(ctx, c, run, step, next)
			if err := stack.StartWorker(ctx, killed.region); err != nil {
				t.Fatalf("start the worker of %s again: %v", killed.region, err)
			}
			t.Logf("worker-%s started again", killed.region)
			return fmt.Sprintf("worker-%s killed with %s done", killed.region, strings.Join(killed.seen, "+"))
		})
		if others := workflowTaskWorkers(ctx, t, c, r.run, killed.identity, killed.at); len(others) > 0 {
			r.detail += ", finished by " + strings.Join(others, ", ")
		}
		row.LostWrites += r.lost
		row.Recovered = max(row.Recovered, r.recovered)
		done = append(done, fmt.Sprintf("%s: %s", step, r.detail))
		if t.Failed() {
			break
		}
	}
	row.Detail = "killed the failover's worker after " + strings.Join(done, "; ") + "; one promotion, epoch +1 each"
}

// The Failover steps after which a worker is killed.
const (
	stepFence   = "fence"
	stepPromote = "promote"
	stepRepoint = "repoint"
	stepPublish = "publish"
)

type faultRound struct {
	run       client.WorkflowRun
	lost      int
	recovered time.Duration
	detail    string
}

// failoverWithFault kills pg-a1, starts a Failover as the monitor would,
// lets fault break something while it runs (fault says what it did), and
// checks the outcome: exactly one promotion, the epoch one higher, no
// acknowledged write of the round lost.
func (h *haStack) failoverWithFault(ctx context.Context, c client.Client, w *failbench.Writer, round int, step, what string, fault func(client.WorkflowRun) string) faultRound {
	t := h.t
	t.Helper()
	cluster := h.topo.Cluster
	before, err := h.routing.ReadRouting(ctx, schemas.ReadRoutingInput{Cluster: cluster})
	if err != nil || !before.Found || before.Record.Primary != pgA1 {
		t.Fatalf("routing record before the round: %+v, %v; want pg-a1 primary", before.Record, err)
	}
	timeline := h.currentTimeline(ctx, pgA1)
	if err := w.Round(ctx, round, 10*time.Second); err != nil {
		t.Fatalf("the writer does not write before the kill: %v", err)
	}
	var lsn string
	if err := h.conn(ctx, pgA1).QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	h.kill(pgA1)
	killedPrimary := time.Now()

	id := schemas.FailoverWorkflowID(cluster, before.Record.Epoch)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: schemas.GlobalTaskQueue, WorkflowTaskTimeout: schemas.FailoverTaskTimeout},
		schemas.FailoverWorkflow, schemas.FailoverInput{
			Cluster: cluster, Failed: pgA1, Epoch: before.Record.Epoch, LastPrimaryLSN: lsn, Synchronous: []string{pgA2},
			Reason: "reliability suite: " + what + " after " + step,
		})
	if err != nil {
		t.Fatal(err)
	}
	did := fault(run)

	var res schemas.FailoverResult
	wctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	if err := run.Get(wctx, &res); err != nil {
		t.Fatalf("failover %s after the fault (%s): %v", id, did, err)
	}
	first, err := w.FirstAckAfter(ctx, round, pgA1, killedPrimary, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover %s: promoted %s at epoch %d in %s", id, res.Promoted, res.Epoch, res.Took.Round(time.Millisecond))

	// Exactly one promotion: one epoch, one new timeline, one primary, one
	// Promote that completed.
	after, err := h.routing.ReadRouting(ctx, schemas.ReadRoutingInput{Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	if res.Epoch != before.Record.Epoch+1 || after.Record.Epoch != before.Record.Epoch+1 || after.Record.Primary != res.Promoted {
		t.Errorf("epoch %d before; failover says %d, routing record %+v; want %d naming %s",
			before.Record.Epoch, res.Epoch, after.Record, before.Record.Epoch+1, res.Promoted)
	}
	var primaries []string
	for _, n := range []string{pgA1, pgA2, pgB1} {
		if s := h.state(ctx, n); s.Reachable && !s.InRecovery {
			primaries = append(primaries, n)
		}
	}
	if len(primaries) != 1 || primaries[0] != res.Promoted {
		t.Errorf("primaries after the failover: %v, want only %s", primaries, res.Promoted)
	}
	// The new timeline's number is one past the highest the archive
	// knows, so it is its parent that tells: pg-a1's.
	tl := h.currentTimeline(ctx, res.Promoted)
	if parent := h.parentTimeline(res.Promoted, tl); parent != timeline {
		t.Errorf("%s is on timeline %d, forked from %d; want it forked from pg-a1's %d: one promotion", res.Promoted, tl, parent, timeline)
	}
	if n := countCompleted(ctx, t, c, run, "Promote"); n != 1 {
		t.Errorf("%d Promote activities completed, want 1", n)
	}
	lost, err := w.Missing(ctx, round)
	if err != nil {
		t.Fatal(err)
	}
	if lost != 0 {
		t.Errorf("%d of %d acknowledged writes lost", lost, w.Acked(round))
	}
	return faultRound{
		run: run, lost: lost, recovered: first.Sub(killedPrimary),
		detail: fmt.Sprintf("%s, in %s", did, res.Took.Round(100*time.Millisecond)),
	}
}

// killedWorker is the worker killWorkerAfter killed.
type killedWorker struct {
	region, identity string
	at               time.Time
	seen             []string // the steps done when it was killed
}

// killWorkerAfter waits for step and SIGKILLs the stack worker whose
// identity took the workflow's last task.
func (h *haStack) killWorkerAfter(ctx context.Context, c client.Client, run client.WorkflowRun, step string, epoch int64) killedWorker {
	t := h.t
	t.Helper()
	identity, seen := h.waitStep(ctx, c, run, step, epoch)
	region, pid := killStackWorker(t, identity, "the failover's last workflow task was taken by")
	for deadline := time.Now().Add(10 * time.Second); processLive(pid) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("killed worker-%s (pid %d) running the failover, with %v done", region, pid, seen)
	return killedWorker{region: region, identity: identity, at: time.Now(), seen: seen}
}

// waitStep watches the failover's history (and, for the publish step, the
// routing record, which names the new primary at epoch) until step is
// done, and returns the identity that took the workflow's last task and
// the steps done.
func (h *haStack) waitStep(ctx context.Context, c client.Client, run client.WorkflowRun, step string, epoch int64) (string, []string) {
	t := h.t
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		events := history(ctx, t, c, run)
		types := map[int64]string{}
		var identity string
		var seen []string
		for _, e := range events {
			switch e.GetEventType() {
			case enums.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				types[e.GetEventId()] = e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
			case enums.EVENT_TYPE_WORKFLOW_TASK_STARTED:
				identity = e.GetWorkflowTaskStartedEventAttributes().GetIdentity()
			case enums.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
				switch types[e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()] {
				case "FenceNode":
					seen = append(seen, stepFence)
				case "Promote":
					seen = append(seen, stepPromote)
				case "Repoint":
					seen = append(seen, stepRepoint)
				}
			case enums.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, enums.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
				t.Fatalf("the failover ended before %s was seen: %v", step, e.GetEventType())
			}
		}
		if step == stepPublish {
			if rec, err := h.routing.ReadRouting(ctx, schemas.ReadRoutingInput{Cluster: h.topo.Cluster}); err == nil && rec.Record.Epoch == epoch && rec.Record.Primary != "" {
				seen = append(seen, stepPublish)
			}
		}
		if slices.Contains(seen, step) && identity != "" {
			return identity, seen
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the failover did not reach %s within 2 minutes", step)
	return "", nil
}

// history returns every event of run so far.
func history(ctx context.Context, t *testing.T, c client.Client, run client.WorkflowRun) []*historypb.HistoryEvent {
	t.Helper()
	it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []*historypb.HistoryEvent
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", run.GetID(), err)
		}
		events = append(events, e)
	}
	return events
}

// countCompleted counts the activities of type name that completed in run.
func countCompleted(ctx context.Context, t *testing.T, c client.Client, run client.WorkflowRun, name string) int {
	types := map[int64]string{}
	n := 0
	for _, e := range history(ctx, t, c, run) {
		switch e.GetEventType() {
		case enums.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			types[e.GetEventId()] = e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
		case enums.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			if types[e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()] == name {
				n++
			}
		}
	}
	return n
}

// workflowTaskWorkers lists the identities other than not that completed
// workflow tasks of run after since.
func workflowTaskWorkers(ctx context.Context, t *testing.T, c client.Client, run client.WorkflowRun, not string, since time.Time) []string {
	var out []string
	for _, e := range history(ctx, t, c, run) {
		if e.GetEventType() == enums.EVENT_TYPE_WORKFLOW_TASK_COMPLETED && e.GetEventTime().AsTime().After(since) {
			if id := e.GetWorkflowTaskCompletedEventAttributes().GetIdentity(); id != not && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}

// processLive reports whether pid is a process that has not exited (a
// zombie has).
func processLive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] != 'Z' && stat[i+2] != 'X'
}

// restartWorkers stops each worker of the stack (SIGTERM, as a deploy
// would) and starts it again from bin/, one after the other.
func restartWorkers(ctx context.Context, t *testing.T) {
	t.Helper()
	for _, p := range stack.Running() {
		region, ok := strings.CutPrefix(p.Name, "worker-")
		if !ok {
			continue
		}
		if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil {
			t.Fatalf("stop %s: %v", p.Name, err)
		}
		for deadline := time.Now().Add(45 * time.Second); processLive(p.PID); {
			if time.Now().After(deadline) {
				t.Fatalf("%s (pid %d) still runs 45 s after SIGTERM", p.Name, p.PID)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := stack.StartWorker(ctx, region); err != nil {
			t.Fatal(err)
		}
	}
	t.Log("restarted the stack's workers from bin/")
}

// currentTimeline returns the timeline a primary writes on.
func (h *haStack) currentTimeline(ctx context.Context, name string) int64 {
	h.t.Helper()
	var file string
	if err := h.conn(ctx, name).QueryRow(ctx, `SELECT pg_walfile_name(pg_current_wal_lsn())`).Scan(&file); err != nil {
		h.t.Fatal(err)
	}
	tli, err := strconv.ParseInt(file[:8], 16, 64)
	if err != nil {
		h.t.Fatal(err)
	}
	return tli
}

// parentTimeline returns the timeline that timeline tli of node name
// forked from, from the history file in its data directory.
func (h *haStack) parentTimeline(name string, tli int64) int64 {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.node(name).DataDir, "pg_wal", fmt.Sprintf("%08X.history", tli)))
	if err != nil {
		h.t.Fatal(err)
	}
	var parent int64
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			if p, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				parent = p
			}
		}
	}
	return parent
}

// killStackWorker SIGKILLs the stack worker whose Temporal identity
// (pid@host@) is identity and returns its region and pid; what says where
// the identity came from, should it not be a worker of the stack.
func killStackWorker(t *testing.T, identity, what string) (region string, pid int) {
	t.Helper()
	pid, _ = strconv.Atoi(strings.SplitN(identity, "@", 2)[0])
	for _, p := range stack.Running() {
		if p.PID == pid && strings.HasPrefix(p.Name, "worker-") {
			region = strings.TrimPrefix(p.Name, "worker-")
		}
	}
	if region == "" {
		t.Fatalf("%s %q, not a worker of the stack", what, identity)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill worker-%s (pid %d): %v", region, pid, err)
	}
	return region, pid
}
