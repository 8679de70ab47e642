package integration

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap/zaptest"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/internal/pgctl"
	"github.com/runnerhub/lifeboat/policy"
	"github.com/runnerhub/lifeboat/schemas"
)

// The stack's PostgreSQL nodes and the roles every HA test leaves them in.
const (
	pgA1 = "pg-a1" // primary
	pgA2 = "pg-a2" // synchronous standby
	pgB1 = "pg-b1" // asynchronous standby, region-b
)

// haStack holds the activity structs of both regions, as the workers build them,
// but in this process: a worker restarted by someone else does not cut a
// step in half.
type haStack struct {
	t       *testing.T
	topo    *schemas.Topology
	clients *activities.Clients
	nodes   map[string]*ha.Nodes // by region
	routing *ha.Routing
}

// newHA loads the stack's topology and builds the activities.
func newHA(t *testing.T) *haStack {
	t.Helper()
	topo, err := schemas.LoadTopology(stack.TopologyPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range topo.Regions {
		for _, n := range r.Postgres {
			if n.DataDir == "" {
				t.Fatalf("the stack's topology names no data_dir for %s: restart the stack so it writes the new topology (lifeboat-dev up)", n.Name)
			}
		}
	}
	clients := &activities.Clients{Topology: topo, Secrets: stackSecrets()}
	t.Cleanup(clients.Close)
	h := &haStack{t: t, topo: topo, clients: clients, nodes: map[string]*ha.Nodes{}}
	for _, r := range topo.Regions {
		h.nodes[r.Name] = &ha.Nodes{Topology: topo, Region: r.Name, Clients: clients, Logger: zaptest.NewLogger(t), PGBin: devstack.PostgresBinDir}
	}
	h.routing = &ha.Routing{Topology: topo, Clients: clients, Logger: zaptest.NewLogger(t)}
	return h
}

// on returns the Nodes activities of the region of node.
func (h *haStack) on(node string) *ha.Nodes {
	h.t.Helper()
	for _, r := range h.topo.Regions {
		for _, n := range r.Postgres {
			if n.Name == node {
				return h.nodes[r.Name]
			}
		}
	}
	h.t.Fatalf("no node %s in the topology", node)
	return nil
}

func (h *haStack) node(name string) schemas.PostgresNode {
	h.t.Helper()
	for _, r := range h.topo.Regions {
		for _, n := range r.Postgres {
			if n.Name == name {
				return n
			}
		}
	}
	h.t.Fatalf("no node %s in the topology", name)
	return schemas.PostgresNode{}
}

// conn opens a connection to a node, or fails the test.
func (h *haStack) conn(ctx context.Context, name string) *pgx.Conn {
	h.t.Helper()
	c, err := h.clients.ConnectPostgres(ctx, h.node(name), 3*time.Second, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// testTopology is a copy of the stack's topology under a cluster name of
// its own, so routing records, leases and history written by a test touch
// nothing of cluster dev (whose guards watch the real nodes). Its keys are
// deleted at the end.
func (h *haStack) testTopology(prefix string) *schemas.Topology {
	h.t.Helper()
	topo := *h.topo
	topo.Cluster = fmt.Sprintf("%s-%d", prefix, rand.Uint32())
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rdb, err := h.clients.RoutingStore(ctx)
		if err != nil {
			h.t.Errorf("clean the keys of %s: %v", topo.Cluster, err)
			return
		}
		keys, _ := rdb.Keys(ctx, "lifeboat:"+topo.Cluster+":*").Result()
		if len(keys) > 0 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				h.t.Errorf("clean the keys of %s: %v", topo.Cluster, err)
			}
		}
	})
	return &topo
}

// nodeState is what one node looks like from SQL and from its data
// directory.
type nodeState struct {
	Running    bool
	Reachable  bool
	InRecovery bool
	// Upstream is the port the node streams from, 0 if none.
	Upstream int
}

func (s nodeState) String() string {
	switch {
	case !s.Running:
		return "stopped"
	case !s.Reachable:
		return "running, unreachable"
	case !s.InRecovery:
		return "primary"
	case s.Upstream == 0:
		return "standby, not streaming"
	}
	return fmt.Sprintf("standby streaming from port %d", s.Upstream)
}

