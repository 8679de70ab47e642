package integration

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/runnerhub/lifeboat/internal/failbench"
	"github.com/runnerhub/lifeboat/schemas"
)

// TestChaosTemporalRestartDuringFailover restarts the Temporal dev server
// (SIGTERM, started again on the same database file) once a Failover has
// fenced the killed primary: the failover finishes after the server is
// back, with one promotion, the epoch one higher and no acknowledged
// write lost.
func TestChaosTemporalRestartDuringFailover(t *testing.T) {
	row := chaosRow{Scenario: "Temporal restart during a failover"}
	recordChaos(t, &row)
	h := newHA(t)
	h.takeStack()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	w, err := failbench.StartWriter(ctx, root, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	c := temporalClient(t)
	next := h.routingEpoch(ctx) + 1
	r := h.failoverWithFault(ctx, c, w, 1, stepFence, "the Temporal server restarts", func(run client.WorkflowRun) string {
		_, seen := h.waitStep(ctx, c, run, stepFence, next)
		down := restartTemporal(ctx, t)
		return fmt.Sprintf("Temporal restarted with %s done (%s without a server)", strings.Join(seen, "+"), down.Round(100*time.Millisecond))
	})
	row.LostWrites, row.Recovered = r.lost, r.recovered
	row.Detail = r.detail + "; one promotion, epoch +1"
}

// TestChaosTemporalRestartDuringRestore restarts the Temporal dev server
// while a Restore streams a fresh backup into a scratch directory: the
// restore finishes after the server is back and the restored server
// answers.
func TestChaosTemporalRestartDuringRestore(t *testing.T) {
	row := chaosRow{Scenario: "Temporal restart during a restore", LostWrites: -1}
	recordChaos(t, &row)
	h := newHA(t)
	m := backupNow(t)
	h.lockStack()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c := temporalClient(t)
	dir := scratchDir(t, "chaos-temporal")
	const port = 15521
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("chaos-restore/%d", time.Now().UnixNano()), TaskQueue: schemas.GlobalTaskQueue},
		schemas.RestoreWorkflow, schemas.RestoreInput{Cluster: h.topo.Cluster, Backup: m.ID, DataDir: dir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	// The server goes away while the base backup streams in.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("RestoreBase did not start within 2 minutes")
		}
		d, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
		if err != nil {
			t.Fatal(err)
		}
		if d.GetWorkflowExecutionInfo().GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Fatalf("the restore ended before the restart: %v", d.GetWorkflowExecutionInfo().GetStatus())
		}
		started := false
		for _, a := range d.GetPendingActivities() {
			started = started || (a.GetActivityType().GetName() == "RestoreBase" && a.GetState() == enums.PENDING_ACTIVITY_STATE_STARTED)
		}
		if started {
			break
		}
	}
	time.Sleep(time.Second) // some bytes written
	restartAt := time.Now()
	down := restartTemporal(ctx, t)
	var res schemas.RestoreResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("restore after the Temporal restart: %v", err)
	}
	row.Recovered = time.Since(restartAt)
	if got := strings.TrimSpace(psql(t, port, "SELECT count(*) > 0 FROM pg_database WHERE datname = 'postgres'")); got != "t" {
		t.Errorf("the restored server answers %q", got)
	}
	t.Logf("restored %s in %.1fs: %+v", m.ID, res.Seconds, res.Steps)
	row.Detail = fmt.Sprintf("Temporal restarted during RestoreBase (%s without a server); the restore of %s finished %s later, RTO %.1fs, server answers",
		down.Round(100*time.Millisecond), m.ID, row.Recovered.Round(100*time.Millisecond), res.Seconds)
}

// restartTemporal stops the stack's Temporal dev server with SIGTERM and
// starts it again on the same database file; it returns how long no server
// ran. The caller holds the stack's lock.
func restartTemporal(ctx context.Context, t *testing.T) time.Duration {
	t.Helper()
	pid := 0
	for _, p := range stack.Running() {
		if p.Name == "temporal" {
			pid = p.PID
		}
	}
	if pid == 0 {
		t.Fatal("the stack's Temporal server does not run")
	}
	stopped := time.Now()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); processLive(pid); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the Temporal server (pid %d) still runs a minute after SIGTERM", pid)
		}
	}
	if err := stack.StartTemporal(ctx); err != nil {
		t.Fatalf("start the Temporal server again: %v", err)
	}
	down := time.Since(stopped)
	t.Logf("restarted the Temporal server (pid %d): %s without it", pid, down.Round(time.Millisecond))
	return down
}
