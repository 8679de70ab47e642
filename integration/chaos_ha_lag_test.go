package integration

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/internal/failbench"
	"github.com/runnerhub/lifeboat/internal/pgctl"
	"github.com/runnerhub/lifeboat/schemas"
)

// TestChaosLaggingReplica leaves pg-b1 the only replica (pg-a2 stopped,
// pg-a1's commits made asynchronous) and makes it fall behind: pg-a1's
// WAL sender for it is stopped (SIGSTOP) while pg-a1 writes well past the
// allowed lag. Then pg-a1's postmaster is killed, and its stopped sender
// keeps it from starting again, as a host that does not come back. The
// monitor's Failover must refuse to promote pg-b1 and the monitor must
// escalate (a failover_failed alert); `lifeboat failover --force` then
// promotes pg-b1 and prints the loss it estimated, which must cover the WAL
// pg-b1 never received.
func TestChaosLaggingReplica(t *testing.T) {
	row := chaosRow{Scenario: "lagging replica, forced failover"}
	recordChaos(t, &row)
	h := newHA(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	c := temporalClient(t)
	// The monitor refuses and escalates; on a fresh stack it is started here.
	if err := failbench.EnsureMonitor(ctx, c, h.topo.Cluster); err != nil {
		t.Fatal(err)
	}
	h.takeStack()
	maxLag := h.topo.Targets.MaxLag()

	// pg-b1 the only replica; pg-a1 commits without waiting for a standby.
	a1 := h.conn(ctx, pgA1)
	for _, q := range []string{"ALTER SYSTEM SET synchronous_standby_names = ''", "SELECT pg_reload_conf()"} {
		if _, err := a1.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	a2 := pgctl.Dir{Path: h.node(pgA2).DataDir, Bin: devstack.PostgresBinDir}
	if err := a2.Stop(ctx, pgctl.StopFast); err != nil {
		t.Fatal(err)
	}
	// pg-b1 stops receiving: its WAL sender on pg-a1 is frozen.
	var sender int
	if err := a1.QueryRow(ctx, `SELECT pid FROM pg_stat_replication WHERE application_name = $1`, pgB1).Scan(&sender); err != nil {
		t.Fatalf("pg-b1's WAL sender on pg-a1: %v", err)
	}
	if err := syscall.Kill(sender, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(sender, syscall.SIGKILL) }) // before the stack is put back
	t.Logf("stopped pg-a1's WAL sender to pg-b1 (pid %d)", sender)
	// Rows are tagged with this run: the table keeps earlier runs' rows,
	// which pg-b1 may hold too.
	runTag := time.Now().UnixNano()
	if _, err := a1.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS lifeboat; CREATE TABLE IF NOT EXISTS lifeboat.chaos_lag (id int, at timestamptz DEFAULT now());
		ALTER TABLE lifeboat.chaos_lag ADD COLUMN IF NOT EXISTS run bigint`); err != nil {
		t.Fatal(err)
	}
	// Acknowledged rows pg-b1 will not have, and segments past the budget.
	acked := 0
	for i := range 3 + int(maxLag/(16<<20)) {
		if _, err := a1.Exec(ctx, `INSERT INTO lifeboat.chaos_lag (run, id) VALUES ($1, $2)`, runTag, i); err != nil {
			t.Fatal(err)
		}
		acked++
		if _, err := a1.Exec(ctx, `SELECT pg_switch_wal()`); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a1.Exec(ctx, `INSERT INTO lifeboat.chaos_lag (run, id) VALUES ($1, -1)`, runTag); err != nil {
		t.Fatal(err)
	}
	acked++
	var primaryLSN, receivedLSN string
	if err := a1.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&primaryLSN); err != nil {
		t.Fatal(err)
	}
	if err := h.conn(ctx, pgB1).QueryRow(ctx, `SELECT pg_last_wal_receive_lsn()::text`).Scan(&receivedLSN); err != nil {
		t.Fatal(err)
	}
	behind := lsnDiff(t, primaryLSN, receivedLSN)
	t.Logf("pg-a1 at %s, pg-b1 received %s: %d bytes behind, allowed %d", primaryLSN, receivedLSN, behind, maxLag)
	if behind <= maxLag {
		t.Fatalf("pg-b1 is only %d bytes behind, not past the allowed %d", behind, maxLag)
	}
	time.Sleep(2 * time.Second) // a probe sees pg-a1's last position

	alertsBefore := alertCount(ctx, t, "failover_failed")
	epoch := h.routingEpoch(ctx)
	h.kill(pgA1)
	killed := time.Now()
	h.signalMonitor(ctx, c, schemas.SignalResume)

	// The monitor's failover refuses pg-b1.
	id := schemas.FailoverWorkflowID(h.topo.Cluster, epoch)
	ferr := waitWorkflowEnd(ctx, t, c, id, killed, 2*time.Minute)
	refused := time.Since(killed)
	if ferr == nil || !strings.Contains(ferr.Error(), pgB1) || !strings.Contains(ferr.Error(), "behind") {
		t.Fatalf("the monitor's failover %s ended with %v; want a refusal naming %s too far behind", id, ferr, pgB1)
	}
	t.Logf("failover %s refused after %s: %v", id, refused.Round(time.Millisecond), ferr)
	var alerts float64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if alerts = alertCount(ctx, t, "failover_failed"); alerts > alertsBefore {
			break
		}
	}
	if alerts <= alertsBefore {
		t.Errorf("lifeboat_alerts_total{kind=\"failover_failed\"} stayed at %v: the monitor did not escalate", alertsBefore)
	}
	st := h.monitorStatus(ctx, c)
	t.Logf("monitor after the refusal: %s, primary %s, problems %v", st.Status, st.Primary, st.Problems)
	if st.Status == schemas.ClusterHealthy || len(st.Problems) == 0 {
		t.Errorf("monitor status %s with problems %v after a refused failover; want it to show the failed primary", st.Status, st.Problems)
	}
	// The operator takes over: no more automatic attempts.
	h.signalMonitor(ctx, c, schemas.SignalPause)

	// Forced: pg-b1 is promoted. Its commits wait for a standby, so once it
	// is primary pg-a2 comes back as its replica.
	type cli struct {
		out, errOut string
		err         error
	}
	done := make(chan cli, 1)
	go func() {
		o, e, err := lifeboat(t, "failover", h.topo.Cluster, "--force")
		done <- cli{o, e, err}
	}()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		if s := h.state(ctx, pgB1); s.Reachable && !s.InRecovery {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pg-b1 was not promoted within 2 minutes of `lifeboat failover --force`")
		}
	}
	if _, err := h.on(pgA2).RejoinNode(ctx, schemas.RejoinNodeInput{Cluster: h.topo.Cluster, Node: pgA2, Primary: pgB1}); err != nil {
		t.Fatal(err)
	}
	var out cli
	select {
	case out = <-done:
	case <-ctx.Done():
		t.Fatal("`lifeboat failover --force` did not end")
	}
	t.Logf("lifeboat failover --force:\n%s%s", out.out, out.errOut)
	if out.err != nil {
		t.Fatalf("lifeboat failover --force: %v", out.err)
	}
	m := regexp.MustCompile(`promoted (\S+) .* estimated loss (\d+) bytes`).FindStringSubmatch(out.out)
	if m == nil || m[1] != pgB1 {
		t.Fatalf("the CLI did not report pg-b1 promoted with a loss estimate")
	}
	estimate, _ := strconv.ParseInt(m[2], 10, 64)
	var kept int
	// A table or column pg-b1 never received holds none of them.
	if err := h.conn(ctx, pgB1).QueryRow(ctx, `SELECT count(*) FROM lifeboat.chaos_lag WHERE run = $1`, runTag).Scan(&kept); err != nil && !strings.Contains(err.Error(), "does not exist") {
		t.Fatal(err)
	}
	// The estimate runs from pg-a1's last position a probe saw, a little
	// past the one read above, to what pg-b1 had received when it was
	// chosen. pg-b1 may have caught up by then: the refused failover gives
	// the role back and restarts pg-a1 once its fence has killed every
	// process of its data directory, the stopped WAL sender included. Then
	// nothing is lost, and the estimate may say so; it must never say less
	// than what was lost.
	switch {
	case estimate > behind+1<<20:
		t.Errorf("estimated loss %d bytes; want at most what pg-b1 lacked when it was read, %d, and 1 MiB more", estimate, behind)
	case kept < acked && estimate < behind:
		t.Errorf("estimated loss %d bytes with %d of %d acknowledged rows lost; want at least what pg-b1 lacked when it was read, %d", estimate, acked-kept, acked, behind)
	}
	row.LostWrites = acked - kept
	row.Recovered = time.Since(killed)
	row.Detail = fmt.Sprintf("only replica %d MiB behind (allowed %d MiB): refused in %s, failover_failed alert; --force promoted it, estimated loss %d bytes; forced, no standby: %d of %d rows lost",
		behind>>20, maxLag>>20, refused.Round(100*time.Millisecond), estimate, acked-kept, acked)
}

// lsnDiff returns a - b in bytes.
func lsnDiff(t *testing.T, a, b string) int64 {
	t.Helper()
	la, err := schemas.ParseLSN(a)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := schemas.ParseLSN(b)
	if err != nil {
		t.Fatal(err)
	}
	return int64(la) - int64(lb)
}

// routingEpoch returns the epoch of the cluster's routing record.
func (h *haStack) routingEpoch(ctx context.Context) int64 {
	h.t.Helper()
	rec, err := h.routing.ReadRouting(ctx, schemas.ReadRoutingInput{Cluster: h.topo.Cluster})
	if err != nil || !rec.Found {
		h.t.Fatalf("routing record of %s: %+v, %v", h.topo.Cluster, rec, err)
	}
	return rec.Record.Epoch
}

// signalMonitor pauses or resumes the cluster's monitor under the test's
// own pause (the one takeStack holds).
func (h *haStack) signalMonitor(ctx context.Context, c client.Client, signal string) {
	h.t.Helper()
	req := schemas.PauseRequest{Owner: "integration-" + h.t.Name(), Reason: "the test changes PostgreSQL roles itself"}
	if err := c.SignalWorkflow(ctx, schemas.MonitorWorkflowID(h.topo.Cluster), "", signal, req); err != nil {
		h.t.Fatalf("%s the monitor: %v", signal, err)
	}
}

func (h *haStack) monitorStatus(ctx context.Context, c client.Client) schemas.MonitorState {
	h.t.Helper()
	var st schemas.MonitorState
	v, err := c.QueryWorkflow(ctx, schemas.MonitorWorkflowID(h.topo.Cluster), "", schemas.QueryStatus)
	if err == nil {
		err = v.Get(&st)
	}
	if err != nil {
		h.t.Fatalf("query the monitor: %v", err)
	}
	return st
}

// waitWorkflowEnd waits for a run of the workflow id started after since
// to exist and end, and returns how it ended. An ID may have runs of
// earlier tests: a failed failover's ID is used again.
func waitWorkflowEnd(ctx context.Context, t *testing.T, c client.Client, id string, since time.Time, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if d, err := c.DescribeWorkflowExecution(ctx, id, ""); err == nil && !d.GetWorkflowExecutionInfo().GetStartTime().AsTime().Before(since) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no workflow %s within %s", id, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	err := c.GetWorkflow(ctx, id, "").Get(ctx, nil)
	if ctx.Err() != nil {
		t.Fatalf("workflow %s did not end within %s", id, timeout)
	}
	return err
}

// alertCount sums lifeboat_alerts_total of kind over the stack's workers.
func alertCount(ctx context.Context, t *testing.T, kind string) float64 {
	t.Helper()
	var sum float64
	for _, port := range []int{devstack.WorkerAPort, devstack.WorkerBPort} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d/metrics", devstack.Host, port), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("metrics of the worker on port %d: %v", port, err)
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "lifeboat_alerts_total{") && strings.Contains(line, `kind="`+kind+`"`) {
				f := strings.Fields(line)
				v, _ := strconv.ParseFloat(f[len(f)-1], 64)
				sum += v
			}
		}
		resp.Body.Close()
	}
	return sum
}
