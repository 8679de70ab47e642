package integration

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.uber.org/zap/zaptest"

	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/internal/guard"
	"github.com/runnerhub/lifeboat/internal/pgctl"
	"github.com/runnerhub/lifeboat/schemas"
)

// TestHA_GuardFencesAPrimaryCutOffFromTheRoutingStoreWithinTheLease runs a
// node guard for pg-a1 in this process, with a 5 s lease, whose only way to
// the routing store is a TCP proxy the test controls. While the proxy
// forwards, the guard renews pg-a1's lease and a writer commits on pg-a1
// every 20 ms. Then the proxy turns into a black hole: the guard must stop
// pg-a1 (immediate stop, standby.signal) so that no write commits after the
// lease it last renewed has run out.
func TestHA_GuardFencesAPrimaryCutOffFromTheRoutingStoreWithinTheLease(t *testing.T) {
	h := newHA(t)
	const lease = 5 * time.Second
	marker := time.Now().UnixNano()
	t.Cleanup(func() { h.deleteRows(pgA1, marker) })
	h.takeStack()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	topo := h.testTopology("hatest-guard")
	topo.Failover.Lease = schemas.Duration(lease)
	routing := &ha.Routing{Topology: topo, Clients: h.clients, Logger: zaptest.NewLogger(t)}
	master, err := h.clients.RoutingStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, master.Options().Addr)
	viaProxy := redis.NewClient(&redis.Options{Addr: proxy.addr(), DialTimeout: 300 * time.Millisecond,
		ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond, MaxRetries: -1, PoolSize: 2,
		DisableIdentity: true, MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
	t.Cleanup(func() { viaProxy.Close() })

	node := h.node(pgA1)
	counters := &guardCounters{}
	g := &guard.Guard{
		Cluster: topo.Cluster, Node: pgA1, Lease: lease,
		Store: fixedStore{viaProxy},
		Local: guard.LocalNode{
			Dir: pgctl.Dir{Path: node.DataDir, Bin: devstack.PostgresBinDir},
			Connect: func(ctx context.Context) (*pgx.Conn, error) {
				return h.clients.ConnectPostgres(ctx, node, lease/5, nil)
			},
			StopWait: lease / 10,
		},
		Logger:   zaptest.NewLogger(t),
		Counters: counters,
	}
	if d := g.Check(ctx); d.Fence || d.ReasonCode != "no-record" {
		t.Fatalf("without a routing record the guard decided %+v, want nothing", d)
	}
	if _, err := routing.InitRouting(ctx, schemas.InitRoutingInput{Cluster: topo.Cluster, Primary: pgA1}); err != nil {
		t.Fatal(err)
	}
	gctx, stopGuard := context.WithCancel(ctx)
	guardDone := make(chan struct{})
	go func() { g.Run(gctx); close(guardDone) }()
	t.Cleanup(func() { stopGuard(); <-guardDone })

	w := startWriter(t, ctx, h, marker)
	time.Sleep(2 * lease / 5 * 3) // a few renewals and writes
	if counters.renewals() < 2 || w.lastOK().IsZero() {
		t.Fatalf("before the cut: %d renewals, last write %v; want renewals and writes", counters.renewals(), w.lastOK())
	}

	proxy.blackhole()
	cut := time.Now()
	lastRenewal := counters.lastRenewal()
	for time.Since(cut) < 2*lease && counters.fences() == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	fencedAt := counters.fencedAt()
	if fencedAt.IsZero() {
		t.Fatalf("the guard did not fence pg-a1 within %s of the cut", 2*lease)
	}
	time.Sleep(200 * time.Millisecond) // any write still in flight lands or fails
	last := w.lastOK()
	t.Logf("lease %s; last renewal %s before the cut; fenced %s after the cut, %s after the last renewal; last write committed %s after the last renewal",
		lease, cut.Sub(lastRenewal).Round(time.Millisecond), fencedAt.Sub(cut).Round(time.Millisecond),
		fencedAt.Sub(lastRenewal).Round(time.Millisecond), last.Sub(lastRenewal).Round(time.Millisecond))
	if last.Sub(lastRenewal) >= lease {
		t.Errorf("a write committed %s after the last renewal, past the %s lease", last.Sub(lastRenewal), lease)
	}
	if !w.failedSince(fencedAt) {
		t.Error("no write failed after the fence")
	}
	if s := h.state(ctx, pgA1); s.Running {
		t.Errorf("pg-a1 after the fence is %s, want stopped", s)
	}
	if _, err := os.Stat(filepath.Join(node.DataDir, pgctl.StandbySignal)); err != nil {
		t.Errorf("the fenced pg-a1 has no standby.signal: %v", err)
	}
	if got := counters.reasons(); len(got) != 1 || got[0] != "lease-lost" {
		t.Errorf("fences counted %v, want one lease-lost", got)
	}
}

// fixedStore is a routing store at a fixed address.
type fixedStore struct{ c *redis.Client }

func (s fixedStore) RoutingStore(context.Context) (*redis.Client, error) { return s.c, nil }

// guardCounters records what the guard counts, with times.
type guardCounters struct {
	mu       sync.Mutex
	renewed  []time.Time
	fenced   []time.Time
	byReason []string
}

func (c *guardCounters) Fenced(_, _, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fenced = append(c.fenced, time.Now())
	c.byReason = append(c.byReason, reason)
}

func (c *guardCounters) Renewed(_, _ string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.renewed = append(c.renewed, time.Now())
}

func (c *guardCounters) renewals() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.renewed)
}

