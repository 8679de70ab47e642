package ha

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/schemas"
)

// UnfenceNode undoes FenceNode for a failover that promoted nobody: the old
// primary is the best there is, so it takes writes again. A stopped node is
// unmarked and started (the start may fail when the host is truly down; the
// next failover attempt then tries again); a read-only one is made writable.
func (n *Nodes) UnfenceNode(ctx context.Context, in schemas.UnfenceNodeInput) (schemas.UnfenceNodeResult, error) {
	n, err := serving(n, in.Cluster)
	if err != nil {
		return schemas.UnfenceNodeResult{}, err
	}
	node, err := n.local(in.Cluster, in.Node)
	if err != nil {
		return schemas.UnfenceNodeResult{}, err
	}
	log := n.logger().With(zap.String("cluster", in.Cluster), zap.String("node", node.Name), zap.String("how", in.How))
	switch in.How {
	case schemas.FencedStopped, schemas.FencedKilled, schemas.FencedNotRunning:
		d := n.dir(node)
		if err := d.RemoveSignals(); err != nil {
			return schemas.UnfenceNodeResult{}, fmt.Errorf("unmark %s: %w", node.Name, err)
		}
		running, pid, err := d.Status(ctx)
		if err != nil {
			return schemas.UnfenceNodeResult{}, err
		}
		if !running {
			opts, err := d.SavedOptions()
			if err != nil {
				return schemas.UnfenceNodeResult{}, err
			}
			env, err := activities.StoreEnv(n.Topology, n.Clients.Secrets)
			if err != nil {
				return schemas.UnfenceNodeResult{}, err
			}
			if err := d.Start(ctx, n.serverLog(node, pid), opts, env); err != nil {
				return schemas.UnfenceNodeResult{}, fmt.Errorf("restart %s as the primary: %w", node.Name, err)
			}
		}
	case schemas.FencedReadOnly:
		err := n.withConn(ctx, node, func(conn *pgx.Conn) error {
			for _, q := range []string{`ALTER SYSTEM RESET default_transaction_read_only`, `SELECT pg_reload_conf()`} {
				if _, err := conn.Exec(ctx, q); err != nil {
					return fmt.Errorf("%s: %w", q, err)
				}
			}
			return nil
		})
		if err != nil {
			return schemas.UnfenceNodeResult{}, fmt.Errorf("make %s writable: %w", node.Name, err)
		}
	default:
		return schemas.UnfenceNodeResult{}, nil // nothing was done to it
	}
	log.Warn("node unfenced: it is the primary again")
	return schemas.UnfenceNodeResult{Writable: true}, nil
}
