package integration

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/schemas"
)

// TestHA_KilledPrimaryIsReplacedAndRejoinsThenSwitchesBackCleanly runs the
// node steps of a failover and of a switchover on the real stack, with the
// activities a workflow calls:
//
//  1. pg-a1's postmaster is killed (SIGKILL). ConfirmDown says it is down;
//     FenceNode marks its data directory standby.
//  2. pg-a2 is promoted (a new timeline), pg-b1 repointed to it; a write on
//     pg-a2 commits, and the write acknowledged by pg-a1 before the kill is
//     there: no acknowledged write lost.
//  3. pg-a1 rejoins: crash recovery, pg_rewind, and it streams from pg-a2
//     with the new write.
//  4. Back by switchover: pg-a2 stopped cleanly, pg-a1 replays up to its
//     stop position and is promoted, pg-b1 repointed, pg-a2 rejoins without
//     a rewind.
//
// Every step is repeated once to show it is idempotent.
func TestHA_KilledPrimaryIsReplacedAndRejoinsThenSwitchesBackCleanly(t *testing.T) {
	h := newHA(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cluster := h.topo.Cluster
	marker := time.Now().UnixNano() // the epoch column of this test's rows
	t.Cleanup(func() { h.deleteRows(pgA1, marker) })
	h.takeStack()
	a, b := h.on(pgA1), h.on(pgB1)
	start := time.Now()

	timed(t, "VerifyWrite pg-a1 (before the kill)", func() (schemas.VerifyWriteResult, error) {
		return a.VerifyWrite(ctx, schemas.VerifyWriteInput{Cluster: cluster, Node: pgA1, Epoch: marker})
	})
	timeline := h.timeline(ctx, pgA1)

	// 1. The primary dies.
	h.kill(pgA1)
	killed := time.Now()
	down := timed(t, "ConfirmDown pg-a1", func() (schemas.ConfirmDownResult, error) {
		return a.ConfirmDown(ctx, schemas.ConfirmDownInput{Cluster: cluster, Node: pgA1})
	})
	if !down.Down {
		t.Fatalf("ConfirmDown of a killed primary = %+v, want down", down)
	}
	epoch := h.takeRole(ctx, pgA1)
	fence := timed(t, "FenceNode pg-a1 (killed)", func() (schemas.FenceNodeResult, error) {
		return a.FenceNode(ctx, schemas.FenceNodeInput{Cluster: cluster, Node: pgA1, Epoch: epoch})
	})
	// Until its parent reaps it, a killed postmaster is a zombie that
	// pg_ctl takes for running: "stopped" is as right as "not-running".
	if !fence.Fenced || (fence.How != schemas.FencedNotRunning && fence.How != schemas.FencedStopped) {
		t.Errorf("FenceNode of a killed primary = %+v, want fenced", fence)
	}
	if again, err := a.FenceNode(ctx, schemas.FenceNodeInput{Cluster: cluster, Node: pgA1, Epoch: epoch}); err != nil || again.How != schemas.FencedNotRunning {
		t.Errorf("second FenceNode = %+v, %v; want %s", again, err, schemas.FencedNotRunning)
	}
	if _, err := os.Stat(filepath.Join(h.node(pgA1).DataDir, "standby.signal")); err != nil {
		t.Errorf("the fenced data directory has no standby.signal: %v", err)
	}

	// 2. pg-a2 takes over.
	promote := timed(t, "Promote pg-a2", func() (schemas.PromoteResult, error) {
		return a.Promote(ctx, schemas.PromoteInput{Cluster: cluster, Node: pgA2, Epoch: epoch, SyncStandbys: []string{pgB1, pgA1}})
	})
	if promote.AlreadyPrimary || promote.Timeline != timeline+1 {
		t.Errorf("Promote = %+v, want a promotion to timeline %d", promote, timeline+1)
	}
	again := timed(t, "Promote pg-a2 (again)", func() (schemas.PromoteResult, error) {
		return a.Promote(ctx, schemas.PromoteInput{Cluster: cluster, Node: pgA2, Epoch: epoch, SyncStandbys: []string{pgB1, pgA1}})
	})
	if !again.AlreadyPrimary || again.Timeline != promote.Timeline {
		t.Errorf("second Promote = %+v, want already primary on timeline %d", again, promote.Timeline)
	}
	h.giveRole(ctx, epoch, pgA2)
	repoint := timed(t, "Repoint pg-b1 to pg-a2", func() (schemas.RepointResult, error) {
		return b.Repoint(ctx, schemas.RepointInput{Cluster: cluster, Node: pgB1, Primary: pgA2})
	})
	if !repoint.Changed {
		t.Error("Repoint of pg-b1 to pg-a2 changed nothing")
	}
	if r, err := b.Repoint(ctx, schemas.RepointInput{Cluster: cluster, Node: pgB1, Primary: pgA2}); err != nil || r.Changed {
		t.Errorf("second Repoint = %+v, %v; want unchanged", r, err)
	}
	write := timed(t, "VerifyWrite pg-a2", func() (schemas.VerifyWriteResult, error) {
		return a.VerifyWrite(ctx, schemas.VerifyWriteInput{Cluster: cluster, Node: pgA2, Epoch: marker + 1})
	})
	t.Logf("killed primary to first write on the new primary: %s", time.Since(killed).Round(time.Millisecond))
	if write.Writer != pgA2 {
		t.Errorf("the write was taken by %q, want %s", write.Writer, pgA2)
	}
	h.requireRow(ctx, pgA2, marker, "the write acknowledged by pg-a1 before it was killed")
	timed(t, "WaitCaughtUp pg-b1", func() (schemas.WaitCaughtUpResult, error) {
		return b.WaitCaughtUp(ctx, schemas.WaitCaughtUpInput{Cluster: cluster, Node: pgB1, LSN: write.LSN})
	})
	if s := h.state(ctx, pgB1); s.Upstream != h.port(pgA2) {
		t.Errorf("pg-b1 is %s, want streaming from pg-a2", s)
	}

	// 3. The old primary comes back as a replica of the new one.
	rejoin := timed(t, "RejoinNode pg-a1 to pg-a2", func() (schemas.RejoinNodeResult, error) {
		return a.RejoinNode(ctx, schemas.RejoinNodeInput{Cluster: cluster, Node: pgA1, Primary: pgA2})
	})
	if !rejoin.Rewound {
		t.Errorf("RejoinNode of a killed primary = %+v, want it rewound (its crash recovery wrote past the fork)", rejoin)
	}
	timed(t, "WaitCaughtUp pg-a1", func() (schemas.WaitCaughtUpResult, error) {
		return a.WaitCaughtUp(ctx, schemas.WaitCaughtUpInput{Cluster: cluster, Node: pgA1, LSN: write.LSN})
	})
	h.requireRow(ctx, pgA1, marker+1, "the write on the new primary")
	if r, err := a.RejoinNode(ctx, schemas.RejoinNodeInput{Cluster: cluster, Node: pgA1, Primary: pgA2}); err != nil || r.Rewound || !strings.Contains(r.Detail, "already streaming") {
		t.Errorf("second RejoinNode = %+v, %v; want already streaming", r, err)
	}
	t.Logf("failover and rejoin: %s", time.Since(start).Round(time.Millisecond))

	// 4. Back to pg-a1 by switchover.
	switchStart := time.Now()
	epoch = h.takeRole(ctx, pgA2)
	stop := timed(t, "FenceNode pg-a2 (clean)", func() (schemas.FenceNodeResult, error) {
		return a.FenceNode(ctx, schemas.FenceNodeInput{Cluster: cluster, Node: pgA2, Epoch: epoch, Clean: true})
	})
	if stop.How != schemas.FencedStopped || stop.StopLSN == "" {
		t.Fatalf("clean FenceNode of a running primary = %+v, want stopped with a stop LSN", stop)
	}
	timed(t, "WaitCaughtUp pg-a1 to the stop LSN", func() (schemas.WaitCaughtUpResult, error) {
		return a.WaitCaughtUp(ctx, schemas.WaitCaughtUpInput{Cluster: cluster, Node: pgA1, LSN: stop.StopLSN})
	})
	back := timed(t, "Promote pg-a1", func() (schemas.PromoteResult, error) {
		return a.Promote(ctx, schemas.PromoteInput{Cluster: cluster, Node: pgA1, Epoch: epoch, SyncStandbys: []string{pgA2}})
	})
	if back.Timeline != promote.Timeline+1 {
		t.Errorf("Promote of pg-a1 = %+v, want timeline %d", back, promote.Timeline+1)
	}
	h.giveRole(ctx, epoch, pgA1)
	timed(t, "Repoint pg-b1 to pg-a1", func() (schemas.RepointResult, error) {
		return b.Repoint(ctx, schemas.RepointInput{Cluster: cluster, Node: pgB1, Primary: pgA1})
	})
	rejoin2 := timed(t, "RejoinNode pg-a2 to pg-a1", func() (schemas.RejoinNodeResult, error) {
		return a.RejoinNode(ctx, schemas.RejoinNodeInput{Cluster: cluster, Node: pgA2, Primary: pgA1})
	})
	if rejoin2.Rewound {
		t.Errorf("RejoinNode after a clean switchover = %+v, want no rewind", rejoin2)
	}
	last := timed(t, "VerifyWrite pg-a1", func() (schemas.VerifyWriteResult, error) {
		return a.VerifyWrite(ctx, schemas.VerifyWriteInput{Cluster: cluster, Node: pgA1, Epoch: marker + 2})
	})
	for _, n := range []string{pgA2, pgB1} {
		if _, err := h.on(n).WaitCaughtUp(ctx, schemas.WaitCaughtUpInput{Cluster: cluster, Node: n, LSN: last.LSN}); err != nil {
			t.Error(err)
		}
	}
	h.requireRow(ctx, pgA2, marker+1, "the write made while pg-a2 was primary")
	t.Logf("switchover back and rejoin: %s", time.Since(switchStart).Round(time.Millisecond))
	if err := h.resetFailoverSettings(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.waitHealthy(ctx, 20*time.Second); err != nil {
		t.Errorf("after the switch back: %v", err)
	}
}

// kill sends SIGKILL to a node's postmaster, as a crash would.
func (h *haStack) kill(name string) {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.node(name).DataDir, "postmaster.pid"))
	if err != nil {
		h.t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		h.t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		h.t.Fatalf("kill %s (pid %d): %v", name, pid, err)
	}
	h.t.Logf("killed the postmaster of %s (pid %d)", name, pid)
}

