package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/schemas"
)

// closedPortDSN is a node DSN on a loopback port nothing listens on.
func closedPortDSN(t *testing.T) string {
	return "postgres://" + devstack.PGUser + "@" + closedPortAddr(t) + "/postgres?sslmode=disable"
}

// withNode returns a copy of topo whose node name is changed by edit, and
// the Nodes activities of its region on that copy.
func (h *haStack) withNode(name string, edit func(*schemas.PostgresNode)) *ha.Nodes {
	topo := *h.topo
	topo.Regions = make([]schemas.Region, len(h.topo.Regions))
	region := ""
	for i, r := range h.topo.Regions {
		r.Postgres = append([]schemas.PostgresNode(nil), r.Postgres...)
		for j := range r.Postgres {
			if r.Postgres[j].Name == name {
				edit(&r.Postgres[j])
				region = r.Name
			}
		}
		topo.Regions[i] = r
	}
	return &ha.Nodes{Topology: &topo, Region: region, Clients: h.clients, Logger: zaptest.NewLogger(h.t), PGBin: devstack.PostgresBinDir}
}

// TestHA_ConfirmDownSaysDownOnlyWhenBothChecksFail asks region-a's worker
// about a running node of region-b, the second opinion a failover asks
// for, and about one whose port nothing listens on.
func TestHA_ConfirmDownSaysDownOnlyWhenBothChecksFail(t *testing.T) {
	h := newHA(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	up := timed(t, "ConfirmDown pg-b1 (running) from region-a", func() (schemas.ConfirmDownResult, error) {
		return h.on(pgA1).ConfirmDown(ctx, schemas.ConfirmDownInput{Cluster: h.topo.Cluster, Node: pgB1})
	})
	if up.Down || !strings.Contains(up.Detail, "answered SELECT 1") {
		t.Errorf("ConfirmDown of a running node = %+v", up)
	}
	gone := h.withNode(pgA2, func(n *schemas.PostgresNode) { n.DSN = closedPortDSN(t) })
	start := time.Now()
	down, err := gone.ConfirmDown(ctx, schemas.ConfirmDownInput{Cluster: h.topo.Cluster, Node: pgA2})
	took := time.Since(start)
	if err != nil || !down.Down || !strings.Contains(down.Detail, "failed two checks") {
		t.Errorf("ConfirmDown of a node nobody listens for = %+v, %v", down, err)
	}
	if took < 200*time.Millisecond || took > 3*time.Second {
		t.Errorf("ConfirmDown took %s, want two checks 200 ms apart, each within 1 s", took)
	}
	t.Logf("ConfirmDown of a closed port: %s (%s)", took.Round(time.Millisecond), down.Detail)
}

// TestHA_NodeStepsRefuseANodeOfAnotherRegion sends every node step of
// region-a's worker that acts on the node a node of region-b: a
// non-retryable error naming the field and the right task queue.
func TestHA_NodeStepsRefuseANodeOfAnotherRegion(t *testing.T) {
	h := newHA(t)
	a := h.on(pgA1)
	ctx := context.Background()
	c := h.topo.Cluster
	calls := map[string]func() error{
		"FenceNode": func() error { _, err := a.FenceNode(ctx, schemas.FenceNodeInput{Cluster: c, Node: pgB1}); return err },
		"Promote":   func() error { _, err := a.Promote(ctx, schemas.PromoteInput{Cluster: c, Node: pgB1}); return err },
		"Repoint": func() error {
			_, err := a.Repoint(ctx, schemas.RepointInput{Cluster: c, Node: pgB1, Primary: pgA1})
			return err
		},
		"VerifyWrite": func() error {
			_, err := a.VerifyWrite(ctx, schemas.VerifyWriteInput{Cluster: c, Node: pgB1})
			return err
		},
		"WaitCaughtUp": func() error {
			_, err := a.WaitCaughtUp(ctx, schemas.WaitCaughtUpInput{Cluster: c, Node: pgB1, LSN: "0/0"})
			return err
		},
		"RejoinNode": func() error {
			_, err := a.RejoinNode(ctx, schemas.RejoinNodeInput{Cluster: c, Node: pgB1, Primary: pgA1})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			requireAppError(t, call(), schemas.ErrInvalidInput, "node:", "region region-b", "lifeboat-region-b")
		})
	}
}

