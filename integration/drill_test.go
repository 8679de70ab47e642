package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/schemas"
)

// webUIDrillScreenshot is the artifact of the drill's browser check.
const webUIDrillScreenshot = ".dev/artifacts/webui-drill.png"

// archiveTimeout is the local stack's archive_timeout, which with the
// heartbeat interval bounds how old a drill's newest heartbeat can be.
const archiveTimeout = 60 * time.Second

// production is what a drill must not change: each node's role and
// upstream, and the routing record's primary and epoch.
type production struct {
	Nodes   map[string]string
	Primary string
	Epoch   int64
}

func (h *haStack) production(ctx context.Context) production {
	h.t.Helper()
	p := production{Nodes: map[string]string{}}
	for _, n := range []string{pgA1, pgA2, pgB1} {
		p.Nodes[n] = h.state(ctx, n).String()
	}
	rec, err := h.routing.ReadRouting(ctx, schemas.ReadRoutingInput{Cluster: h.topo.Cluster})
	if err != nil {
		h.t.Fatalf("read the routing record: %v", err)
	}
	p.Primary, p.Epoch = rec.Record.Primary, rec.Record.Epoch
	return p
}

// TestDrill_RestoreRecoversAKnownHeartbeatAndLeavesProductionAlone stops
// the monitor's heartbeats, writes one of its own at a known time, has it
// archived, and runs a restore drill: the drill must recover exactly that
// heartbeat, so its RPO is the truth (drill start minus the last write),
// within archive_timeout plus the heartbeat interval, the most a restore
// from the archive can miss of it;
// it must leave no scratch server or directory, and production's roles,
// primary and epoch must be as before. The finished drill is then found
// in the Web UI by a headless browser, which saves a screenshot.
func TestDrill_RestoreRecoversAKnownHeartbeatAndLeavesProductionAlone(t *testing.T) {
	browser := requireBrowser(t)
	h := newHA(t)
	h.takeStack()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	backupNow(t) // the drill restores the newest backup
	stopHeartbeats(t)

	known := strings.TrimSpace(psql(t, devstack.PGA1Port, `
		INSERT INTO lifeboat.heartbeat (id, at, node) VALUES (1, now(), 'drill-test')
			ON CONFLICT (id) DO UPDATE SET at = excluded.at, node = excluded.node
		RETURNING to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`))
	knownAt, err := time.Parse(time.RFC3339Nano, known)
	if err != nil {
		t.Fatalf("heartbeat time %q: %v", known, err)
	}
	waitArchived(t, psql(t, devstack.PGA1Port, `SELECT pg_walfile_name(pg_switch_wal())`))
	before := h.production(ctx)

	id := fmt.Sprintf("test-drill/%d", time.Now().UnixNano())
	c := temporalClient(t)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: schemas.GlobalTaskQueue},
		schemas.DRDrillWorkflow, schemas.DrillInput{Cluster: "dev", Kind: schemas.DrillRestore})
	if err != nil {
		t.Fatal(err)
	}
	var rep schemas.DrillReport
	if err := run.Get(ctx, &rep); err != nil {
		t.Fatalf("restore drill: %v", err)
	}
	rs := rep.Restore
	if !rep.Passed || rs == nil {
		t.Fatalf("drill report %+v: want a passed restore drill", rep)
	}
	if !rs.Heartbeat.Equal(knownAt) {
		t.Errorf("the drill recovered the heartbeat of %s, want the last one written, %s", rs.Heartbeat.Format(time.RFC3339Nano), known)
	}
	truth := rep.StartedAt.Sub(knownAt).Seconds()
	if d := rs.RPOSeconds - truth; d < 0 || d > (archiveTimeout+schemas.HeartbeatInterval).Seconds() {
		t.Errorf("achieved RPO %.3fs, truth %.3fs: off by more than archive_timeout + the heartbeat interval", rs.RPOSeconds, truth)
	}
	if len(rs.Tables) != 1 || rs.Tables[0].Table != "demo.orders" || rs.Tables[0].Rows != 10000 {
		t.Errorf("tables %+v: want demo.orders with its 10,000 rows", rs.Tables)
	}
	requireNoScratch(t)
	if after := h.production(ctx); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("production changed during the drill:\nbefore %+v\nafter  %+v", before, after)
	}
	requireStoredReport(t, rep)
	t.Logf("restore drill %s: RTO %.1fs, RPO %.1fs (truth %.1fs), steps %+v", rep.ID, rs.RTOSeconds, rs.RPOSeconds, truth, rep.Steps)

	// The Web UI: the workflows list, filtered to finished drills, leads
	// to this one, which shows Completed and the report.
	shot := filepath.Join(root, webUIDrillScreenshot)
	_ = os.Remove(shot)
	runE2E(t, "find", "WEBUI_URL="+stack.WebUIURL(), "WEBUI_NAMESPACE=default", "WORKFLOW_ID="+id,
		"WORKFLOW_RUN_ID="+run.GetRunID(), "WORKFLOW_TYPE="+schemas.DRDrillWorkflow, "SCREENSHOT="+shot, "CHROMIUM="+browser,
		fmt.Sprintf("EXPECT_TEXT=\"id\": %q\n\"passed\": true", rep.ID))
	if st, err := os.Stat(shot); err != nil || st.Size() == 0 {
		t.Fatalf("no screenshot at %s: %v", shot, err)
	}
}