func (c *guardCounters) fences() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.fenced)
}

func (c *guardCounters) reasons() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.byReason...)
}

func (c *guardCounters) lastRenewal() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.renewed) == 0 {
		return time.Time{}
	}
	return c.renewed[len(c.renewed)-1]
}

func (c *guardCounters) fencedAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.fenced) == 0 {
		return time.Time{}
	}
	return c.fenced[0]
}

// writer commits a row on pg-a1 every 20 ms and remembers when the last
// commit was acknowledged and when writes failed.
type writer struct {
	mu     sync.Mutex
	ok     time.Time
	failed []time.Time
}

func startWriter(t *testing.T, ctx context.Context, h *haStack, marker int64) *writer {
	w := &writer{}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	if _, err := h.conn(ctx, pgA1).Exec(ctx, `CREATE SCHEMA IF NOT EXISTS lifeboat;
		CREATE TABLE IF NOT EXISTS lifeboat.failover_check (epoch bigint NOT NULL, at timestamptz NOT NULL, writer text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(done)
		var conn *pgx.Conn
		for ctx.Err() == nil {
			var err error
			if conn == nil {
				conn, err = h.clients.ConnectPostgres(ctx, h.node(pgA1), 500*time.Millisecond, nil)
			}
			if err == nil {
				_, err = conn.Exec(ctx, `INSERT INTO lifeboat.failover_check VALUES ($1, now(), 'guard-test')`, marker)
			}
			w.mu.Lock()
			if err == nil {
				w.ok = time.Now()
			} else {
				w.failed = append(w.failed, time.Now())
				if conn != nil {
					conn.Close(context.Background())
					conn = nil
				}
			}
			w.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	return w
}

func (w *writer) lastOK() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ok
}

func (w *writer) failedSince(t time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.failed) > 0 && !w.failed[len(w.failed)-1].Before(t)
}

// proxy forwards TCP connections to a target until it is told to become a
// black hole: then it drops every connection it carried and accepts new
// ones without answering, as a network partition looks to a client.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	holed  bool
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	return startProxyOn(t, "127.0.0.1:0", target)
}

// startProxyOn is startProxy listening on the address listen.
func startProxyOn(t *testing.T, listen, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.closeAll() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			holed := p.holed
			p.mu.Unlock()
			if !holed {
				go p.forward(c)
			}
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) forward(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, up)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

func (p *proxy) blackhole() {
	p.mu.Lock()
	p.holed = true
	p.mu.Unlock()
	p.closeAll()
}

func (p *proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
