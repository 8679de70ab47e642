package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/internal/guard"
	"github.com/runnerhub/lifeboat/internal/keepalive"
	"github.com/runnerhub/lifeboat/internal/pgctl"
	"github.com/runnerhub/lifeboat/internal/pgos"
	"github.com/runnerhub/lifeboat/policy"
	"github.com/runnerhub/lifeboat/schemas"
	"github.com/runnerhub/lifeboat/workflows"
)

// The partition scenario's hosts: the old primary's, the standby's, and
// this process, which is the control plane (routing store, Temporal,
// region-b's worker).
const (
	nsOld     = "lbchaos-old"
	nsNew     = "lbchaos-new"
	partOld   = "part-old" // the primary the partition cuts off, region-a
	partNew   = "part-new" // its synchronous standby, region-b
	chaosNS   = "lifeboat-chaos"
	partLease = 5 * time.Second
)

// Addresses: control plane to old 10.213.1.0/30, control plane to new
// 10.213.2.0/30, old to new (replication) 10.213.3.0/30.
const (
	ctlToOld, oldFromCtl = "10.213.1.1", "10.213.1.2"
	ctlToNew, newFromCtl = "10.213.2.1", "10.213.2.2"
	oldToNew, newFromOld = "10.213.3.1", "10.213.3.2"
)

