package ha

import (
	"context"
	"fmt"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/schemas"
)

// ResetDrillRouting clears a failover drill set's routing record and its
// leases, so each drill starts at epoch 1, and, when in.Primary is set,
// creates the record naming it. It refuses every cluster but the drill set
// of this worker's own: production's record is never touched. The drill
// set's history is kept, as evidence of its drills.
func (r *Routing) ResetDrillRouting(ctx context.Context, in schemas.ResetDrillRoutingInput) (schemas.ResetDrillRoutingResult, error) {
	if in.Cluster != schemas.DrillClusterName(r.Topology.Cluster) {
		return schemas.ResetDrillRoutingResult{}, activities.InvalidInput("cluster",
			fmt.Sprintf("%q is not the failover drill set %s", in.Cluster, schemas.DrillClusterName(r.Topology.Cluster)))
	}
	rdb, err := r.store(ctx, in.Cluster)
	if err != nil {
		return schemas.ResetDrillRoutingResult{}, err
	}
	leases, err := rdb.Keys(ctx, schemas.LeaseKey(in.Cluster, "*")).Result()
	if err != nil {
		return schemas.ResetDrillRoutingResult{}, fmt.Errorf("list leases of %s: %w", in.Cluster, err)
	}
	if err := rdb.Del(ctx, append(leases, schemas.RoutingKey(in.Cluster))...).Err(); err != nil {
		return schemas.ResetDrillRoutingResult{}, fmt.Errorf("clear routing record of %s: %w", in.Cluster, err)
	}
	if in.Primary == "" {
		return schemas.ResetDrillRoutingResult{}, nil
	}
	init, err := r.InitRouting(ctx, schemas.InitRoutingInput{Cluster: in.Cluster, Primary: in.Primary})
	if err != nil {
		return schemas.ResetDrillRoutingResult{}, err
	}
	return schemas.ResetDrillRoutingResult{Record: &init.Record}, nil
}
