package ha

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/schemas"
)

// HeartbeatTableSQL creates the cluster's one-row heartbeat table. It
// needs a role that may create in the database: the heartbeat runs it
// itself only when it writes as the DSNs' user; with a monitor login the
// table is made by MonitorRoleSQL, before the grants that name it.
var HeartbeatTableSQL = []string{
	`CREATE SCHEMA IF NOT EXISTS lifeboat`,
	`CREATE TABLE IF NOT EXISTS lifeboat.heartbeat (
		id int PRIMARY KEY CHECK (id = 1),
		at timestamptz NOT NULL,
		node text NOT NULL)`,
}

// heartbeatSQL sets the heartbeat row on the primary, run statement by
// statement in one transaction, the last with the node's name. The commit
// does not wait for a synchronous standby: a heartbeat must never block on
// one that is down, and it is evidence of recency, not data.
var heartbeatSQL = []string{
	`SET LOCAL synchronous_commit = local`,
	`SET LOCAL statement_timeout = '2s'`,
	`INSERT INTO lifeboat.heartbeat (id, at, node) VALUES (1, now(), $1)
		ON CONFLICT (id) DO UPDATE SET at = excluded.at, node = excluded.node`,
}

// MonitorRoleSQL returns what a superuser runs once on the primary (the
// replicas get it by replication) to give an existing role what the
// monitor login needs and nothing more: pg_monitor, which reads
// pg_stat_replication's positions, pg_stat_wal_receiver and the WAL
// archive status; CONNECT to database; and the heartbeat table, made
// first, with USAGE on its schema and SELECT, INSERT and UPDATE on it.
// Every statement can run again.
func MonitorRoleSQL(role, database string) []string {
	r := pgx.Identifier{role}.Sanitize()
	return append(slices.Clone(HeartbeatTableSQL),
		`GRANT pg_monitor TO `+r,
		`GRANT CONNECT ON DATABASE `+pgx.Identifier{database}.Sanitize()+` TO `+r,
		`GRANT USAGE ON SCHEMA lifeboat TO `+r,
		`GRANT SELECT, INSERT, UPDATE ON lifeboat.heartbeat TO `+r,
	)
}

// heartbeat writes the heartbeat row every schemas.HeartbeatInterval on the
// primary of the region, when the probe just saw exactly one healthy
// primary among the region's own nodes.
type heartbeat struct {
	probe  *Probe
	last   time.Time
	warned bool // a setup problem was logged
}

func (b *heartbeat) beat(ctx context.Context, region schemas.Region, nodes []schemas.NodeHealth, now time.Time) {
	if now.Sub(b.last) < schemas.HeartbeatInterval {
		return
	}
	var primaries []schemas.PostgresNode
	for _, h := range nodes {
		if h.Kind != schemas.KindPostgres || h.Role != schemas.RolePrimary || !h.Healthy {
			continue
		}
		for _, n := range region.Postgres {
			if n.Name == h.Name {
				primaries = append(primaries, n)
			}
		}
	}
	if len(primaries) != 1 {
		return
	}
	b.last = now
	err := b.probe.writeHeartbeat(ctx, primaries[0])
	switch {
	case err == nil:
	case errors.Is(err, errHeartbeatSetup) && !b.warned:
		// A missing grant does not heal by itself: say so, once.
		b.warned = true
		b.probe.Logger.Warn("heartbeat not written", zap.String("node", primaries[0].Name), zap.Error(err))
	default:
		b.probe.Logger.Debug("heartbeat not written", zap.String("node", primaries[0].Name), zap.Error(err))
	}
}

// writeHeartbeat sets the heartbeat row of primary n to its clock's now,
// as the monitor login when the topology has one.
func (p *Probe) writeHeartbeat(ctx context.Context, n schemas.PostgresNode) error {
	ctx, cancel := context.WithTimeout(ctx, nodeTimeout)
	defer cancel()
	pool, err := p.Clients.PostgresMonitor(ctx, n)
	if err != nil {
		return err
	}
	stmts := heartbeatSQL
	if p.Clients.MonitorLogin() == nil {
		stmts = append(slices.Clone(HeartbeatTableSQL), heartbeatSQL...)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("heartbeat on %s: %w", n.Name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it does nothing
	for i, s := range stmts {
		var args []any
		if i == len(stmts)-1 {
			args = []any{n.Name}
		}
		if _, err := tx.Exec(ctx, s, args...); err != nil {
			return p.heartbeatError(n, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("heartbeat on %s: commit: %w", n.Name, err)
	}
	return nil
}

// errHeartbeatSetup marks a heartbeat that failed for want of the monitor
// role's setup, which retrying will not bring.
var errHeartbeatSetup = errors.New("the monitor login cannot write lifeboat.heartbeat: run the monitor role's setup SQL on the primary (deployments/README.md)")

// heartbeatError wraps a failed statement, saying so when it failed for
// want of the monitor role's table or grants.
func (p *Probe) heartbeatError(n schemas.PostgresNode, err error) error {
	var pgErr *pgconn.PgError
	if p.Clients.MonitorLogin() != nil && errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "42P01", "3F000", "42501": // undefined_table, invalid_schema_name, insufficient_privilege
			return fmt.Errorf("heartbeat on %s: %w (%w)", n.Name, err, errHeartbeatSetup)
		}
	}
	return fmt.Errorf("heartbeat on %s: %w", n.Name, err)
}
