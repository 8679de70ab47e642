package backup

import (
	"context"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/schemas"
)

// ProbeSources checks every PostgreSQL node of the cluster once,
// concurrently, from the worker it runs on: what a database backup needs
// to choose its source, without the Redis, Sentinel and store checks of a
// region's probe. The Backup workflow runs it as a local activity, so the
// choice costs no task queue round trip.
func (b *Backup) ProbeSources(ctx context.Context, in schemas.ProbeSourcesInput) (schemas.ProbeSourcesResult, error) {
	topo, err := activities.Resolve(b.Topology, in.Cluster)
	if err != nil {
		return schemas.ProbeSourcesResult{}, err
	}
	return schemas.ProbeSourcesResult{Regions: ha.CheckPostgres(ctx, topo, b.Clients, b.Logger)}, nil
}
