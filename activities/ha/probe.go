package ha

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/schemas"
)

// nodeTimeout bounds one probe of one node: a node slower than this is as
// good as down for failover purposes.
const nodeTimeout = 3 * time.Second

// Probe checks the nodes of the worker's own region. Its clients outlive each
// call, so repeated probes measure the query, not the handshake.
type Probe struct {
	Topology *schemas.Topology
	Region   string
	Clients  *activities.Clients
	Logger   *zap.Logger
	// Metrics may be nil.
	Metrics *activities.Metrics
}

// ProbeRegion checks every node of the region once, concurrently, and the
// object store as seen from the region. An unreachable node is a result, not
// an error: the error return is kept for a probe that could not run at all.
func (p *Probe) ProbeRegion(ctx context.Context, in schemas.ProbeRegionInput) (schemas.ProbeRegionResult, error) {
	p, err := serving(p, in.Cluster)
	if err != nil {
		return schemas.ProbeRegionResult{}, err
	}
	if in.Cluster != p.Topology.Cluster {
		return schemas.ProbeRegionResult{}, activities.UnknownCluster(in.Cluster, p.Topology.Cluster)
	}
	if in.Region != p.Region {
		return schemas.ProbeRegionResult{}, activities.InvalidInput("region",
			fmt.Sprintf("%q was sent to the worker of region %q; check the task queue", in.Region, p.Region))
	}
	region, ok := p.Topology.Region(in.Region)
	if !ok {
		return schemas.ProbeRegionResult{}, activities.InvalidInput("region", fmt.Sprintf("%q is not in the topology", in.Region))
	}

	nodes := p.checkNodes(ctx, in.Region, p.regionChecks(region, nil), nodeTimeout)
	return schemas.ProbeRegionResult{Region: in.Region, Nodes: nodes}, nil
}

// nodeCheck probes one node once.
type nodeCheck func(context.Context) schemas.NodeHealth

// regionChecks returns a check of every node of region, of the object store,
// and of the extra PostgreSQL nodes (of other regions) the caller watches.
func (p *Probe) regionChecks(region schemas.Region, extra []schemas.PostgresNode) []nodeCheck {
	var checks []nodeCheck
	for _, n := range region.Postgres {
		checks = append(checks, func(ctx context.Context) schemas.NodeHealth { return p.probePostgres(ctx, n) })
	}
	for _, n := range extra {
		checks = append(checks, func(ctx context.Context) schemas.NodeHealth {
			h := p.probePostgres(ctx, n)
			h.Region, _ = p.Topology.NodeRegion(n.Name)
			return h
		})
	}
	for _, n := range region.Redis {
		checks = append(checks, func(ctx context.Context) schemas.NodeHealth { return p.probeRedis(ctx, n) })
	}
	if p.Topology.Redis != nil {
		for _, n := range region.Sentinels {
			checks = append(checks, func(ctx context.Context) schemas.NodeHealth {
				return p.probeSentinel(ctx, n, p.Topology.Redis.MasterName)
			})
		}
	}
	return append(checks, p.probeStore)
}

// checkNodes runs every check concurrently, each bounded by timeout, and
// stamps each result with the probing region and its latency.
func (p *Probe) checkNodes(ctx context.Context, region string, checks []nodeCheck, timeout time.Duration) []schemas.NodeHealth {
	nodes := make([]schemas.NodeHealth, len(checks))
	var wg sync.WaitGroup
	for i, check := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			h := check(cctx)
			if h.Region == "" {
				h.Region = region
			}
			h.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
			p.observe(h, time.Since(start))
			nodes[i] = h
		})
	}
	wg.Wait()
	return nodes
}

func (p *Probe) observe(h schemas.NodeHealth, took time.Duration) {
	if p.Metrics == nil {
		return
	}
	cluster := p.Topology.Cluster
	p.Metrics.ProbeLatency.WithLabelValues(cluster, h.Kind).Observe(took.Seconds())
	up := 0.0
	if h.Healthy {
		up = 1
	}
	p.Metrics.NodeUp.WithLabelValues(cluster, h.Region, h.Name, h.Kind).Set(up)
	for _, s := range h.Standbys {
		p.Metrics.LagBytes.WithLabelValues(cluster, s.ApplicationName).Set(float64(s.ReplayLagBytes))
	}
	p.Metrics.ObserveNodeLag(cluster, h)
}

// StoreNodeName names the object store in health reports.
const StoreNodeName = "backup-store"

func (p *Probe) probeStore(ctx context.Context) schemas.NodeHealth {
	h := schemas.NodeHealth{Name: StoreNodeName, Kind: schemas.KindStore, Role: schemas.RoleStore}
	s, err := p.Clients.Store(ctx)
	if err != nil {
		h.Error = err.Error()
		return h
	}
	h.Bucket = objstore.BucketOf(s)
	if err := s.Ping(ctx); err != nil {
		h.Error = err.Error()
		return h
	}
	h.Healthy = true
	return h
}

// CheckPostgres checks every PostgreSQL node of topo once, concurrently,
// region by region: what a database backup needs to choose its source,
// without a region probe's Redis, Sentinel and store checks.
func CheckPostgres(ctx context.Context, topo *schemas.Topology, clients *activities.Clients, logger *zap.Logger) []schemas.ProbeRegionResult {
	p := &Probe{Topology: topo, Clients: clients, Logger: logger}
	res := make([]schemas.ProbeRegionResult, len(topo.Regions))
	var wg sync.WaitGroup
	for i, r := range topo.Regions {
		var checks []nodeCheck
		for _, n := range r.Postgres {
			checks = append(checks, func(ctx context.Context) schemas.NodeHealth { return p.probePostgres(ctx, n) })
		}
		wg.Go(func() {
			res[i] = schemas.ProbeRegionResult{Region: r.Name, Nodes: p.checkNodes(ctx, r.Name, checks, nodeTimeout)}
		})
	}
	wg.Wait()
	return res
}