// TestDrill_CancelledMidRestoreLeavesNothingBehind cancels a drill while
// its restore runs: the workflow ends cancelled, its report is stored, and
// no scratch server or directory is left.
func TestDrill_CancelledMidRestoreLeavesNothingBehind(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	backupNow(t)
	c := temporalClient(t)
	id := fmt.Sprintf("test-drill-cancel/%d", time.Now().UnixNano())
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: schemas.GlobalTaskQueue},
		schemas.DRDrillWorkflow, schemas.DrillInput{Cluster: "dev", Kind: schemas.DrillRestore})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the restore child is unpacking or recovering.
	child := id + "/restore"
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the drill's restore never started unpacking")
		}
		desc, err := c.DescribeWorkflowExecution(ctx, child, "")
		if err != nil {
			continue
		}
		started := ""
		for _, pa := range desc.PendingActivities {
			if pa.State == enumspb.PENDING_ACTIVITY_STATE_STARTED {
				started = pa.ActivityType.GetName()
			}
		}
		if started == "RestoreBase" || started == "StartRestored" {
			t.Logf("cancelling the drill during %s", started)
			break
		}
	}
	if err := c.CancelWorkflow(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	err = run.Get(ctx, nil)
	var canceled *temporal.CanceledError
	var appErr *temporal.ApplicationError
	if !errors.As(err, &canceled) && !(errors.As(err, &appErr) && appErr.Type() == schemas.ErrDrillFailed) {
		t.Fatalf("cancelled drill ended with %v, want cancelled or DrillFailed", err)
	}
	requireNoScratch(t)
}

// stopHeartbeats stops the dev cluster's monitor, whose probe writes the
// heartbeat, until the test ends, and waits until the row stops changing.
func stopHeartbeats(t *testing.T) {
	t.Helper()
	c := temporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := schemas.MonitorWorkflowID("dev")
	if err := c.TerminateWorkflow(ctx, id, "", "drill test: heartbeats stopped"); err != nil {
		t.Logf("terminate %s: %v (not running)", id, err)
	}
	t.Cleanup(func() {
		cmd := exec.Command(filepath.Join(root, "bin", "lifeboat"), "monitor", "dev")
		cmd.Env = append(os.Environ(), stack.Env()...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("restart the monitor: %v: %s", err, out)
		}
	})
	read := func() string {
		return psql(t, devstack.PGA1Port, `SELECT coalesce((SELECT at::text FROM lifeboat.heartbeat), '') `+
			`FROM (SELECT to_regclass('lifeboat.heartbeat') IS NOT NULL) s(x)`)
	}
	last := read()
	for deadline := time.Now().Add(45 * time.Second); ; {
		time.Sleep(schemas.HeartbeatInterval + time.Second)
		now := read()
		if now == last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the heartbeat kept changing after the monitor was terminated")
		}
		last = now
	}
	psql(t, devstack.PGA1Port, `CREATE SCHEMA IF NOT EXISTS lifeboat;
		CREATE TABLE IF NOT EXISTS lifeboat.heartbeat (id int PRIMARY KEY CHECK (id = 1), at timestamptz NOT NULL, node text NOT NULL)`)
}