// TestHA_FenceNodeOverSQLOrNotAtAll fences a node whose data directory the
// worker does not have: reachable, it is made read-only and its client
// sessions end; unreachable, the answer says the lease must do it. The
// node is pg-b1, a standby, so no write is refused for real.
func TestHA_FenceNodeOverSQLOrNotAtAll(t *testing.T) {
	h := newHA(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sqlOnly := h.withNode(pgB1, func(n *schemas.PostgresNode) { n.DataDir = "" })
	victim := h.conn(ctx, pgB1)
	t.Cleanup(func() {
		c, err := h.clients.ConnectPostgres(context.Background(), h.node(pgB1), 3*time.Second, nil)
		if err != nil {
			t.Errorf("undo the read-only fence: %v", err)
			return
		}
		defer c.Close(context.Background())
		for _, q := range []string{"ALTER SYSTEM RESET default_transaction_read_only", "SELECT pg_reload_conf()"} {
			if _, err := c.Exec(context.Background(), q); err != nil {
				t.Errorf("undo the read-only fence: %v", err)
			}
		}
	})
	res := timed(t, "FenceNode pg-b1 over SQL", func() (schemas.FenceNodeResult, error) {
		return sqlOnly.FenceNode(ctx, schemas.FenceNodeInput{Cluster: h.topo.Cluster, Node: pgB1, Epoch: 7, Clean: true})
	})
	if !res.Fenced || res.How != schemas.FencedReadOnly || res.StopLSN == "" || !strings.Contains(res.Detail, "client sessions ended") {
		t.Errorf("FenceNode over SQL = %+v", res)
	}
	if err := victim.Ping(ctx); err == nil {
		t.Error("a client session opened before the fence still works")
	}
	var setting string
	if err := h.conn(ctx, pgB1).QueryRow(ctx, `SELECT setting FROM pg_settings WHERE name = 'default_transaction_read_only'`).Scan(&setting); err != nil || setting != "on" {
		t.Errorf("default_transaction_read_only after the fence = %q, %v; want on", setting, err)
	}

	gone := h.withNode(pgB1, func(n *schemas.PostgresNode) { n.DataDir, n.DSN = "", closedPortDSN(t) })
	res, err := gone.FenceNode(ctx, schemas.FenceNodeInput{Cluster: h.topo.Cluster, Node: pgB1, Epoch: 7})
	if err != nil || res.Fenced || res.How != schemas.FencedNone || !strings.Contains(res.Detail, "lease") {
		t.Errorf("FenceNode of an unreachable node = %+v, %v; want not fenced, %s", res, err, schemas.FencedNone)
	}
}

// TestHA_VerifyWriteAndWaitCaughtUp commits a row on the primary and waits
// until each standby has replayed it; a standby refuses the write, and a
// position no standby reaches ends at the deadline with where it stands.
func TestHA_VerifyWriteAndWaitCaughtUp(t *testing.T) {
	h := newHA(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	marker := time.Now().UnixNano()
	t.Cleanup(func() { h.deleteRows(pgA1, marker) })
	c := h.topo.Cluster
	w := timed(t, "VerifyWrite pg-a1", func() (schemas.VerifyWriteResult, error) {
		return h.on(pgA1).VerifyWrite(ctx, schemas.VerifyWriteInput{Cluster: c, Node: pgA1, Epoch: marker})
	})
	if w.Writer != pgA1 || w.LSN == "" || w.Took <= 0 {
		t.Errorf("VerifyWrite = %+v", w)
	}
	for _, n := range []string{pgA2, pgB1} {
		got := timed(t, "WaitCaughtUp "+n, func() (schemas.WaitCaughtUpResult, error) {
			return h.on(n).WaitCaughtUp(ctx, schemas.WaitCaughtUpInput{Cluster: c, Node: n, LSN: w.LSN})
		})
		lsn, err := schemas.ParseLSN(got.ReplayedLSN)
		want, _ := schemas.ParseLSN(w.LSN)
		if err != nil || lsn < want {
			t.Errorf("%s replayed %q, want at least %s", n, got.ReplayedLSN, w.LSN)
		}
		h.requireRow(ctx, n, marker, "the verified write")
	}
	if _, err := h.on(pgA2).VerifyWrite(ctx, schemas.VerifyWriteInput{Cluster: c, Node: pgA2, Epoch: marker + 1}); err == nil {
		t.Error("VerifyWrite on a standby succeeded")
	}
	_, err := h.on(pgB1).WaitCaughtUp(ctx, schemas.WaitCaughtUpInput{Cluster: c, Node: pgB1, LSN: "not-an-lsn"})
	requireAppError(t, err, schemas.ErrInvalidInput, "lsn")
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	_, err = h.on(pgB1).WaitCaughtUp(short, schemas.WaitCaughtUpInput{Cluster: c, Node: pgB1, LSN: "FFFF/0"})
	if err == nil || !strings.Contains(err.Error(), "has replayed up to") {
		t.Errorf("WaitCaughtUp past the end = %v, want a deadline error saying where it stands", err)
	}
}

// TestHA_FailoverRefusedAtConfirmLeavesItsEpochToTheNext starts the Failover
// of the current epoch for a primary that answers: region-b's second
// opinion refuses it before the role is taken, so the epoch stays, and the
// next failover of that epoch (the primary's real failure, later) must
// start under the same ID instead of being taken for one that ran; a
// detection that only joins starts nothing.
func TestHA_FailoverRefusedAtConfirmLeavesItsEpochToTheNext(t *testing.T) {
	h := newHA(t)
	h.takeStack()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := temporalClient(t)
	control := &ha.Control{Client: c}
	epoch := h.routingEpoch(ctx)
	in := schemas.StartFailoverInput{
		Failover: schemas.FailoverInput{Cluster: h.topo.Cluster, Failed: pgA1, Epoch: epoch, Reason: "integration: a false alarm"},
		Detected: schemas.FailoverDetected{Region: "region-a", At: time.Now()},
	}
	var runs []string
	for attempt := 1; attempt <= 2; attempt++ {
		at := time.Now().Add(-time.Second) // the server's clock may lag ours a little
		started, err := control.StartFailover(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if started.Finished {
			t.Fatalf("attempt %d: failover %s taken for one that succeeded; the refused run holds epoch %d", attempt, started.WorkflowID, epoch)
		}
		runs = append(runs, started.RunID)
		requireAppError(t, waitWorkflowEnd(ctx, t, c, started.WorkflowID, at, time.Minute), schemas.ErrNotConfirmed, pgA1, "region-b")
	}
	if runs[0] == runs[1] {
		t.Errorf("both attempts joined run %s", runs[0])
	}
	// A second region's detection arriving after the run ended joins
	// nothing and starts nothing.
	in.JoinOnly = true
	joined, err := control.StartFailover(ctx, in)
	if err != nil || !joined.Finished {
		t.Errorf("a late detection = %+v, %v; want it told the failover finished", joined, err)
	}
	if d, err := c.DescribeWorkflowExecution(ctx, joined.WorkflowID, ""); err != nil || d.WorkflowExecutionInfo.GetExecution().GetRunId() != runs[1] {
		t.Errorf("after a late detection the newest run is %v (%v), want %s", d.GetWorkflowExecutionInfo().GetExecution().GetRunId(), err, runs[1])
	}
	if got := h.routingEpoch(ctx); got != epoch {
		t.Errorf("routing epoch %d after two refused failovers, want %d", got, epoch)
	}
}
