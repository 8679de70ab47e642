package ha

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/internal/pgctl"
	"github.com/runnerhub/lifeboat/schemas"
)

// Nodes acts on the PostgreSQL nodes of the worker's region: the steps of a
// failover, a switchover and a rejoin. Its activities run on the region's
// task queue, next to the nodes, because fencing and rewinding need the
// node's data directory.
type Nodes struct {
	Topology *schemas.Topology
	Region   string
	Clients  *activities.Clients
	Logger   *zap.Logger
	// PGBin is the directory of pg_ctl and pg_rewind; empty means the
	// topology's failover.pg_bin, else DefaultPGBinDir.
	PGBin string
}

// Timeouts of the node steps.
const (
	// confirmTimeout bounds one check of ConfirmDown; confirmGap separates
	// the starts of its two checks, so one lost packet does not fail a
	// primary.
	confirmTimeout = time.Second
	confirmGap     = 200 * time.Millisecond
	// writeTimeout bounds VerifyWrite's statements, the commit included.
	writeTimeout = 5 * time.Second
	// sqlFenceWait bounds a fence over SQL, the connection included.
	sqlFenceWait = 3 * time.Second
	// pollEvery is how often WaitCaughtUp and RejoinNode look again.
	pollEvery = 100 * time.Millisecond
)

// ConfirmDown gives a second opinion on a node's failure from this region:
// two connections with SELECT 1, the second started 200 ms after the first,
// each within a second; the node is down only when both fail. They overlap,
// so a node that hangs rather than refuses costs 1.2 s, not 2.2 s. The node
// is usually in another region: that is the point.
func (n *Nodes) ConfirmDown(ctx context.Context, in schemas.ConfirmDownInput) (schemas.ConfirmDownResult, error) {
	n, err := serving(n, in.Cluster)
	if err != nil {
		return schemas.ConfirmDownResult{}, err
	}
	node, err := n.member(in.Cluster, in.Node)
	if err != nil {
		return schemas.ConfirmDownResult{}, err
	}
	type check struct {
		err  error
		took time.Duration
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	checks := make(chan check, 2)
	for i := range 2 {
		go func() {
			if sleepCtx(pctx, time.Duration(i)*confirmGap) != nil {
				checks <- check{err: pctx.Err()}
				return
			}
			start := time.Now()
			err := n.ping(pctx, node)
			checks <- check{err: err, took: time.Since(start)}
		}()
	}
	var errs []string
	for range 2 {
		c := <-checks
		if c.err == nil {
			return schemas.ConfirmDownResult{Down: false, Detail: fmt.Sprintf("%s answered SELECT 1 in %s from %s",
				node.Name, c.took.Round(time.Millisecond), n.Region)}, nil
		}
		errs = append(errs, c.err.Error())
	}
	if err := ctx.Err(); err != nil {
		return schemas.ConfirmDownResult{}, err
	}
	return schemas.ConfirmDownResult{Down: true, Detail: fmt.Sprintf("%s failed two checks %s apart from %s: %s",
		node.Name, confirmGap, n.Region, strings.Join(errs, "; then "))}, nil
}

// ping connects afresh and runs SELECT 1 within confirmTimeout.
func (n *Nodes) ping(ctx context.Context, node schemas.PostgresNode) error {
	ctx, cancel := context.WithTimeout(ctx, confirmTimeout)
	defer cancel()
	conn, err := n.dial(ctx, node, confirmTimeout)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("SELECT 1: %w", err)
	}
	return nil
}

