package activities

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/schemas"
)

// heartbeatSQL keeps the cluster's one-row heartbeat table on the primary,
// run statement by statement in one transaction, the last with the node's
// name. The commit does not wait for a synchronous standby: a heartbeat must
// never block on one that is down, and it is evidence of recency, not data.
var heartbeatSQL = []string{
	`CREATE SCHEMA IF NOT EXISTS lifeboat`,
	`CREATE TABLE IF NOT EXISTS lifeboat.heartbeat (
		id int PRIMARY KEY CHECK (id = 1),
		at timestamptz NOT NULL,
		node text NOT NULL)`,
	`SET LOCAL synchronous_commit = local`,
	`SET LOCAL statement_timeout = '2s'`,
	`INSERT INTO lifeboat.heartbeat (id, at, node) VALUES (1, now(), $1)
		ON CONFLICT (id) DO UPDATE SET at = excluded.at, node = excluded.node`,
}

// heartbeat writes the heartbeat row every schemas.HeartbeatInterval on the
// primary of the region, when the probe just saw exactly one healthy
// primary among the region's own nodes.
type heartbeat struct {
	probe *Probe
	last  time.Time
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
	if err := b.probe.writeHeartbeat(ctx, primaries[0]); err != nil {
		b.probe.Logger.Debug("heartbeat not written", zap.String("node", primaries[0].Name), zap.Error(err))
	}
}

// writeHeartbeat sets the heartbeat row of primary n to its clock's now.
func (p *Probe) writeHeartbeat(ctx context.Context, n schemas.PostgresNode) error {
	ctx, cancel := context.WithTimeout(ctx, nodeTimeout)
	defer cancel()
	pool, err := p.Clients.Postgres(ctx, n)
	if err != nil {
		return err
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("heartbeat on %s: %w", n.Name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it does nothing
	for i, s := range heartbeatSQL {
		var args []any
		if i == len(heartbeatSQL)-1 {
			args = []any{n.Name}
		}
		if _, err := tx.Exec(ctx, s, args...); err != nil {
			return fmt.Errorf("heartbeat on %s: %w", n.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("heartbeat on %s: commit: %w", n.Name, err)
	}
	return nil
}
