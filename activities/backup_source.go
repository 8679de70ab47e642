package activities

import (
	"context"
	"sync"

	"github.com/runnerhub/lifeboat/schemas"
)

// ProbeSources checks every PostgreSQL node of the cluster once,
// concurrently, from the worker it runs on: what a database backup needs
// to choose its source, without the Redis, Sentinel and store checks of a
// region's probe. The Backup workflow runs it as a local activity, so the
// choice costs no task queue round trip.
func (b *Backup) ProbeSources(ctx context.Context, in schemas.ProbeSourcesInput) (schemas.ProbeSourcesResult, error) {
	topo, err := resolve(b.Topology, in.Cluster)
	if err != nil {
		return schemas.ProbeSourcesResult{}, err
	}
	p := &Probe{Topology: topo, Clients: b.Clients, Logger: b.Logger}
	res := schemas.ProbeSourcesResult{Regions: make([]schemas.ProbeRegionResult, len(topo.Regions))}
	var wg sync.WaitGroup
	for i, r := range topo.Regions {
		var checks []nodeCheck
		for _, n := range r.Postgres {
			checks = append(checks, func(ctx context.Context) schemas.NodeHealth { return p.probePostgres(ctx, n) })
		}
		wg.Go(func() {
			res.Regions[i] = schemas.ProbeRegionResult{Region: r.Name, Nodes: p.checkNodes(ctx, r.Name, checks, nodeTimeout)}
		})
	}
	wg.Wait()
	return res, nil
}
