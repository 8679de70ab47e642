// Package guard runs beside each PostgreSQL node a worker can reach on disk,
// renews the node's lease while it is the published primary and fences it
// when it may no longer be: see Guard.
package guard

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/schemas"
)

// Store finds the routing store.
type Store interface {
	// RoutingStore returns a client of the Redis master holding the
	// routing records; an error means the store cannot be reached now.
	RoutingStore(ctx context.Context) (*redis.Client, error)
}

// Node is the local PostgreSQL node as the guard sees and fences it.
type Node interface {
	// InRecovery asks the running server whether it is a standby; an error
	// means it could not answer.
	InRecovery(ctx context.Context) (bool, error)
	// Running reports whether a postmaster that takes connections runs
	// on the data directory.
	Running(ctx context.Context) (bool, error)
	// Fence stops the server at once and marks it standby, and describes
	// what it did.
	Fence(ctx context.Context) (string, error)
	// Answers opens a connection and runs a query; an error means the
	// server did not answer.
	Answers(ctx context.Context) error
}

// Counters are the guard's metrics; nil counters are not counted.
type Counters interface {
	Fenced(cluster, node, reason string)
	Renewed(cluster, node string)
}

// Guard watches one node. It renews the node's lease in the routing store
// while the node is the published primary, and fences the node (immediate
// stop, standby.signal) when the routing record names another primary, or
// when it has lost the routing store for longer than the lease: a primary
// cut off from the control plane stops taking writes before anyone may
// promote another.
type Guard struct {
	Cluster string
	Node    string
	// Lease is how long a renewal keeps the node writable; the guard checks
	// five times per lease.
	Lease  time.Duration
	Store  Store
	Local  Node
	Logger *zap.Logger
	// Counters may be nil.
	Counters Counters

	lastRenewal time.Time
	// lastAnswer is when the node last answered the guard's probe, or
	// when the guard started.
	lastAnswer time.Time
}

// Interval is the time between two checks: a fifth of the lease.
func (g *Guard) Interval() time.Duration { return g.Lease / 5 }

// Run checks every Interval until ctx ends. While the routing store is out
// of reach, the check that may fence is made at the moment the rule allows,
// not at the next tick, so the fence comes before the lease ends.
func (g *Guard) Run(ctx context.Context) {
	log := g.logger()
	log.Info("node guard started", zap.Duration("lease", g.Lease))
	g.lastAnswer = time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Info("node guard stopped")
			return
		case <-t.C:
		}
		start := time.Now()
		g.Check(ctx)
		// Checks start an interval apart, however long one took.
		next := start.Add(g.Interval())
		if dl := g.deadline(); !dl.IsZero() && time.Now().Before(dl) && dl.Before(next) {
			next = dl
		}
		t.Reset(max(time.Until(next), 0))
	}
}

// deadline is when the routing store's silence becomes a reason to fence,
// or zero when the node holds no lease.
func (g *Guard) deadline() time.Time {
	if g.lastRenewal.IsZero() {
		return time.Time{}
	}
	return g.lastRenewal.Add(g.Lease - g.Interval())
}

// storeTimeout bounds one question to the routing store: an interval, but
// near the deadline only a short last chance.
func (g *Guard) storeTimeout(now time.Time) time.Duration {
	t := g.Interval()
	if dl := g.deadline(); !dl.IsZero() {
		t = min(t, max(dl.Sub(now), g.Interval()/4))
	}
	return t
}

// Check runs one round: ask the routing store, decide, and fence when the
// decision says so. It returns the decision.
func (g *Guard) Check(ctx context.Context) Decision {
	now := time.Now()
	obs := g.observe(ctx, now)
	d := Decide(obs, g.Lease, g.Interval())
	if obs.Reachable && obs.Record == RecordPrimary && obs.ProbeErr == nil {
		g.lastRenewal = now
		if g.Counters != nil {
			g.Counters.Renewed(g.Cluster, g.Node)
		}
	}
	if !d.Fence {
		return d
	}
	log := g.logger().With(zap.String("reason", d.Reason))
	if obs.Reachable {
		log = log.With(zap.Int64("epoch", obs.Epoch), zap.String("primary", obs.Primary), zap.String("fenced", obs.Fenced))
	}
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	how, err := g.Local.Fence(fctx)
	cancel()
	if err != nil {
		// Retried at the next check; the lease keeps running out meanwhile.
		log.Error("node guard could not fence its node", zap.Error(err))
		d.Err = err
		return d
	}
	log.Error("node guard fenced its node", zap.String("how", how))
	if g.Counters != nil {
		g.Counters.Fenced(g.Cluster, g.Node, d.ReasonCode)
	}
	// A fenced node is no longer the primary this guard renewed for. The
	// silence that fenced it starts again: a node given the role back and
	// restarted (a failover that found no candidate undoes its fence) has
	// the lease minus one check to answer before it is fenced again.
	g.lastRenewal = time.Time{}
	g.lastAnswer = time.Now()
	return d
}

