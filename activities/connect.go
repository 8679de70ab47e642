package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runnerhub/lifeboat/schemas"
)

// ConnectPostgres opens a new connection to a node, outside the pools:
// after a restart or a promotion a pooled connection would be stale, and a
// failover step must see the server as it is now. adjust, when set, changes
// the configuration before the dial.
func (c *Clients) ConnectPostgres(ctx context.Context, node schemas.PostgresNode, timeout time.Duration, adjust func(*pgx.ConnConfig)) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(node.DSN)
	if err != nil {
		return nil, InvalidInput("dsn", fmt.Sprintf("of %s: %v", node.Name, err))
	}
	pw, err := c.Secrets.Value(node.Password)
	if err != nil {
		return nil, fmt.Errorf("password of %s: %w", node.Name, err)
	}
	if pw != "" {
		cfg.Password = pw
	}
	cfg.ConnectTimeout = timeout
	cfg.RuntimeParams["application_name"] = "lifeboat"
	if adjust != nil {
		adjust(cfg)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", node.Name, err)
	}
	return conn, nil
}