func (h *haStack) state(ctx context.Context, name string) nodeState {
	n := h.node(name)
	var s nodeState
	s.Running, _, _ = pgctl.Dir{Path: n.DataDir, Bin: devstack.PostgresBinDir}.Status(ctx)
	c, err := h.clients.ConnectPostgres(ctx, n, 2*time.Second, nil)
	if err != nil {
		return s
	}
	defer c.Close(context.WithoutCancel(ctx))
	s.Reachable = true
	_ = c.QueryRow(ctx, `SELECT pg_is_in_recovery(), coalesce((SELECT sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming'), 0)`).
		Scan(&s.InRecovery, &s.Upstream)
	return s
}

func (h *haStack) port(name string) int {
	h.t.Helper()
	cfg, err := pgx.ParseConfig(h.node(name).DSN)
	if err != nil {
		h.t.Fatal(err)
	}
	return int(cfg.Port)
}

// healthy reports whether pg-a1 is the primary and the others stream from
// it, with pg-a2 synchronous; otherwise it says what differs.
func (h *haStack) healthy(ctx context.Context) error {
	var problems []string
	if s := h.state(ctx, pgA1); !s.Reachable || s.InRecovery {
		problems = append(problems, pgA1+" is "+s.String())
	}
	for _, name := range []string{pgA2, pgB1} {
		if s := h.state(ctx, name); !s.InRecovery || s.Upstream != h.port(pgA1) {
			problems = append(problems, name+" is "+s.String())
		}
	}
	if len(problems) == 0 {
		c, err := h.clients.ConnectPostgres(ctx, h.node(pgA1), 2*time.Second, nil)
		if err != nil {
			return err
		}
		defer c.Close(context.WithoutCancel(ctx))
		var sync string
		err = c.QueryRow(ctx, `SELECT coalesce((SELECT sync_state FROM pg_stat_replication WHERE application_name = $1), '')`, pgA2).Scan(&sync)
		if err != nil || !policy.Synchronous(sync) {
			problems = append(problems, fmt.Sprintf("%s is not the synchronous standby of %s (%q, %v)", pgA2, pgA1, sync, err))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// waitHealthy waits up to d for the stack's usual roles.
func (h *haStack) waitHealthy(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		err := h.healthy(ctx)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// takeStack makes the test the only one changing PostgreSQL roles: it
// holds the stack's lock (so `lifeboat-dev up`, which would start a fenced
// node as it was, waits), pauses the cluster's monitor if one runs (so it
// starts no failover of its own), checks the usual roles, and at the end
// puts them back by a clean switch to pg-a1 with the same activities.
func (h *haStack) takeStack() {
	t := h.t
	t.Helper()
	h.lockStack()
	h.pauseMonitor()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.waitHealthy(ctx, 20*time.Second); err != nil {
		t.Fatalf("the stack is not in its usual roles before the test: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		if err := h.restore(ctx); err != nil {
			t.Errorf("put the stack back (pg-a1 primary, pg-a2 sync, pg-b1 async): %v", err)
			return
		}
		t.Logf("stack back in its usual roles after %s", time.Since(start).Round(time.Millisecond))
	})
}

// lockStack holds the stack's lock for the length of the test, so that
// no `lifeboat-dev up` starts what the test stops.
func (h *haStack) lockStack() {
	t := h.t
	t.Helper()
	lock, err := os.OpenFile(filepath.Join(filepath.Dir(stack.TopologyPath()), "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the stack's lock is held by another test or lifeboat-dev for over 5 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Cleanup(func() { lock.Close() })
}

// pauseMonitor holds a pause of the dev cluster's HealthMonitor, if one
// runs, for the length of the test.
func (h *haStack) pauseMonitor() {
	t := h.t
	c := temporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id := schemas.MonitorWorkflowID(h.topo.Cluster)
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil || desc.WorkflowExecutionInfo.GetStatus().String() != "Running" {
		return
	}
	req := schemas.PauseRequest{Owner: "integration-" + t.Name(), Reason: "the test changes PostgreSQL roles itself"}
	if err := c.SignalWorkflow(ctx, id, "", schemas.SignalPause, req); err != nil {
		t.Fatalf("pause %s: %v", id, err)
	}
	t.Logf("paused %s for the test", id)
	t.Cleanup(func() {
		// The monitor judges on what its probes last saw: resumed while
		// it still counts the test's killed primary as failed, it would
		// fail over the node the test has just put back.
		settle := time.Now().Add(time.Minute)
		for time.Now().Before(settle) {
			var st schemas.MonitorState
			qctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			v, err := c.QueryWorkflow(qctx, id, "", schemas.QueryStatus)
			if err == nil {
				err = v.Get(&st)
			}
			cancel()
			if o, ok := st.Components[st.Primary]; err == nil && ok && o.State == schemas.StateHealthy && o.Role == schemas.RolePrimary {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.SignalWorkflow(ctx, id, "", schemas.SignalResume, req); err != nil {
			t.Errorf("resume %s: %v", id, err)
		}
	})
}

// restore puts the usual roles back from wherever a test left them, with
// the activities under test: a clean switch back to pg-a1, then the other
// nodes repointed or rejoined, then the settings failovers changed reset.
func (h *haStack) restore(ctx context.Context) error {
	if h.healthy(ctx) == nil {
		return nil
	}
	a := h.on(pgA1)
	states := map[string]nodeState{}
	for _, n := range []string{pgA1, pgA2, pgB1} {
		states[n] = h.state(ctx, n)
	}
	h.t.Logf("restoring from: %v", states)
	other := ""
	for _, n := range []string{pgA2, pgB1} {
		if s := states[n]; s.Reachable && !s.InRecovery {
			other = n
		}
	}
	// The role is taken from the primary of the moment only once it has
	// stopped: its node guard fences it (immediately) when the routing
	// record takes the role away, and the rejoin of pg-a1 needs it up.
	var epoch int64
	takeRole := func() error {
		cur, err := h.routing.ReadRouting(ctx, schemas.ReadRoutingInput{Cluster: h.topo.Cluster})
		if err != nil || !cur.Found || cur.Record.Primary == pgA1 {
			return err
		}
		failed := cmp.Or(cur.Record.Primary, other, pgA2)
		res, err := h.routing.BumpEpoch(ctx, schemas.BumpEpochInput{Cluster: h.topo.Cluster, Epoch: cur.Record.Epoch, Failed: failed})
		if err != nil {
			return err
		}
		epoch = res.Record.Epoch
		return nil
	}
	a1 := states[pgA1]
	switch {
	case a1.Reachable && !a1.InRecovery:
		if err := takeRole(); err != nil {
			return err
		}
		if other != "" { // two primaries: the other one is stale
			if _, err := h.on(other).FenceNode(ctx, schemas.FenceNodeInput{Cluster: h.topo.Cluster, Node: other}); err != nil {
				return err
			}
		}
	case other != "":
		// The third node crosses onto the current primary's timeline
		// before the switch: once pg-a1 is promoted no server keeps the
		// WAL of that timeline's first segment for it.
		for _, n := range []string{pgA2, pgB1} {
			if n != other {
				if err := h.follow(ctx, n, other); err != nil {
					return err
				}
			}
		}
		if a1.Upstream != h.port(other) {
			if _, err := a.RejoinNode(ctx, schemas.RejoinNodeInput{Cluster: h.topo.Cluster, Node: pgA1, Primary: other}); err != nil {
				return err
			}
		}
		f, err := h.on(other).FenceNode(ctx, schemas.FenceNodeInput{Cluster: h.topo.Cluster, Node: other, Clean: true})
		if err != nil {
			return err
		}
		if err := takeRole(); err != nil {
			return err
		}
		if f.StopLSN != "" {
			if _, err := a.WaitCaughtUp(ctx, schemas.WaitCaughtUpInput{Cluster: h.topo.Cluster, Node: pgA1, LSN: f.StopLSN}); err != nil {
				return err
			}
		}
		if _, err := a.Promote(ctx, schemas.PromoteInput{Cluster: h.topo.Cluster, Node: pgA1, SyncStandbys: []string{pgA2}}); err != nil {
			return err
		}
	case a1.Reachable:
		if err := takeRole(); err != nil {
			return err
		}
		if _, err := a.Promote(ctx, schemas.PromoteInput{Cluster: h.topo.Cluster, Node: pgA1, SyncStandbys: []string{pgA2}}); err != nil {
			return err
		}
	default: // fenced and nobody promoted: it is still the newest
		if err := takeRole(); err != nil {
			return err
		}
		if err := h.startAsPrimary(ctx, pgA1); err != nil {
			return err
		}
	}
	if epoch > 0 {
		if _, err := h.routing.PublishPrimary(ctx, schemas.PublishPrimaryInput{Cluster: h.topo.Cluster, Epoch: epoch, Primary: pgA1}); err != nil {
			return err
		}
	}
	for _, n := range []string{pgA2, pgB1} {
		if err := h.follow(ctx, n, pgA1); err != nil {
			return err
		}
	}
	if err := h.resetFailoverSettings(ctx); err != nil {
		return err
	}
	return h.waitHealthy(ctx, 30*time.Second)
}

// follow makes node stream from primary: a repoint when it runs as a
// standby and can follow, a rejoin otherwise.
func (h *haStack) follow(ctx context.Context, node, primary string) error {
	nodes := h.on(node)
	if s := h.state(ctx, node); s.Reachable && s.InRecovery {
		if s.Upstream == h.port(primary) {
			return nil
		}
		if _, err := nodes.Repoint(ctx, schemas.RepointInput{Cluster: h.topo.Cluster, Node: node, Primary: primary}); err != nil {
			return err
		}
		for range 40 {
			if h.state(ctx, node).Upstream == h.port(primary) {
				return nil
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	_, err := nodes.RejoinNode(ctx, schemas.RejoinNodeInput{Cluster: h.topo.Cluster, Node: node, Primary: primary})
	return err
}

// startAsPrimary starts a fenced node that nobody replaced as what it was.
func (h *haStack) startAsPrimary(ctx context.Context, name string) error {
	n := h.node(name)
	d := pgctl.Dir{Path: n.DataDir, Bin: devstack.PostgresBinDir}
	if err := d.RemoveSignals(); err != nil {
		return err
	}
	opts, err := d.SavedOptions()
	if err != nil {
		return err
	}
	env := []string{devstack.EnvS3AccessKey + "=" + envValue(stack.Env(), devstack.EnvS3AccessKey),
		devstack.EnvS3SecretKey + "=" + envValue(stack.Env(), devstack.EnvS3SecretKey)}
	if err := d.Start(ctx, n.LogFile, opts, env); err != nil {
		return err
	}
	for range 120 {
		if s := h.state(ctx, name); s.Reachable && !s.InRecovery {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("%s did not come back as primary", name)
}

// resetFailoverSettings removes what promotions and rejoins wrote with
// ALTER SYSTEM, so postgresql.conf speaks again as the stack wrote it:
// pg-a1 names pg-a2 its synchronous standby; the primary has no
// primary_conninfo.
func (h *haStack) resetFailoverSettings(ctx context.Context) error {
	for _, n := range []string{pgA1, pgA2, pgB1} {
		stmts := []string{"ALTER SYSTEM RESET synchronous_standby_names", "ALTER SYSTEM RESET default_transaction_read_only"}
		if n == pgA1 {
			stmts = append(stmts, "ALTER SYSTEM RESET primary_conninfo", "ALTER SYSTEM RESET primary_slot_name")
		}
		c, err := h.clients.ConnectPostgres(ctx, h.node(n), 3*time.Second, nil)
		if err != nil {
			return err
		}
		for _, q := range append(stmts, "SELECT pg_reload_conf()") {
			if _, err := c.Exec(ctx, q); err != nil {
				c.Close(ctx)
				return fmt.Errorf("%s: %s: %w", n, q, err)
			}
		}
		c.Close(ctx)
	}
	return nil
}

// timed runs f and logs how long it took.
func timed[T any](t *testing.T, what string, f func() (T, error)) T {
	t.Helper()
	start := time.Now()
	v, err := f()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("%s after %s: %v", what, took.Round(time.Millisecond), err)
	}
	t.Logf("%-40s %8s  %+v", what, took.Round(time.Millisecond), v)
	return v
}