func (h *haStack) timeline(ctx context.Context, name string) int64 {
	h.t.Helper()
	var tli int64
	if err := h.conn(ctx, name).QueryRow(ctx, `SELECT timeline_id FROM pg_control_checkpoint()`).Scan(&tli); err != nil {
		h.t.Fatal(err)
	}
	return tli
}

// requireRow fails the test unless the node holds the row VerifyWrite wrote
// with epoch marker.
func (h *haStack) requireRow(ctx context.Context, name string, marker int64, what string) {
	h.t.Helper()
	var n int
	if err := h.conn(ctx, name).QueryRow(ctx, `SELECT count(*) FROM lifeboat.failover_check WHERE epoch = $1`, marker).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	if n != 1 {
		h.t.Errorf("%s has %d rows of %s, want 1", name, n, what)
	}
}

// deleteRows removes the rows a test wrote with markers from marker on.
func (h *haStack) deleteRows(name string, marker int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := h.clients.ConnectPostgres(ctx, h.node(name), 3*time.Second, nil)
	if err != nil {
		h.t.Errorf("delete the test's rows: %v", err)
		return
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `DELETE FROM lifeboat.failover_check WHERE epoch BETWEEN $1 AND $1 + 100`, marker); err != nil {
		h.t.Errorf("delete the test's rows: %v", err)
	}
}