// TestChaosNetworkPartition cuts a primary off from the control plane and
// from its synchronous standby, each in a network namespace of its own,
// while two clients in the primary's namespace write to it: one whose
// commits wait for the standby, one whose commits do not (synchronous_commit
// = local). The primary's node guard, which reaches the routing store only
// through its namespace, loses its lease; a Failover run by a worker of the
// standby's region (the old primary's region has none: it is cut off too)
// waits out the lease and promotes the standby. The checker: no write the
// old primary acknowledged after the new one's promotion started (no split
// brain), the old primary stopped acknowledging within its lease, and no
// write acknowledged with the synchronous standby lost.
func TestChaosNetworkPartition(t *testing.T) {
	row := chaosRow{Scenario: "network partition of the primary"}
	recordChaos(t, &row)
	requireNetns(t)
	h := newHA(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	addNetns(t, nsOld)
	addNetns(t, nsNew)
	link(t, "", "lbc-ctl-old", ctlToOld+"/30", nsOld, "lbc-old-ctl", oldFromCtl+"/30")
	link(t, "", "lbc-ctl-new", ctlToNew+"/30", nsNew, "lbc-new-ctl", newFromCtl+"/30")
	link(t, nsOld, "lbc-old-new", oldToNew+"/30", nsNew, "lbc-new-old", newFromOld+"/30")

	set := newScratchSet(t)
	set.initPrimary(ctx)
	set.start(ctx, nsOld, set.oldDir)
	set.cloneStandby(ctx)
	set.start(ctx, nsNew, set.newDir)
	old := set.conn(ctx, "", oldFromCtl)
	for _, q := range []string{
		`ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 ("` + partNew + `")'`, `SELECT pg_reload_conf()`,
		`CREATE TABLE chaos_writes (writer text, seq int, PRIMARY KEY (writer, seq))`,
	} {
		if _, err := old.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	waitFor(t, 30*time.Second, partNew+" synchronous", func() bool {
		var state string
		_ = old.QueryRow(ctx, `SELECT coalesce((SELECT sync_state FROM pg_stat_replication WHERE application_name = $1), '')`, partNew).Scan(&state)
		return policy.Synchronous(state)
	})

	// The scratch cluster: the stack's topology (routing store, secrets)
	// with the two scratch nodes, and a short lease.
	topo := h.testTopology("chaos-part")
	topo.Failover.Lease = schemas.Duration(partLease)
	topo.Drill = nil
	// The scratch servers come from initdb, without the stack's monitor
	// role: the probes log in as the DSN's role, as without monitor.postgres.
	topo.Monitor.Postgres = nil
	for i := range topo.Regions {
		r := &topo.Regions[i]
		switch r.Name {
		case devstack.RegionA:
			r.Postgres = []schemas.PostgresNode{{Name: partOld, DSN: scratchDSN(oldFromCtl), Password: r.Postgres[0].Password, Priority: 100}}
		case devstack.RegionB:
			r.Postgres = []schemas.PostgresNode{{Name: partNew, DSN: scratchDSN(newFromCtl), Password: r.Postgres[0].Password, Priority: 100,
				DataDir: set.newDir, LogFile: set.newDir + ".log"}}
		}
	}
	if err := topo.Validate(); err != nil {
		t.Fatalf("scratch topology: %v", err)
	}
	clients := &activities.Clients{Topology: topo, Secrets: stackSecrets()}
	t.Cleanup(clients.Close)
	routing := &ha.Routing{Topology: topo, Clients: clients, Logger: zaptest.NewLogger(t)}
	if _, err := routing.InitRouting(ctx, schemas.InitRoutingInput{Cluster: topo.Cluster, Primary: partOld}); err != nil {
		t.Fatal(err)
	}
	startPartitionWorker(ctx, t, topo, clients)

	// The old primary's guard reaches the routing store from the old
	// primary's namespace, through a forwarder on the control plane.
	master, err := clients.RoutingStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fwd := startProxyOn(t, ctlToOld+":0", master.Options().Addr).addr()
	viaOld := redis.NewClient(&redis.Options{Addr: fwd, Dialer: dialIn(nsOld), DialTimeout: 300 * time.Millisecond,
		ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond, MaxRetries: -1, PoolSize: 2,
		DisableIdentity: true, MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
	t.Cleanup(func() { viaOld.Close() })
	counters := &guardCounters{}
	g := &guard.Guard{
		Cluster: topo.Cluster, Node: partOld, Lease: partLease, Store: fixedStore{viaOld},
		Local: guard.LocalNode{
			Dir:      pgctl.Dir{Path: set.oldDir, Bin: devstack.PostgresBinDir},
			Connect:  func(ctx context.Context) (*pgx.Conn, error) { return set.connect(ctx, nsOld, "127.0.0.1") },
			StopWait: partLease / 10,
		},
		Logger: zaptest.NewLogger(t), Counters: counters,
	}
	gctx, stopGuard := context.WithCancel(ctx)
	guardDone := make(chan struct{})
	go func() { g.Run(gctx); close(guardDone) }()
	t.Cleanup(func() { stopGuard(); <-guardDone })

	// Two clients in the old primary's namespace.
	syncW := startNetnsWriter(ctx, t, set, "sync", false)
	asyncW := startNetnsWriter(ctx, t, set, "async", true)
	waitFor(t, 10*time.Second, "renewals and writes", func() bool {
		return counters.renewals() >= 2 && syncW.acked() > 10 && asyncW.acked() > 10
	})
	var lastLSN string
	if err := old.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lastLSN); err != nil {
		t.Fatal(err)
	}
	epoch := routingEpochOf(ctx, t, routing, topo.Cluster)

	// The partition: the old primary's host keeps only its loopback.
	lastRenewal := counters.lastRenewal()
	netnsCmd(t, nsOld, "ip", "link", "set", "lbc-old-ctl", "down")
	netnsCmd(t, nsOld, "ip", "link", "set", "lbc-old-new", "down")
	cut := time.Now()
	t.Logf("partitioned %s at %s (last renewal %s before)", partOld, cut.Format(time.RFC3339Nano), cut.Sub(lastRenewal).Round(time.Millisecond))

	c := chaosClient(t)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: schemas.FailoverWorkflowID(topo.Cluster, epoch), TaskQueue: schemas.GlobalTaskQueue,
		WorkflowTaskTimeout: schemas.FailoverTaskTimeout},
		schemas.FailoverWorkflow, schemas.FailoverInput{
			Cluster: topo.Cluster, Failed: partOld, Epoch: epoch, LastPrimaryLSN: lastLSN, Synchronous: []string{partNew},
			ConfirmedBy: []string{devstack.RegionB}, Reason: "reliability suite: network partition",
		})
	if err != nil {
		t.Fatal(err)
	}
	var res schemas.FailoverResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("failover of the partitioned primary: %v", err)
	}
	promoteAt := scheduledAt(ctx, t, c, run, "Promote")
	t.Logf("failover: promoted %s at epoch %d in %s (fenced: %s); Promote scheduled %s after the cut",
		res.Promoted, res.Epoch, res.Took.Round(time.Millisecond), res.Fenced, promoteAt.Sub(cut).Round(time.Millisecond))
	if res.Promoted != partNew || res.Epoch != epoch+1 {
		t.Errorf("failover = %+v, want %s promoted at epoch %d", res, partNew, epoch+1)
	}
	time.Sleep(time.Second) // a write in flight lands or fails
	syncW.stop()
	asyncW.stop()

	// The checker.
	fencedAt := counters.fencedAt()
	if fencedAt.IsZero() {
		t.Errorf("the old primary's guard did not fence it")
	}
	newConn := set.conn(ctx, "", newFromCtl)
	lastAck := time.Time{}
	lost := map[string]int{}
	for _, w := range []*netnsWriter{syncW, asyncW} {
		acks := w.acks()
		var late []int
		for _, a := range acks {
			if a.at.After(lastAck) {
				lastAck = a.at
			}
			if !a.at.Before(promoteAt) {
				late = append(late, a.seq)
			}
		}
		if len(late) > 0 {
			t.Errorf("split brain: %s writes %v acknowledged by the old primary after the new one's promotion began", w.name, late)
		}
		present := map[int]bool{}
		rows, err := newConn.Query(ctx, `SELECT seq FROM chaos_writes WHERE writer = $1`, w.name)
		if err != nil {
			t.Fatal(err)
		}
		seqs, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range seqs {
			present[s] = true
		}
		for _, a := range acks {
			if !present[a.seq] {
				lost[w.name]++
			}
		}
		t.Logf("%s writer: %d acknowledged, last %s after the cut, %d missing on %s", w.name, len(acks), w.lastAck().Sub(cut).Round(time.Millisecond), lost[w.name], partNew)
	}
	if lost["sync"] != 0 {
		t.Errorf("%d writes acknowledged with the synchronous standby are missing on the new primary", lost["sync"])
	}
	if d := lastAck.Sub(lastRenewal); d >= partLease {
		t.Errorf("the old primary acknowledged a write %s after its last renewal, past its %s lease", d, partLease)
	}
	row.LostWrites = lost["sync"]
	row.Recovered = promoteAt.Sub(cut)
	row.Detail = fmt.Sprintf("old primary fenced by its guard %s after its last renewal (lease %s), last acknowledgement %s after it, new primary's promotion began %s after the cut; no acknowledgement after it; asynchronous client lost %d of %d",
		fencedAt.Sub(lastRenewal).Round(10*time.Millisecond), partLease, lastAck.Sub(lastRenewal).Round(10*time.Millisecond),
		promoteAt.Sub(cut).Round(10*time.Millisecond), lost["async"], len(asyncW.acks()))
}

