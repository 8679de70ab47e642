package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/sdk/testsuite"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/schemas"
)

// monitorOnly returns the stack's topology and clients built as a worker
// builds them, except that the DSNs' (superuser) password is wrong: all
// they can reach, they reach as the monitor login.
func monitorOnly(t *testing.T) (*schemas.Topology, *activities.Clients) {
	t.Helper()
	topo, err := schemas.LoadTopology(stack.TopologyPath())
	if err != nil {
		t.Fatal(err)
	}
	if l := topo.Monitor.Postgres; l == nil || l.User != devstack.PGMonitor {
		t.Fatalf("the stack's topology has monitor.postgres %+v, want the role %s: restart the stack (lifeboat-dev up) so it makes the role and writes the topology",
			l, devstack.PGMonitor)
	}
	clients := &activities.Clients{Topology: topo, Secrets: activities.Secrets{LookupEnv: func(k string) (string, bool) {
		if k == devstack.EnvPGPassword {
			return "not-the-superuser-password", true
		}
		v := envValue(stack.Env(), k)
		return v, v != ""
	}}}
	t.Cleanup(clients.Close)
	return topo, clients
}

// probeAll runs the Probe activity of every region, in this process.
func probeAll(ctx context.Context, t *testing.T, topo *schemas.Topology, clients *activities.Clients) map[string]schemas.NodeHealth {
	t.Helper()
	out := map[string]schemas.NodeHealth{}
	for _, r := range topo.Regions {
		p := &ha.Probe{Topology: topo, Region: r.Name, Clients: clients, Logger: zap.NewNop()}
		res, err := p.ProbeRegion(ctx, schemas.ProbeRegionInput{Cluster: topo.Cluster, Region: r.Name})
		if err != nil {
			t.Fatalf("ProbeRegion %s: %v", r.Name, err)
		}
		for _, h := range res.Nodes {
			if h.Kind == schemas.KindPostgres {
				out[h.Name] = h
			}
		}
	}
	return out
}