// observe gathers what the decision needs: the routing store's answer
// (renewing the lease when the record names this node) and, where it
// matters, the local node's state.
func (g *Guard) observe(ctx context.Context, now time.Time) Observation {
	obs := Observation{SinceRenewal: -1}
	// The probe comes first: the renewal depends on its answer. It has
	// half an interval, so the check still fits in one.
	pctx, cancel := context.WithTimeout(ctx, g.Interval()/2)
	obs.ProbeErr = g.Local.Answers(pctx)
	cancel()
	if g.lastAnswer.IsZero() || obs.ProbeErr == nil {
		g.lastAnswer = now
	}
	obs.SinceAnswer = time.Since(g.lastAnswer)
	if err := g.askStoreWithin(ctx, g.storeTimeout(now), &obs); err != nil {
		obs.Reachable = false
		obs.StoreErr = err
		// Measured once the store has failed to answer, not when it was
		// asked: the silence lasted until now.
		if !g.lastRenewal.IsZero() {
			obs.SinceRenewal = time.Since(g.lastRenewal)
		}
		g.logger().Warn("node guard cannot reach the routing store", zap.Error(err),
			zap.Duration("since_renewal", obs.SinceRenewal))
	}
	if obs.needsLocal() {
		observeLocal(ctx, g.Local, g.Interval(), &obs)
	}
	return obs
}

// observeLocal asks the node whether it is a standby and, unless it is,
// whether a postmaster runs: a stopped primary's control file still says
// "in production", and fencing it (standby.signal) in the middle of a
// rejoin's crash recovery, which runs a single-user server, would make that
// recovery fail.
func observeLocal(ctx context.Context, local Node, timeout time.Duration, obs *Observation) {
	lctx, cancel := context.WithTimeout(ctx, timeout)
	inRecovery, err := local.InRecovery(lctx)
	cancel()
	obs.InRecoveryKnown, obs.InRecovery = err == nil, inRecovery
	if err == nil && inRecovery {
		obs.Running = true
		return
	}
	obs.Running, obs.RunningErr = local.Running(ctx)
}

// checkScript reads the routing record and renews the node's lease when the
// record names it primary and the node answered. KEYS[1] record, KEYS[2]
// lease; ARGV[1] node, ARGV[2] lease in ms, ARGV[3] "1" to renew. It
// answers {state, epoch, primary, fenced}.
var checkScript = redis.NewScript(`
local raw = redis.call('GET', KEYS[1])
if not raw then return {'none', 0, '', ''} end
local rec = cjson.decode(raw)
local primary = rec.primary
if type(primary) ~= 'string' then primary = '' end
local fenced = rec.fenced
if type(fenced) ~= 'string' then fenced = '' end
if primary == ARGV[1] then
  if ARGV[3] == '1' then redis.call('SET', KEYS[2], tostring(rec.epoch), 'PX', ARGV[2]) end
  return {'primary', rec.epoch, primary, fenced}
end
return {'other', rec.epoch, primary, fenced}
`)

// askStoreWithin asks the routing store and stops waiting after timeout,
// whatever the client's own timeouts: a store that does not answer in time
// is out of reach for the rule.
func (g *Guard) askStoreWithin(ctx context.Context, timeout time.Duration, obs *Observation) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type answer struct {
		obs Observation
		err error
	}
	done := make(chan answer, 1)
	go func() {
		a := answer{obs: *obs}
		a.err = g.askStore(ctx, &a.obs)
		done <- a
	}()
	select {
	case a := <-done:
		if a.err == nil {
			*obs = a.obs
		}
		return a.err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %s: %w", timeout, ctx.Err())
	}
}

func (g *Guard) askStore(ctx context.Context, obs *Observation) error {
	rdb, err := g.Store.RoutingStore(ctx)
	if err != nil {
		return err
	}
	v, err := checkScript.Run(ctx, rdb, []string{schemas.RoutingKey(g.Cluster), schemas.LeaseKey(g.Cluster, g.Node)},
		g.Node, g.Lease.Milliseconds(), renewFlag(obs.ProbeErr == nil)).Slice()
	if err != nil {
		return err
	}
	if len(v) != 4 {
		return fmt.Errorf("guard script answered %v", v)
	}
	obs.Reachable = true
	state, _ := v[0].(string)
	obs.Epoch, _ = v[1].(int64)
	obs.Primary, _ = v[2].(string)
	obs.Fenced, _ = v[3].(string)
	switch {
	case state == "none":
		obs.Record = RecordNone
	case state == "primary":
		obs.Record = RecordPrimary
	case obs.Primary != "" || obs.Fenced == g.Node:
		obs.Record = RecordOther
	default:
		obs.Record = RecordUnassigned
	}
	return nil
}

func renewFlag(renew bool) string {
	if renew {
		return "1"
	}
	return "0"
}

func (g *Guard) logger() *zap.Logger {
	l := g.Logger
	if l == nil {
		l = zap.NewNop()
	}
	return l.With(zap.String("cluster", g.Cluster), zap.String("node", g.Node))
}