// scratchSet is a primary and a standby of the partition scenario, in a
// temporary directory the PostgreSQL user owns.
type scratchSet struct {
	t              *testing.T
	dir            string
	oldDir, newDir string
	user           pgos.User
	password       string
}

func newScratchSet(t *testing.T) *scratchSet {
	t.Helper()
	u, err := pgos.PostgresUser()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "lifeboat-chaos-part-")
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Chown(dir); err != nil {
		t.Fatal(err)
	}
	s := &scratchSet{t: t, dir: dir, oldDir: filepath.Join(dir, partOld), newDir: filepath.Join(dir, partNew), user: u,
		password: envValue(stack.Env(), devstack.EnvPGPassword)}
	t.Cleanup(func() {
		for _, d := range []string{s.oldDir, s.newDir} {
			_ = exec.Command("runuser", "-u", "postgres", "--", filepath.Join(devstack.PostgresBinDir, "pg_ctl"), "stop", "-D", d, "-m", "immediate", "-w").Run()
		}
		_ = os.RemoveAll(dir)
	})
	return s
}

// pg runs a PostgreSQL program as the PostgreSQL user, in namespace ns;
// a failure shows the end of the server log of dir, if there is one.
func (s *scratchSet) pg(ctx context.Context, ns, prog string, args ...string) {
	s.t.Helper()
	cmd := append([]string{"runuser", "-u", "postgres", "--", filepath.Join(devstack.PostgresBinDir, prog)}, args...)
	if ns != "" {
		cmd = append([]string{"ip", "netns", "exec", ns}, cmd...)
	}
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	c.Dir = s.dir
	if out, err := c.CombinedOutput(); err != nil {
		var logs []string
		for _, d := range []string{s.oldDir, s.newDir} {
			if b, err := os.ReadFile(d + ".log"); err == nil {
				logs = append(logs, d+".log:\n"+string(b[max(0, len(b)-2000):]))
			}
		}
		s.t.Fatalf("%s: %v\n%s\n%s", strings.Join(cmd, " "), err, out, strings.Join(logs, "\n"))
	}
}