// FenceNode stops a former primary from taking writes: stop its postmaster
// and mark it standby where the data directory is local, else make it
// read-only over SQL, else report it unreachable.
func (n *Nodes) FenceNode(ctx context.Context, in schemas.FenceNodeInput) (schemas.FenceNodeResult, error) {
	n, err := serving(n, in.Cluster)
	if err != nil {
		return schemas.FenceNodeResult{}, err
	}
	node, err := n.local(in.Cluster, in.Node)
	if err != nil {
		return schemas.FenceNodeResult{}, err
	}
	log := n.logger().With(zap.String("cluster", in.Cluster), zap.String("node", node.Name), zap.Int64("epoch", in.Epoch))
	if d := n.dir(node); node.DataDir != "" && d.Exists() {
		r, err := d.Fence(ctx, in.Clean)
		if err != nil {
			return schemas.FenceNodeResult{}, fmt.Errorf("fence %s: %w", node.Name, err)
		}
		log.Warn("node fenced", zap.String("how", r.How), zap.String("detail", r.Detail), zap.String("stop_lsn", r.StopLSN))
		return schemas.FenceNodeResult{Fenced: true, How: r.How, Detail: r.Detail, StopLSN: r.StopLSN}, nil
	}
	// A node that hangs rather than refuses is as unreachable as one that
	// refuses: past sqlFenceWait the lease decides.
	sctx, cancel := context.WithTimeout(ctx, sqlFenceWait)
	defer cancel()
	unreachable := func(err error) schemas.FenceNodeResult {
		res := schemas.FenceNodeResult{How: schemas.FencedNone,
			Detail: fmt.Sprintf("no data directory of %s on this host and SQL unreachable (%v): its guard fences it when its lease ends", node.Name, err)}
		log.Warn("node not fenced", zap.String("detail", res.Detail))
		return res
	}
	conn, err := n.dial(sctx, node, sqlFenceWait)
	if err != nil {
		return unreachable(err), nil
	}
	defer conn.Close(context.WithoutCancel(ctx))
	res, err := fenceReadOnly(sctx, conn, in.Clean)
	if err != nil && sctx.Err() != nil && ctx.Err() == nil {
		return unreachable(fmt.Errorf("no answer within %s: %w", sqlFenceWait, err)), nil
	}
	if err != nil {
		return res, fmt.Errorf("fence %s over SQL: %w", node.Name, err)
	}
	log.Warn("node fenced", zap.String("how", res.How), zap.String("detail", res.Detail))
	return res, nil
}

// fenceReadOnly makes a server read-only for new transactions and ends
// every client session, so none holds a writable transaction.
func fenceReadOnly(ctx context.Context, conn *pgx.Conn, clean bool) (schemas.FenceNodeResult, error) {
	if err := execAll(ctx, conn, "", []string{`ALTER SYSTEM SET default_transaction_read_only = on`}); err != nil {
		return schemas.FenceNodeResult{}, err
	}
	var ended int
	err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
		FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`).Scan(&ended)
	if err != nil {
		return schemas.FenceNodeResult{}, fmt.Errorf("end client sessions: %w", err)
	}
	res := schemas.FenceNodeResult{Fenced: true, How: schemas.FencedReadOnly,
		Detail: fmt.Sprintf("default_transaction_read_only on; %d client sessions ended", ended)}
	if clean {
		if err := conn.QueryRow(ctx, `SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END::text`).Scan(&res.StopLSN); err != nil {
			return res, fmt.Errorf("read the stop position: %w", err)
		}
	}
	return res, nil
}

// VerifyWrite commits one row on the new primary, within writeTimeout for
// every statement. A commit whose wait for the synchronous standby was cut
// short is not a verified write.
func (n *Nodes) VerifyWrite(ctx context.Context, in schemas.VerifyWriteInput) (schemas.VerifyWriteResult, error) {
	n, err := serving(n, in.Cluster)
	if err != nil {
		return schemas.VerifyWriteResult{}, err
	}
	node, err := n.local(in.Cluster, in.Node)
	if err != nil {
		return schemas.VerifyWriteResult{}, err
	}
	start := time.Now()
	var syncCut bool
	conn, err := n.dialWith(ctx, node, 2*time.Second, func(cfg *pgx.ConnConfig) {
		cfg.RuntimeParams["statement_timeout"] = fmt.Sprint(writeTimeout.Milliseconds())
		cfg.OnNotice = func(_ *pgconn.PgConn, notice *pgconn.Notice) {
			if strings.Contains(notice.Message, "synchronous replication") {
				syncCut = true
			}
		}
	})
	if err != nil {
		return schemas.VerifyWriteResult{}, fmt.Errorf("verify write on %s: %w", node.Name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, q := range []string{
		`CREATE SCHEMA IF NOT EXISTS lifeboat`,
		`CREATE TABLE IF NOT EXISTS lifeboat.failover_check (epoch bigint NOT NULL, at timestamptz NOT NULL, writer text NOT NULL)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return schemas.VerifyWriteResult{}, fmt.Errorf("verify write on %s: %s: %w", node.Name, q, err)
		}
	}
	var res schemas.VerifyWriteResult
	err = conn.QueryRow(ctx, `INSERT INTO lifeboat.failover_check (epoch, at, writer)
		VALUES ($1, now(), coalesce(nullif(current_setting('cluster_name'), ''), $2)) RETURNING writer`, in.Epoch, node.Name).Scan(&res.Writer)
	if err != nil {
		return res, fmt.Errorf("verify write on %s: insert: %w", node.Name, err)
	}
	if syncCut {
		return res, fmt.Errorf("verify write on %s: the commit was not confirmed by a synchronous standby within %s", node.Name, writeTimeout)
	}
	if err := conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&res.LSN); err != nil {
		return res, fmt.Errorf("verify write on %s: read the commit position: %w", node.Name, err)
	}
	res.Took = time.Since(start)
	return res, nil
}

