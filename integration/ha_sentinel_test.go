package integration

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/schemas"
)

// TestHA_SentinelFailoverMovesTheRedisMasterAndTheRoutingStoreFollows asks
// the stack's sentinels to fail over, through a topology whose first
// sentinel does not answer: the next one accepts, the master moves to the
// replica, and the routing store the activities use moves with it. The
// test then fails back the same way, leaving redis-a1 the master.
func TestHA_SentinelFailoverMovesTheRedisMasterAndTheRoutingStoreFollows(t *testing.T) {
	h := newHA(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	topo := *h.topo
	topo.Regions = append([]schemas.Region(nil), h.topo.Regions...)
	topo.Regions[0].Sentinels = append([]schemas.SentinelNode{{Name: "sentinel-silent", Addr: closedPortAddr(t)}}, topo.Regions[0].Sentinels...)
	clients := &activities.Clients{Topology: &topo, Secrets: stackSecrets()}
	t.Cleanup(clients.Close)
	r := &ha.Routing{Topology: &topo, Clients: clients, Logger: zaptest.NewLogger(t)}

	first := h.redisMaster(ctx)
	if first != addrOf(devstack.RedisA1Port) {
		t.Fatalf("the Redis master is %s before the test, want redis-a1 (%s)", first, addrOf(devstack.RedisA1Port))
	}
	moveMaster := func(from, to string) {
		t.Helper()
		start := time.Now()
		var res schemas.SentinelFailoverResult
		var err error
		// Right after a failover Sentinel refuses another (INPROG,
		// NOGOODSLAVE) until it has seen the new replica: that is the
		// retryable error a workflow's retry policy waits out.
		for range 60 {
			if res, err = r.SentinelFailover(ctx, schemas.SentinelFailoverInput{Cluster: topo.Cluster}); err == nil {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("SentinelFailover: %v", err)
		}
		if res.Sentinel == "sentinel-silent" || res.Sentinel == "" {
			t.Errorf("SentinelFailover accepted by %q", res.Sentinel)
		}
		for h.redisMaster(ctx) != to || !h.redisLinked(ctx, from) {
			if time.Since(start) > 40*time.Second {
				t.Fatalf("the master did not move from %s to %s (sentinels say %s)", from, to, h.redisMaster(ctx))
			}
			time.Sleep(200 * time.Millisecond)
		}
		store, err := clients.RoutingStore(ctx)
		if err != nil || store.Options().Addr != to {
			t.Errorf("routing store after the failover = %v, %v; want %s", store, err, to)
		}
		t.Logf("SentinelFailover accepted by %s; master %s -> %s, old master linked as replica, in %s",
			res.Sentinel, from, to, time.Since(start).Round(time.Millisecond))
	}
	second := addrOf(devstack.RedisB1Port)
	t.Cleanup(func() {
		if m := h.redisMaster(context.Background()); m != first {
			moveMaster(m, first)
		}
	})
	moveMaster(first, second)
	moveMaster(second, first)
}

func addrOf(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

func closedPortAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// redisMaster is the master every sentinel names, or "" while they differ.
func (h *haStack) redisMaster(ctx context.Context) string {
	master := ""
	for _, r := range h.topo.Regions {
		for _, s := range r.Sentinels {
			c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr, DialTimeout: time.Second, ReadTimeout: time.Second})
			addr, err := c.GetMasterAddrByName(ctx, h.topo.Redis.MasterName).Result()
			c.Close()
			if err != nil || len(addr) != 2 {
				return ""
			}
			got := net.JoinHostPort(addr[0], addr[1])
			if master != "" && got != master {
				return ""
			}
			master = got
		}
	}
	return master
}

// redisLinked reports whether the server at addr is a replica whose link
// to its master is up.
func (h *haStack) redisLinked(ctx context.Context, addr string) bool {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return false
	}
	m := ha.ParseRedisInfo(info)
	return m["role"] == "slave" && m["master_link_status"] == "up"
}