// initPrimary makes the old primary: the stack's role names, trust on these
// private links, one socket directory per server.
func (s *scratchSet) initPrimary(ctx context.Context) {
	s.t.Helper()
	s.pg(ctx, "", "initdb", "-D", s.oldDir, "-U", devstack.PGUser, "--auth=trust", "--no-sync")
	conf := "listen_addresses = '*'\nport = 5432\nwal_log_hints = on\nhot_standby = on\n"
	hba := "local all all trust\nhost all all 0.0.0.0/0 trust\nhost replication all 0.0.0.0/0 trust\n"
	appendFile(s.t, filepath.Join(s.oldDir, "postgresql.auto.conf"), conf)
	appendFile(s.t, filepath.Join(s.oldDir, "pg_hba.conf"), hba)
}

func (s *scratchSet) start(ctx context.Context, ns, dir string) {
	s.t.Helper()
	// Sockets and logs outside the data directories, which
	// pg_basebackup copies.
	sock := dir + ".sock"
	if err := os.MkdirAll(sock, 0o700); err != nil {
		s.t.Fatal(err)
	}
	if err := s.user.Chown(sock); err != nil {
		s.t.Fatal(err)
	}
	s.pg(ctx, ns, "pg_ctl", "start", "-D", dir, "-l", dir+".log", "-w", "-t", "60", "-o", "-c unix_socket_directories="+sock)
	if dir == s.oldDir {
		c := s.conn(ctx, "", oldFromCtl)
		if _, err := c.Exec(ctx, "CREATE ROLE replicator LOGIN REPLICATION"); err != nil {
			s.t.Fatal(err)
		}
	}
}

// cloneStandby makes the standby from the old primary, over the link the
// two hosts share.
func (s *scratchSet) cloneStandby(ctx context.Context) {
	s.t.Helper()
	s.pg(ctx, nsNew, "pg_basebackup", "-D", s.newDir, "-X", "stream", "-R", "--no-sync",
		"-d", fmt.Sprintf("host=%s port=5432 user=replicator application_name=%s", oldToNew, partNew))
}

// connect opens a connection to a scratch server at host:5432, made in
// namespace ns ("" for this process's).
func (s *scratchSet) connect(ctx context.Context, ns, host string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=5432 user=%s dbname=postgres sslmode=disable connect_timeout=1", host, devstack.PGUser))
	if err != nil {
		return nil, err
	}
	if ns != "" {
		cfg.DialFunc = dialIn(ns)
	}
	return pgx.ConnectConfig(ctx, cfg)
}

func (s *scratchSet) conn(ctx context.Context, ns, host string) *pgx.Conn {
	s.t.Helper()
	c, err := s.connect(ctx, ns, host)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func scratchDSN(host string) string {
	return fmt.Sprintf("postgres://%s@%s:5432/postgres?sslmode=disable&connect_timeout=2", devstack.PGUser, host)
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, d)
		}
	}
}

func routingEpochOf(ctx context.Context, t *testing.T, r *ha.Routing, cluster string) int64 {
	t.Helper()
	rec, err := r.ReadRouting(ctx, schemas.ReadRoutingInput{Cluster: cluster})
	if err != nil || !rec.Found {
		t.Fatalf("routing record of %s: %+v, %v", cluster, rec, err)
	}
	return rec.Record.Epoch
}

// scheduledAt returns when the first activity of type name was scheduled
// in run (server time; the server runs on this machine).
func scheduledAt(ctx context.Context, t *testing.T, c client.Client, run client.WorkflowRun, name string) time.Time {
	t.Helper()
	for _, e := range history(ctx, t, c, run) {
		if e.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == name {
			return e.GetEventTime().AsTime()
		}
	}
	t.Fatalf("no %s in the history of %s", name, run.GetID())
	return time.Time{}
}

// netnsWriter inserts a row every 10 ms into the old primary from its own
// namespace and keeps what was acknowledged, and when.
type netnsWriter struct {
	name string
	mu   sync.Mutex
	ack  []netnsAck
	done chan struct{}
	halt context.CancelFunc
}

