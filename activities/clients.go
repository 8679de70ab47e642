package activities

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/schemas"
)

// Clients holds one client per node of a topology, made on first use and
// kept, shared by every activity struct of a worker. Secrets are read when a
// client is made, never passed in workflow inputs.
type Clients struct {
	Topology *schemas.Topology
	Secrets  Secrets

	mu        sync.Mutex
	pg        map[string]*pgxpool.Pool
	redis     map[string]*redis.Client
	sentinels map[string]*redis.SentinelClient
	store     objstore.Store
	replica   objstore.Store
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

// Postgres returns the pool of a PostgreSQL node, connecting on first use.
func (c *Clients) Postgres(ctx context.Context, n schemas.PostgresNode) (*pgxpool.Pool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pool, ok := c.pg[n.Name]; ok {
		return pool, nil
	}
	cfg, err := pgxpool.ParseConfig(n.DSN)
	if err != nil {
		return nil, fmt.Errorf("parse dsn of %s: %w", n.Name, err)
	}
	pw, err := c.Secrets.Value(n.Password)
	if err != nil {
		return nil, fmt.Errorf("password of %s: %w", n.Name, err)
	}
	if pw != "" {
		cfg.ConnConfig.Password = pw
	}
	cfg.MaxConns = 2
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	cfg.ConnConfig.RuntimeParams["application_name"] = "lifeboat"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", n.Name, err)
	}
	if c.pg == nil {
		c.pg = map[string]*pgxpool.Pool{}
	}
	c.pg[n.Name] = pool
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
	if c.store != nil {
		return c.store, nil
	}
	s, err := objstore.Open(ctx, c.Topology.Backup.Store, c.Secrets.Value)
	if err != nil {
		return nil, err
	}
	c.store = s
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
		return nil, invalidInput("backup.replica", fmt.Sprintf("cluster %s names no replica store", c.Topology.Cluster))
	}
	s, err := objstore.Open(ctx, *c.Topology.Backup.Replica, c.Secrets.Value)
	if err != nil {
		return nil, fmt.Errorf("open replica store: %w", err)
	}
	c.replica = s
	return s, nil
}
