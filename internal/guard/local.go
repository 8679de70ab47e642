package guard

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/internal/pgctl"
	"github.com/runnerhub/lifeboat/schemas"
)

// LocalNode is a PostgreSQL node whose data directory is on this host.
type LocalNode struct {
	Dir pgctl.Dir
	// Connect opens a new connection to the node.
	Connect func(ctx context.Context) (*pgx.Conn, error)
	// StopWait is how long a fence waits for the server to stop before it
	// SIGKILLs what runs: short, so that the node is gone before its lease.
	StopWait time.Duration
}

// InRecovery asks the server; when it cannot answer over SQL, its control
// file says whether it runs as a primary ("in production").
func (l LocalNode) InRecovery(ctx context.Context) (bool, error) {
	conn, err := l.Connect(ctx)
	if err == nil {
		defer conn.Close(context.WithoutCancel(ctx))
		var inRecovery bool
		if err = conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err == nil {
			return inRecovery, nil
		}
	}
	// A server starting with standby.signal (a fenced former primary coming
	// back, still in crash recovery) says "in production" in its control
	// file, yet can only come up read-only: it is no danger.
	if _, serr := os.Stat(filepath.Join(l.Dir.Path, pgctl.StandbySignal)); serr == nil {
		return true, nil
	}
	control, cerr := l.Dir.ControlData(ctx)
	if cerr != nil {
		return false, fmt.Errorf("%v; control data: %w", err, cerr)
	}
	return control[pgctl.FieldState] != "in production", nil
}

// Answers connects afresh and runs SELECT 1.
func (l LocalNode) Answers(ctx context.Context) error {
	conn, err := l.Connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var one int
	return conn.QueryRow(ctx, `SELECT 1`).Scan(&one)
}

// Running reports whether a postmaster runs on the data directory. A
// single-user server does not count: it is a rejoin finishing the crash
// recovery of this node, takes no connections, and refuses to start with
// the standby.signal a fence would write.
func (l LocalNode) Running(ctx context.Context) (bool, error) {
	return l.Dir.Serving(ctx)
}

// Fence stops the server at once and marks it standby.
func (l LocalNode) Fence(ctx context.Context) (string, error) {
	r, err := l.Dir.FenceWithin(ctx, l.StopWait)
	if err != nil {
		return "", err
	}
	return r.Detail, nil
}

// PromCounters counts fences and renewals in Prometheus.
type PromCounters struct {
	Fences, Renewals *prometheus.CounterVec
}

// Fenced counts one fence.
func (p PromCounters) Fenced(cluster, node, reason string) {
	p.Fences.WithLabelValues(cluster, node, reason).Inc()
}

// Renewed counts one lease renewal.
func (p PromCounters) Renewed(cluster, node string) {
	p.Renewals.WithLabelValues(cluster, node).Inc()
}

// Conns is what the guards of a region need of the worker's connections:
// the routing store, and a connection to a node.
type Conns interface {
	Store
	// ConnectPostgres opens a connection to node within timeout; adjust,
	// when not nil, changes its configuration first.
	ConnectPostgres(ctx context.Context, node schemas.PostgresNode, timeout time.Duration, adjust func(*pgx.ConnConfig)) (*pgx.Conn, error)
}

// ForRegion makes a guard for every PostgreSQL node of the region whose
// data directory the topology names; run each with Run. counters may be
// nil.
func ForRegion(topo *schemas.Topology, region string, conns Conns, counters Counters, logger *zap.Logger) []*Guard {
	r, ok := topo.Region(region)
	if !ok {
		return nil
	}
	pgBin := cmp.Or(topo.Failover.PGBin, pgctl.DefaultBinDir)
	lease := topo.Failover.LeaseOrDefault()
	var guards []*Guard
	for _, node := range r.Postgres {
		if node.DataDir == "" {
			continue
		}
		g := &Guard{
			Cluster: topo.Cluster,
			Node:    node.Name,
			Lease:   lease,
			Store:   conns,
			Local: LocalNode{
				Dir:      pgctl.Dir{Path: node.DataDir, Bin: pgBin},
				StopWait: lease / 10,
				Connect: func(ctx context.Context) (*pgx.Conn, error) {
					return conns.ConnectPostgres(ctx, node, lease/5, nil)
				},
			},
			Logger:   logger.With(zap.String("component", "guard")),
			Counters: counters,
		}
		guards = append(guards, g)
	}
	return guards
}
