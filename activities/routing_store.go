package activities

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/runnerhub/lifeboat/schemas"
)

// SentinelAskTimeout bounds the question to one sentinel: a slow sentinel
// must not delay the answer of the next.
const SentinelAskTimeout = time.Second

// RoutingStore returns a client of the routing store: the Redis master the
// topology's sentinels name under redis.master_name, asked in topology
// order, or the first Redis node when the topology names no sentinel.
func (c *Clients) RoutingStore(ctx context.Context) (*redis.Client, error) {
	addr, err := c.routingMasterAddr(ctx)
	if err != nil {
		return nil, err
	}
	var pw *schemas.Secret
	first := true
	for _, r := range c.Topology.Regions {
		for _, n := range r.Redis {
			if first || n.Addr == addr {
				pw, first = n.Password, false
			}
		}
	}
	return c.Redis("routing-store "+addr, addr, pw)
}

func (c *Clients) routingMasterAddr(ctx context.Context) (string, error) {
	var sentinels []schemas.SentinelNode
	var first string
	for _, r := range c.Topology.Regions {
		sentinels = append(sentinels, r.Sentinels...)
		if first == "" && len(r.Redis) > 0 {
			first = r.Redis[0].Addr
		}
	}
	if len(sentinels) == 0 || c.Topology.Redis == nil {
		if first == "" {
			return "", InvalidInput("redis", fmt.Sprintf("cluster %s names no Redis node for its routing store", c.Topology.Cluster))
		}
		return first, nil
	}
	var errs []error
	for _, n := range sentinels {
		s, err := c.Sentinel(n)
		if err != nil {
			return "", err
		}
		sctx, cancel := context.WithTimeout(ctx, SentinelAskTimeout)
		addr, err := s.GetMasterAddrByName(sctx, c.Topology.Redis.MasterName).Result()
		cancel()
		if err == nil && len(addr) == 2 {
			return net.JoinHostPort(addr[0], addr[1]), nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
	}
	return "", fmt.Errorf("find the routing store (Redis master %s): no sentinel answered: %w",
		c.Topology.Redis.MasterName, errors.Join(errs...))
}
