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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap/zaptest"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/internal/pgos"
	"github.com/runnerhub/lifeboat/schemas"
)

// requireAppError fails the test unless err is a non-retryable application
// error of type typ whose message holds every part.
func requireAppError(t *testing.T, err error, typ string, parts ...string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != typ || !appErr.NonRetryable() {
		t.Fatalf("error = %v, want a non-retryable %s", err, typ)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}

// TestHA_RoutingRecordMovesOnlyByCompareAndSetOnItsEpoch drives the routing
// record of a cluster of its own through a failover's life in the real
// Redis master (found through the sentinels): created once at epoch 1, the
// epoch bumped once however often the bump is repeated, the new primary
// published at the new epoch only, and every stale step refused.
func TestHA_RoutingRecordMovesOnlyByCompareAndSetOnItsEpoch(t *testing.T) {
	h := newHA(t)
	topo := h.testTopology("hatest-routing")
	r := &ha.Routing{Topology: topo, Clients: h.clients, Logger: zaptest.NewLogger(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := topo.Cluster

	if got, err := r.ReadRouting(ctx, schemas.ReadRoutingInput{Cluster: c}); err != nil || got.Found {
		t.Fatalf("ReadRouting of a new cluster = %+v, %v; want not found", got, err)
	}
	initRes := timed(t, "InitRouting pg-a1", func() (schemas.InitRoutingResult, error) {
		return r.InitRouting(ctx, schemas.InitRoutingInput{Cluster: c, Primary: pgA1})
	})
	if !initRes.Created || initRes.Record.Epoch != 1 || initRes.Record.Primary != pgA1 || initRes.Record.Addr != "127.0.0.1:15432" {
		t.Errorf("InitRouting = %+v", initRes)
	}
	if again, err := r.InitRouting(ctx, schemas.InitRoutingInput{Cluster: c, Primary: pgA2}); err != nil || again.Created || again.Record.Primary != pgA1 {
		t.Errorf("second InitRouting naming pg-a2 = %+v, %v; want the existing record naming pg-a1", again, err)
	}
	read, err := r.ReadRouting(ctx, schemas.ReadRoutingInput{Cluster: c})
	if err != nil || !read.Found || read.Record != initRes.Record {
		t.Fatalf("ReadRouting = %+v, %v; want %+v", read, err, initRes.Record)
	}
	if lease := topo.Failover.LeaseOrDefault(); read.LeaseRemaining <= 0 || read.LeaseRemaining > lease {
		t.Errorf("lease remaining %s, want in (0, %s]", read.LeaseRemaining, lease)
	}

	bump := timed(t, "BumpEpoch 1 -> 2", func() (schemas.BumpEpochResult, error) {
		return r.BumpEpoch(ctx, schemas.BumpEpochInput{Cluster: c, Epoch: 1, Failed: pgA1})
	})
	if got := bump.Record; got.Epoch != 2 || got.Primary != "" || got.Addr != "" || got.Fenced != pgA1 {
		t.Errorf("bumped record = %+v, want epoch 2, no primary, fenced pg-a1", got)
	}
	if again, err := r.BumpEpoch(ctx, schemas.BumpEpochInput{Cluster: c, Epoch: 1, Failed: pgA1}); err != nil || again.Record != bump.Record {
		t.Errorf("repeated BumpEpoch = %+v, %v; want the same record %+v", again, err, bump.Record)
	}
	if read, _ := r.ReadRouting(ctx, schemas.ReadRoutingInput{Cluster: c}); read.LeaseRemaining != 0 {
		t.Errorf("the fenced primary's lease still runs: %s", read.LeaseRemaining)
	}
	_, err = r.BumpEpoch(ctx, schemas.BumpEpochInput{Cluster: c, Epoch: 1, Failed: pgA2})
	requireAppError(t, err, schemas.ErrEpochMoved, "epoch 2, not 1")
	_, err = r.PublishPrimary(ctx, schemas.PublishPrimaryInput{Cluster: c, Epoch: 1, Primary: pgA2})
	requireAppError(t, err, schemas.ErrEpochMoved, "epoch 2, not 1")

	pub := timed(t, "PublishPrimary pg-a2 at 2", func() (schemas.PublishPrimaryResult, error) {
		return r.PublishPrimary(ctx, schemas.PublishPrimaryInput{Cluster: c, Epoch: 2, Primary: pgA2})
	})
	if got := pub.Record; got.Epoch != 2 || got.Primary != pgA2 || got.Addr != "127.0.0.1:15433" || got.Fenced != pgA1 {
		t.Errorf("published record = %+v", got)
	}
	if again, err := r.PublishPrimary(ctx, schemas.PublishPrimaryInput{Cluster: c, Epoch: 2, Primary: pgA2}); err != nil || again.Record != pub.Record {
		t.Errorf("repeated PublishPrimary = %+v, %v; want the same record", again, err)
	}
	_, err = r.PublishPrimary(ctx, schemas.PublishPrimaryInput{Cluster: c, Epoch: 2, Primary: pgB1})
	requireAppError(t, err, schemas.ErrEpochMoved, "pg-a2 was published")
	if read, _ := r.ReadRouting(ctx, schemas.ReadRoutingInput{Cluster: c}); read.Record != pub.Record || read.LeaseRemaining <= 0 {
		t.Errorf("ReadRouting after publishing = %+v, want %+v with a lease", read, pub.Record)
	}

	// Racing bumps: one wins; a loser naming the same failed node gets the
	// winner's record, the others ErrEpochMoved.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	recs := make([]schemas.RoutingRecord, 8)
	failed := func(i int) string { return []string{pgA2, pgB1}[i%2] }
	for i := range errs {
		wg.Go(func() {
			res, err := r.BumpEpoch(ctx, schemas.BumpEpochInput{Cluster: c, Epoch: 2, Failed: failed(i)})
			recs[i], errs[i] = res.Record, err
		})
	}
	wg.Wait()
	final, _ := r.ReadRouting(ctx, schemas.ReadRoutingInput{Cluster: c})
	if final.Record.Epoch != 3 {
		t.Fatalf("after racing bumps the epoch is %d, want 3", final.Record.Epoch)
	}
	for i, err := range errs {
		switch sameFailed := failed(i) == final.Record.Fenced; {
		case sameFailed && (err != nil || recs[i] != final.Record):
			t.Errorf("bump %d naming the winner's node = %+v, %v; want the record %+v", i, recs[i], err, final.Record)
		case !sameFailed:
			requireAppError(t, err, schemas.ErrEpochMoved, "epoch 3, not 2")
		}
	}

	_, err = r.ReadRouting(ctx, schemas.ReadRoutingInput{Cluster: "no-such-cluster"})
	requireAppError(t, err, schemas.ErrUnknownCluster, "no-such-cluster")
}

// TestHA_HistoryKeepsEachEventOnceNewestFirst records events in the real
// routing store: a retried RecordEvent stores nothing twice, the list is
// newest first and trimmed to 1000, and the metrics count each event once.
func TestHA_HistoryKeepsEachEventOnceNewestFirst(t *testing.T) {
	h := newHA(t)
	topo := h.testTopology("hatest-history")
	m := activities.NewMetrics(prometheus.NewRegistry())
	r := &ha.Routing{Topology: topo, Clients: h.clients, Logger: zaptest.NewLogger(t), Metrics: m}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := topo.Cluster
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	failover := schemas.HAEvent{Cluster: c, Kind: schemas.EventFailover, WorkflowID: schemas.FailoverWorkflowID(c, 1),
		From: pgA1, To: pgA2, Epoch: 2, Outcome: "succeeded", Started: t0, Finished: t0.Add(3 * time.Second),
		Steps: []schemas.Step{{Name: "promote", Seconds: 0.4}}, Took: 3 * time.Second}
	rejoin := schemas.HAEvent{Cluster: c, Kind: schemas.EventRejoin, From: pgA1, To: pgA2, Epoch: 2, Outcome: "succeeded",
		Started: t0.Add(time.Minute), Finished: t0.Add(time.Minute + 2*time.Second), Took: 2 * time.Second}
	for _, e := range []schemas.HAEvent{failover, rejoin, rejoin} {
		if _, err := r.RecordEvent(ctx, schemas.RecordEventInput{Event: e}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := r.ListHistory(ctx, schemas.ListHistoryInput{Cluster: c})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != 2 || got.Events[0].Kind != schemas.EventRejoin || got.Events[1].Kind != schemas.EventFailover {
		t.Fatalf("history = %+v, want the rejoin then the failover, once each", got.Events)
	}
	if g := got.Events[1]; g.WorkflowID != failover.WorkflowID || !g.Started.Equal(t0) || len(g.Steps) != 1 || g.Took != 3*time.Second {
		t.Errorf("stored failover = %+v, want %+v", g, failover)
	}
	if n := testutil.ToFloat64(m.HAEvents.WithLabelValues(c, schemas.EventRejoin, "succeeded")); n != 1 {
		t.Errorf("rejoins counted %v, want 1", n)
	}
	if one, _ := r.ListHistory(ctx, schemas.ListHistoryInput{Cluster: c, Limit: 1}); len(one.Events) != 1 || one.Events[0].Kind != schemas.EventRejoin {
		t.Errorf("history limited to 1 = %+v, want the rejoin", one.Events)
	}

	for i := range 1005 {
		e := schemas.HAEvent{Cluster: c, Kind: schemas.EventSwitchover, Epoch: int64(10 + i), Outcome: "succeeded"}
		if _, err := r.RecordEvent(ctx, schemas.RecordEventInput{Event: e}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := r.ListHistory(ctx, schemas.ListHistoryInput{Cluster: c, Limit: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Events) != 1000 || all.Events[0].Epoch != 1014 {
		t.Errorf("history holds %d events, newest epoch %d; want 1000, newest 1014", len(all.Events), all.Events[0].Epoch)
	}
}

// TestHA_PublishPrimaryRepointsAndReloadsPgBouncer starts Debian's
// pgbouncer in front of pg-a1 and publishes pg-a2 as the primary of a
// cluster of its own: pgbouncer's databases file is rewritten, it reloads,
// and a new client connection through it lands on pg-a2, while the file's
// other entry is left as it was.
func TestHA_PublishPrimaryRepointsAndReloadsPgBouncer(t *testing.T) {
	h := newHA(t)
	topo := h.testTopology("hatest-pgbouncer")
	pgb := startPgBouncer(t, "app", h.port(pgA1))
	topo.Failover.PgBouncer = []schemas.PgBouncer{{
		Name: "pgbouncer-test", Region: devstack.RegionA, DatabasesFile: pgb.databases, Database: "app",
		AdminDSN: fmt.Sprintf("postgres://%s@127.0.0.1:%d/pgbouncer?sslmode=disable", devstack.PGUser, pgb.port),
		Password: &schemas.Secret{Env: devstack.EnvPGPassword},
	}}
	r := &ha.Routing{Topology: topo, Clients: h.clients, Logger: zaptest.NewLogger(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if port := pgb.serverPort(t, ctx); port != h.port(pgA1) {
		t.Fatalf("before the publish pgbouncer reaches port %d, want pg-a1's %d", port, h.port(pgA1))
	}
	if _, err := r.InitRouting(ctx, schemas.InitRoutingInput{Cluster: topo.Cluster, Primary: pgA1}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.BumpEpoch(ctx, schemas.BumpEpochInput{Cluster: topo.Cluster, Epoch: 1, Failed: pgA1}); err != nil {
		t.Fatal(err)
	}
	pub := timed(t, "PublishPrimary pg-a2 with pgbouncer", func() (schemas.PublishPrimaryResult, error) {
		return r.PublishPrimary(ctx, schemas.PublishPrimaryInput{Cluster: topo.Cluster, Epoch: 2, Primary: pgA2})
	})
	if !pub.PgBouncerReloaded {
		t.Error("PublishPrimary did not report pgbouncer reloaded")
	}
	if port := pgb.serverPort(t, ctx); port != h.port(pgA2) {
		t.Errorf("after the publish a new connection through pgbouncer reaches port %d, want pg-a2's %d", port, h.port(pgA2))
	}
	text, err := os.ReadFile(pgb.databases)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), pgb.otherEntry) || !strings.Contains(string(text), "app = dbname=postgres host=127.0.0.1 port=15433") {
		t.Errorf("databases file after the publish:\n%s", text)
	}
	if again, err := r.PublishPrimary(ctx, schemas.PublishPrimaryInput{Cluster: topo.Cluster, Epoch: 2, Primary: pgA2}); err != nil || !again.PgBouncerReloaded {
		t.Errorf("repeated PublishPrimary = %+v, %v", again, err)
	}
}

// pgbouncer is a pgbouncer the test started.
type pgbouncer struct {
	port       int
	databases  string
	otherEntry string
}

// startPgBouncer runs pgbouncer (as the PostgreSQL user: it refuses root)
// on a free loopback port, its database db pointing at the node on
// pgPort, until the test ends.
func startPgBouncer(t *testing.T, db string, pgPort int) *pgbouncer {
	t.Helper()
	exe, err := exec.LookPath("pgbouncer")
	if err != nil {
		exe, err = exec.LookPath("/usr/sbin/pgbouncer")
	}
	if err != nil {
		t.Fatal("pgbouncer is not installed: apt-get install -y pgbouncer (scripts/deps.sh installs it)")
	}
	u, err := pgos.PostgresUser()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "lifeboat-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p := &pgbouncer{port: port, databases: filepath.Join(dir, "databases.ini"),
		otherEntry: fmt.Sprintf("other = host=127.0.0.1 port=%d dbname=postgres", pgPort)}
	pw := envValue(stack.Env(), devstack.EnvPGPassword)
	files := map[string]string{
		"databases.ini": fmt.Sprintf("[databases]\n%s = host=127.0.0.1 port=%d dbname=postgres\n%s\n", db, pgPort, p.otherEntry),
		"userlist.txt":  fmt.Sprintf("%q %q\n", devstack.PGUser, pw),
		"pgbouncer.ini": fmt.Sprintf(`[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = scram-sha-256
auth_file = %[2]s/userlist.txt
admin_users = %[3]s
pool_mode = session
logfile = %[2]s/pgbouncer.log
pidfile = %[2]s/pgbouncer.pid
%%include %[2]s/databases.ini
`, port, dir, devstack.PGUser),
	}
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := u.Chown(path); err != nil {
			t.Fatal(err)
		}
	}
	if err := u.Chown(dir); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, filepath.Join(dir, "pgbouncer.ini"))
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.Cred}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return p
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			t.Fatalf("pgbouncer exited: %v\n%s%s", err, out.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgbouncer does not listen on %d: %v\n%s", port, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serverPort connects through pgbouncer afresh and asks which server
// answered.
func (p *pgbouncer) serverPort(t *testing.T, ctx context.Context) int {
	t.Helper()
	url := fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/app?sslmode=disable", devstack.PGUser,
		envValue(stack.Env(), devstack.EnvPGPassword), p.port)
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect through pgbouncer: %v", err)
	}
	defer c.Close(ctx)
	var port int
	if err := c.QueryRow(ctx, `SELECT inet_server_port()`).Scan(&port); err != nil {
		t.Fatalf("query through pgbouncer: %v", err)
	}
	return port
}