// takeRole moves the dev cluster's routing record, when one exists, away
// from its primary, as a failover's fence does, so that the node guards of
// the workers (which watch it) do not fence the node the test promotes. It
// returns the new epoch, or 0 when there is no record.
func (h *haStack) takeRole(ctx context.Context, from string) int64 {
	h.t.Helper()
	cur, err := h.routing.ReadRouting(ctx, schemas.ReadRoutingInput{Cluster: h.topo.Cluster})
	if err != nil {
		h.t.Fatal(err)
	}
	if !cur.Found {
		return 0
	}
	res, err := h.routing.BumpEpoch(ctx, schemas.BumpEpochInput{Cluster: h.topo.Cluster, Epoch: cur.Record.Epoch, Failed: from})
	if err != nil {
		h.t.Fatal(err)
	}
	return res.Record.Epoch
}

// giveRole publishes the primary at the epoch takeRole returned.
func (h *haStack) giveRole(ctx context.Context, epoch int64, primary string) {
	h.t.Helper()
	if epoch == 0 {
		return
	}
	if _, err := h.routing.PublishPrimary(ctx, schemas.PublishPrimaryInput{Cluster: h.topo.Cluster, Epoch: epoch, Primary: primary}); err != nil {
		h.t.Fatal(err)
	}
}