// requireNoScratch fails if a drill left a directory or a server behind.
func requireNoScratch(t *testing.T) {
	t.Helper()
	entries, err := os.ReadDir(stack.DrillDir())
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("a drill left %s behind", filepath.Join(stack.DrillDir(), e.Name()))
	}
	if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", devstack.DrillPort), time.Second); err == nil {
		conn.Close()
		t.Errorf("a server still listens on the drill port %d", devstack.DrillPort)
	}
}

// requireStoredReport reads the drill's three report files from the store.
func requireStoredReport(t *testing.T, rep schemas.DrillReport) {
	t.Helper()
	topo, err := schemas.LoadTopology(stack.TopologyPath())
	if err != nil {
		t.Fatal(err)
	}
	store := storeOf(t, topo)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, key := range []string{rep.Keys.JSON, rep.Keys.Markdown, rep.Keys.SVG} {
		info, err := store.Stat(ctx, key)
		if err != nil || info.Size == 0 {
			t.Errorf("report file %s: %v (size %d)", key, err, info.Size)
		}
	}
}

// TestDrill_FailoverAndFullRehearseOnScratchOnly runs a failover drill and
// a full drill: each must pass, the real Failover workflow must have
// promoted the scratch replica at epoch 2 of the drill set, nothing of the
// drill may be left, and production's roles, primary and epoch must be as
// before each drill.
func TestDrill_FailoverAndFullRehearseOnScratchOnly(t *testing.T) {
	h := newHA(t)
	h.takeStack()
	backupNow(t)
	for _, kind := range []string{schemas.DrillFailover, schemas.DrillFull} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		before := h.production(ctx)
		rep, err := runWorkflow[schemas.DrillInput, schemas.DrillReport](t, schemas.DRDrillWorkflow,
			fmt.Sprintf("test-drill-%s/%d", kind, time.Now().UnixNano()), schemas.DrillInput{Cluster: "dev", Kind: kind})
		if err != nil {
			cancel()
			t.Fatalf("%s drill: %v", kind, err)
		}
		f := rep.Failover
		switch {
		case !rep.Passed || f == nil:
			t.Errorf("%s drill: report %+v, want passed with a failover part", kind, rep)
		case f.Promoted != schemas.DrillReplica || f.Epoch != 2 || f.RTOSeconds <= 0:
			t.Errorf("%s drill: failover %+v, want %s promoted at epoch 2 with a measured RTO", kind, f, schemas.DrillReplica)
		case kind == schemas.DrillFull && (rep.Restore == nil || rep.Restore.RPOSeconds <= 0):
			t.Errorf("full drill: restore part %+v, want RTO and RPO measured", rep.Restore)
		}
		requireNoScratch(t)
		if after := h.production(ctx); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("production changed during the %s drill:\nbefore %+v\nafter  %+v", kind, before, after)
		}
		rec, err := h.routing.ReadRouting(ctx, schemas.ReadRoutingInput{Cluster: schemas.DrillClusterName("dev")})
		if err != nil || rec.Found {
			t.Errorf("the drill set's routing record is left behind: %+v, %v", rec, err)
		}
		t.Logf("%s drill %s: failover RTO %.1fs; steps %+v", kind, rep.ID, f.RTOSeconds, rep.Steps)
		cancel()
	}
}