// sqlState returns the SQLSTATE of err, or "" when it is no server error.
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// TestMonitorLogin_ProbesAsAPgMonitorRoleThatCanDoNothingElse probes every
// node with the Probe activity's code and clients whose superuser password
// is wrong, so whatever succeeds ran as the topology's monitor login. The
// probes must see everything a probe reports (replication positions,
// standbys, WAL receiver, archive status), the role must be refused every
// privileged act and every other table, and the heartbeat the monitor's
// probe writes must land.
func TestMonitorLogin_ProbesAsAPgMonitorRoleThatCanDoNothingElse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	topo, clients := monitorOnly(t)

	// (a) The probe reads every node as the monitor role.
	health := probeAll(ctx, t, topo, clients)
	var primary schemas.PostgresNode
	for _, r := range topo.Regions {
		for _, n := range r.Postgres {
			h := health[n.Name]
			if !h.Healthy {
				t.Fatalf("%s probed as %s: %s (is the stack healthy? lifeboat check dev)", n.Name, devstack.PGMonitor, h.Error)
			}
			switch h.Role {
			case schemas.RolePrimary:
				if primary.Name != "" {
					t.Fatalf("two primaries: %s and %s", primary.Name, n.Name)
				}
				primary = n
				if h.WALArchive == nil || h.WALArchive.Error != "" {
					t.Errorf("%s: the WAL archive status is unreadable as %s: %+v", n.Name, devstack.PGMonitor, h.WALArchive)
				}
				if len(h.Standbys) == 0 {
					t.Errorf("%s: no standby in pg_stat_replication as %s", n.Name, devstack.PGMonitor)
				}
				for _, s := range h.Standbys {
					// Hidden (NULL) without pg_read_all_stats.
					if s.State == "" || s.SentLSN == "" || s.ReplayLSN == "" {
						t.Errorf("%s: standby %s read as %+v: pg_stat_replication's columns are hidden from %s", n.Name, s.ApplicationName, s, devstack.PGMonitor)
					}
				}
			case schemas.RoleReplica:
				if !h.Streaming || h.Upstream == "" || h.ReplayedLSN == "" {
					t.Errorf("%s: pg_stat_wal_receiver read as streaming=%v upstream=%q replayed=%q", n.Name, h.Streaming, h.Upstream, h.ReplayedLSN)
				}
			}
		}
	}
	if primary.Name == "" {
		t.Fatal("no primary among the probed nodes")
	}
	// The probe could not have used the superuser login: it is refused.
	priv, err := clients.Postgres(ctx, primary)
	if err != nil {
		t.Fatal(err)
	}
	if err := priv.Ping(ctx); sqlState(err) != "28P01" {
		t.Fatalf("the superuser login with a wrong password: %v, want invalid_password (28P01)", err)
	}
	mon, err := clients.PostgresMonitor(ctx, primary)
	if err != nil {
		t.Fatal(err)
	}
	if mon.Stat().TotalConns() == 0 {
		t.Error("the monitor pool of the primary holds no connection: the probe did not use it")
	}
	var current, session, seen string
	var super, monitor bool
	err = mon.QueryRow(ctx, `SELECT current_user, session_user,
		(SELECT usename FROM pg_stat_activity WHERE pid = pg_backend_pid()),
		(SELECT rolsuper FROM pg_roles WHERE rolname = current_user), pg_has_role('pg_monitor', 'member')`).
		Scan(&current, &session, &seen, &super, &monitor)
	if err != nil {
		t.Fatal(err)
	}
	if current != devstack.PGMonitor || session != devstack.PGMonitor || seen != devstack.PGMonitor || super || !monitor {
		t.Errorf("the probe's connection is current_user %s, session_user %s, pg_stat_activity %s, superuser %v, pg_monitor %v; want %s, not superuser, in pg_monitor",
			current, session, seen, super, monitor, devstack.PGMonitor)
	}

	// (b) It reads what a probe needs, and nothing privileged is allowed.
	conn, err := mon.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release() // a second Release does nothing
	var standbys, ready int
	err = conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_stat_replication WHERE replay_lsn IS NOT NULL AND sync_state IS NOT NULL),
		(SELECT count(*) FROM pg_ls_archive_statusdir())`).Scan(&standbys, &ready)
	if err != nil || standbys == 0 {
		t.Errorf("as %s: %d standbys with replay_lsn and sync_state visible, archive status: %v", devstack.PGMonitor, standbys, err)
	}
	// Each runs in a transaction rolled back, so a permission that should
	// not be there changes nothing; ALTER SYSTEM may not run in one.
	denied := []struct{ what, sql string }{
		{"promote", `SELECT pg_promote(false)`},
		{"checkpoint", `CHECKPOINT`},
		{"become the superuser", `SET ROLE ` + devstack.PGUser},
		{"read another table", `SELECT count(*) FROM demo.orders`},
		{"write another table", `INSERT INTO demo.orders VALUES (-1, now(), 0)`},
		{"delete the heartbeat", `DELETE FROM lifeboat.heartbeat`},
		{"create a table beside the heartbeat", `CREATE TABLE lifeboat.monitor_test (x int)`},
		{"create a table in public", `CREATE TABLE public.monitor_test (x int)`},
	}
	for _, d := range denied {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tx.Exec(ctx, d.sql)
		if rerr := tx.Rollback(ctx); rerr != nil {
			t.Fatal(rerr)
		}
		if sqlState(err) != "42501" {
			t.Errorf("%s (%s) as %s: %v, want permission denied (42501)", d.what, d.sql, devstack.PGMonitor, err)
		}
	}
	if _, err := conn.Exec(ctx, `ALTER SYSTEM SET work_mem = '8MB'`); sqlState(err) != "42501" {
		t.Errorf("ALTER SYSTEM as %s: %v, want permission denied (42501)", devstack.PGMonitor, err)
	}
	conn.Release()

	// (c) The monitor's probe writes the heartbeat as that role. The
	// stack's own monitor writes it every few seconds too, so this one
	// names the primary differently, and is read back at once.
	heartbeatAs(ctx, t, topo, clients, primary)
}

// heartbeatAs runs one round of the MonitorRegion activity of the
// primary's region on clients, with the primary renamed, and wants the
// heartbeat row to name it, without a heartbeat failure logged.
func heartbeatAs(ctx context.Context, t *testing.T, topo *schemas.Topology, clients *activities.Clients, primary schemas.PostgresNode) {
	t.Helper()
	tagged := *topo
	tagged.Regions = slices.Clone(topo.Regions)
	name := fmt.Sprintf("%s-heartbeat-test-%d", primary.Name, rand.Uint32())
	region := ""
	for i, r := range tagged.Regions {
		r.Postgres = slices.Clone(r.Postgres)
		for j := range r.Postgres {
			if r.Postgres[j].Name == primary.Name {
				r.Postgres[j].Name, region = name, r.Name
			}
		}
		tagged.Regions[i] = r
	}
	core, logs := observer.New(zap.DebugLevel)
	probe := &ha.Probe{Topology: &tagged, Region: region, Clients: clients, Logger: zap.New(core)}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(probe)
	mon, err := clients.PostgresMonitor(ctx, primary)
	if err != nil {
		t.Fatal(err)
	}
	var node string
	var at time.Time
	for attempt := 1; attempt <= 3; attempt++ {
		start := time.Now()
		if _, err := env.ExecuteActivity(probe.MonitorRegion, schemas.MonitorProbeInput{
			Cluster: tagged.Cluster, Region: region, Interval: time.Second, Threshold: 3, MaxWait: time.Second,
		}); err != nil {
			t.Fatalf("MonitorRegion: %v", err)
		}
		if err := mon.QueryRow(ctx, `SELECT node, at FROM lifeboat.heartbeat WHERE id = 1`).Scan(&node, &at); err != nil {
			t.Fatalf("read the heartbeat as %s: %v", devstack.PGMonitor, err)
		}
		if node == name {
			if at.Before(start.Add(-time.Second)) {
				t.Errorf("the heartbeat written at %s, before this round began at %s", at, start)
			}
			break
		}
		// The stack's monitor wrote in between: once more.
	}
	for _, e := range logs.All() {
		if strings.Contains(e.Message, "heartbeat") {
			t.Errorf("logged %q: %v", e.Message, e.ContextMap())
		}
	}
	if node != name {
		t.Fatalf("the heartbeat names %s, not %s: the monitor role's write did not land", node, name)
	}
	t.Logf("heartbeat written as %s on %s at %s", devstack.PGMonitor, primary.Name, at.Format(time.RFC3339Nano))
}