// WaitCaughtUp waits, heartbeating, until a replica has replayed up to LSN.
func (n *Nodes) WaitCaughtUp(ctx context.Context, in schemas.WaitCaughtUpInput) (schemas.WaitCaughtUpResult, error) {
	n, err := serving(n, in.Cluster)
	if err != nil {
		return schemas.WaitCaughtUpResult{}, err
	}
	node, err := n.local(in.Cluster, in.Node)
	if err != nil {
		return schemas.WaitCaughtUpResult{}, err
	}
	var replayed string
	stop := activities.HeartbeatEvery(ctx, 5*time.Second, func() any { return "replayed " + replayed })
	defer stop()
	var lastErr error
	for {
		var done bool
		err := n.withConn(ctx, node, func(conn *pgx.Conn) error {
			return conn.QueryRow(ctx, `SELECT coalesce(p::text, ''), coalesce(p >= $1::pg_lsn, false)
				FROM (SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END AS p) s`,
				in.LSN).Scan(&replayed, &done)
		})
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "22P02" {
			return schemas.WaitCaughtUpResult{}, activities.InvalidInput("lsn", fmt.Sprintf("%q is not an LSN", in.LSN))
		}
		if err == nil && done {
			return schemas.WaitCaughtUpResult{ReplayedLSN: replayed}, nil
		}
		lastErr = err
		if err := sleepCtx(ctx, pollEvery); err != nil {
			return schemas.WaitCaughtUpResult{ReplayedLSN: replayed},
				fmt.Errorf("%s has replayed up to %q, not %s: %w (last error: %v)", node.Name, replayed, in.LSN, err, lastErr)
		}
	}
}

// local checks the cluster and returns the node, which must be of this
// worker's region.
func (n *Nodes) local(cluster, name string) (schemas.PostgresNode, error) {
	node, err := n.member(cluster, name)
	if err != nil {
		return node, err
	}
	if region, _ := n.Topology.NodeRegion(name); region != n.Region {
		return node, activities.InvalidInput("node", fmt.Sprintf("%s is in region %s, but this worker serves %s: run it on the task queue %s",
			name, region, n.Region, schemas.RegionTaskQueue(region)))
	}
	return node, nil
}

// member finds a PostgreSQL node of the cluster, in any region.
func (n *Nodes) member(cluster, name string) (schemas.PostgresNode, error) {
	if cluster != n.Topology.Cluster {
		return schemas.PostgresNode{}, activities.UnknownCluster(cluster, n.Topology.Cluster)
	}
	node, ok := n.Topology.PostgresNode(name)
	if !ok {
		return node, activities.InvalidInput("node", fmt.Sprintf("%q is not a PostgreSQL node of cluster %s", name, n.Topology.Cluster))
	}
	return node, nil
}

// dial opens a new connection: after a restart or a promotion a pooled one
// would be stale.
func (n *Nodes) dial(ctx context.Context, node schemas.PostgresNode, timeout time.Duration) (*pgx.Conn, error) {
	return n.dialWith(ctx, node, timeout, nil)
}

func (n *Nodes) dialWith(ctx context.Context, node schemas.PostgresNode, timeout time.Duration, adjust func(*pgx.ConnConfig)) (*pgx.Conn, error) {
	return n.Clients.ConnectPostgres(ctx, node, timeout, adjust)
}

// withConn runs f on a new connection to node.
func (n *Nodes) withConn(ctx context.Context, node schemas.PostgresNode, f func(*pgx.Conn) error) error {
	conn, err := n.dial(ctx, node, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return f(conn)
}

func (n *Nodes) dir(node schemas.PostgresNode) pgctl.Dir {
	return pgctl.Dir{Path: node.DataDir, Bin: n.pgBin()}
}

func (n *Nodes) pgBin() string {
	switch {
	case n.PGBin != "":
		return n.PGBin
	case n.Topology.Failover.PGBin != "":
		return n.Topology.Failover.PGBin
	}
	return activities.DefaultPGBinDir
}

func (n *Nodes) logger() *zap.Logger {
	if n.Logger == nil {
		return zap.NewNop()
	}
	return n.Logger
}

// sleepCtx waits d, or less if ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// SlotName is the physical replication slot a node streams through: its
// name with what a slot name may not hold made '_' (pg-a2 → pg_a2).
func SlotName(node string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '_'
	}, node)
}

// quoteLiteral quotes s as an SQL string literal, for statements such as
// ALTER SYSTEM that take no parameters.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
