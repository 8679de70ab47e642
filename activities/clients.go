package activities

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/internal/pgctl"
	"github.com/runnerhub/lifeboat/schemas"
)

// Clients holds one client per node of a topology, made on first use and
// kept, shared by every activity struct of a worker. Secrets are read when a
// client is made, never passed in workflow inputs.
type Clients struct {
	Topology *schemas.Topology
	Secrets  Secrets

	mu            sync.Mutex
	pg            map[pgLogin]*pgxpool.Pool
	redis         map[string]*redis.Client
	sentinels     map[string]*redis.SentinelClient
	StoreOverride objstore.Store
	replica       objstore.Store
}

// Close releases every client.
func (c *Clients) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, pool := range c.pg {
		pool.Close()
	}
	for _, r := range c.redis {
		_ = r.Close()
	}
	for _, s := range c.sentinels {
		_ = s.Close()
	}
}

// pgLogin keys the pools: one per node and login, since a node is reached
// both as its DSN's privileged user and as the monitor's role.
type pgLogin struct {
	node    string
	monitor bool
}

// Postgres returns the pool of a PostgreSQL node as its DSN's user, the
// privileged login that promotion, fencing, rejoin and backups need,
// connecting on first use.
func (c *Clients) Postgres(ctx context.Context, n schemas.PostgresNode) (*pgxpool.Pool, error) {
	return c.pool(ctx, n, nil)
}

// PostgresMonitor returns the pool of a PostgreSQL node as the topology's
// monitor login (monitor.postgres), the least-privileged role that probes
// and the heartbeat read and write with. A topology without one gets the
// Postgres pool.
func (c *Clients) PostgresMonitor(ctx context.Context, n schemas.PostgresNode) (*pgxpool.Pool, error) {
	return c.pool(ctx, n, c.MonitorLogin())
}

// MonitorLogin returns the topology's monitor login, or nil when probes
// use the DSNs' own.
func (c *Clients) MonitorLogin() *schemas.PostgresLogin {
	if c.Topology == nil {
		return nil
	}
	return c.Topology.Monitor.Postgres
}

// pool returns the pool of node n as login, or as the DSN's user when
// login is nil.
func (c *Clients) pool(ctx context.Context, n schemas.PostgresNode, login *schemas.PostgresLogin) (*pgxpool.Pool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := pgLogin{node: n.Name, monitor: login != nil}
	if pool, ok := c.pg[key]; ok {
		return pool, nil
	}
	cfg, err := pgxpool.ParseConfig(n.DSN)
	if err != nil {
		return nil, fmt.Errorf("parse dsn of %s: %w", n.Name, err)
	}
	secret, app := n.Password, "lifeboat"
	if login != nil {
		// Whatever password ParseConfig found (a passfile entry) is the DSN
		// user's: the monitor's comes from its own secret only.
		cfg.ConnConfig.User, cfg.ConnConfig.Password = login.User, ""
		secret, app = login.Password, "lifeboat-monitor"
	}
	pw, err := c.Secrets.Value(secret)
	if err != nil {
		return nil, fmt.Errorf("password of %s as %s: %w", n.Name, cfg.ConnConfig.User, err)
	}
	if pw != "" {
		cfg.ConnConfig.Password = pw
	}
	cfg.MaxConns = 2
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", n.Name, err)
	}
	if c.pg == nil {
		c.pg = map[pgLogin]*pgxpool.Pool{}
	}
	c.pg[key] = pool
	return pool, nil
}

// Redis returns the client of a Redis node.
func (c *Clients) Redis(name, addr string, pw *schemas.Secret) (*redis.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.redis[name]; ok {
		return r, nil
	}
	opts, err := c.redisOptions(name, addr, pw)
	if err != nil {
		return nil, err
	}
	r := redis.NewClient(opts)
	if c.redis == nil {
		c.redis = map[string]*redis.Client{}
	}
	c.redis[name] = r
	return r, nil
}

// Sentinel returns the client of a sentinel.
func (c *Clients) Sentinel(n schemas.SentinelNode) (*redis.SentinelClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.sentinels[n.Name]; ok {
		return s, nil
	}
	opts, err := c.redisOptions(n.Name, n.Addr, n.Password)
	if err != nil {
		return nil, err
	}
	s := redis.NewSentinelClient(opts)
	if c.sentinels == nil {
		c.sentinels = map[string]*redis.SentinelClient{}
	}
	c.sentinels[n.Name] = s
	return s, nil
}

func (c *Clients) redisOptions(name, addr string, pw *schemas.Secret) (*redis.Options, error) {
	password, err := c.Secrets.Value(pw)
	if err != nil {
		return nil, fmt.Errorf("password of %s: %w", name, err)
	}
	return &redis.Options{
		Addr:         addr,
		Password:     password,
		DialTimeout:  2 * time.Second,
		ReadTimeout:  2 * time.Second,
		WriteTimeout: 2 * time.Second,
		PoolSize:     2,
		MaxRetries:   -1, // a probe reports what it sees; the workflow decides about retries
	}, nil
}

// Store returns the object store of the topology.
func (c *Clients) Store(ctx context.Context) (objstore.Store, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.StoreOverride != nil {
		return c.StoreOverride, nil
	}
	s, err := objstore.Open(ctx, c.Topology.Backup.Store, c.Secrets.Value)
	if err != nil {
		return nil, err
	}
	c.StoreOverride = s
	return s, nil
}

// ReplicaStore returns the topology's replica store (backup.replica). A
// topology that names none is a non-retryable InvalidInput error.
func (c *Clients) ReplicaStore(ctx context.Context) (objstore.Store, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.replica != nil {
		return c.replica, nil
	}
	if c.Topology.Backup.Replica == nil {
		return nil, InvalidInput("backup.replica", fmt.Sprintf("cluster %s names no replica store", c.Topology.Cluster))
	}
	s, err := objstore.Open(ctx, *c.Topology.Backup.Replica, c.Secrets.Value)
	if err != nil {
		return nil, fmt.Errorf("open replica store: %w", err)
	}
	c.replica = s
	return s, nil
}

// DefaultPGBinDir is where Debian installs PostgreSQL 15's programs.
const DefaultPGBinDir = pgctl.DefaultBinDir