type netnsAck struct {
	seq int
	at  time.Time
}

func startNetnsWriter(ctx context.Context, t *testing.T, s *scratchSet, name string, async bool) *netnsWriter {
	ctx, halt := context.WithCancel(ctx)
	w := &netnsWriter{name: name, done: make(chan struct{}), halt: halt}
	t.Cleanup(w.stop)
	go func() {
		defer close(w.done)
		var conn *pgx.Conn
		defer func() {
			if conn != nil {
				conn.Close(context.Background())
			}
		}()
		for seq := 1; ctx.Err() == nil; seq++ {
			time.Sleep(10 * time.Millisecond)
			if conn == nil {
				c, err := s.connect(ctx, nsOld, "127.0.0.1")
				if err != nil {
					continue
				}
				if async {
					if _, err := c.Exec(ctx, `SET synchronous_commit = local`); err != nil {
						c.Close(context.Background())
						continue
					}
				}
				conn = c
			}
			ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err := conn.Exec(ictx, `INSERT INTO chaos_writes VALUES ($1, $2)`, name, seq)
			cancel()
			if err != nil {
				conn.Close(context.Background())
				conn = nil
				continue
			}
			w.mu.Lock()
			w.ack = append(w.ack, netnsAck{seq: seq, at: time.Now()})
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *netnsWriter) stop() { w.halt(); <-w.done }

func (w *netnsWriter) acks() []netnsAck {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]netnsAck(nil), w.ack...)
}

func (w *netnsWriter) acked() int { return len(w.acks()) }

func (w *netnsWriter) lastAck() time.Time {
	a := w.acks()
	if len(a) == 0 {
		return time.Time{}
	}
	return a[len(a)-1].at
}

// chaosClient connects to the chaos namespace of the stack's Temporal
// server, registering it (with the search attributes the workflows set)
// when it does not exist.
func chaosClient(t *testing.T) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: devstack.TemporalAddress, Namespace: chaosNS, Logger: testLogger{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// startPartitionWorker runs, in this process, the worker of the scratch
// cluster's region-b (and of the global queue) in the chaos namespace;
// region-a has none: its host is the one cut off.
func startPartitionWorker(ctx context.Context, t *testing.T, topo *schemas.Topology, clients *activities.Clients) {
	t.Helper()
	ensureChaosNamespace(ctx, t)
	c := chaosClient(t)
	logger := zaptest.NewLogger(t)
	// As the stack's workers do, heartbeat the failover's activities.
	opts := worker.Options{Interceptors: []interceptor.WorkerInterceptor{&keepalive.Interceptor{}}}
	global := worker.New(c, schemas.GlobalTaskQueue, opts)
	workflows.Register(global)
	global.RegisterActivity(&ha.Cluster{Topology: topo})
	global.RegisterActivity(&ha.Routing{Topology: topo, Clients: clients, Logger: logger})
	global.RegisterActivity(&ha.Control{Client: c})
	regional := worker.New(c, schemas.RegionTaskQueue(devstack.RegionB), opts)
	regional.RegisterActivity(&ha.Probe{Topology: topo, Region: devstack.RegionB, Clients: clients, Logger: logger})
	regional.RegisterActivity(&ha.Nodes{Topology: topo, Region: devstack.RegionB, Clients: clients, Logger: logger, PGBin: devstack.PostgresBinDir})
	for _, w := range []worker.Worker{global, regional} {
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
	}
}

func ensureChaosNamespace(ctx context.Context, t *testing.T) {
	t.Helper()
	c := temporalClient(t)
	_, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: chaosNS, Description: "the reliability suite's scratch clusters",
		WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		t.Fatalf("register namespace %s: %v", chaosNS, err)
	}
	attrs := map[string]enumspb.IndexedValueType{}
	for _, name := range schemas.SearchAttributes {
		attrs[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: chaosNS})
		if err == nil {
			missing := map[string]enumspb.IndexedValueType{}
			for n, typ := range attrs {
				if _, ok := have.GetCustomAttributes()[n]; !ok {
					missing[n] = typ
				}
			}
			if len(missing) == 0 {
				return
			}
			_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: chaosNS, SearchAttributes: missing})
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s not ready after a minute: %v", chaosNS, err)
		}
	}
}
