package activities

import (
	"context"
	"fmt"
	"strings"

	"github.com/runnerhub/lifeboat/schemas"
	"go.temporal.io/sdk/activity"
)

// A worker serves its topology's cluster and, derived from it, the
// cluster's failover drill set (schemas.Topology.Resolve).

// Resolve returns the topology of the cluster called name.
func Resolve(main *schemas.Topology, name string) (*schemas.Topology, error) {
	if t, ok := main.Resolve(name); ok {
		return t, nil
	}
	return nil, UnknownCluster(name, main.Cluster)
}

// CheckQueue checks that an activity that reads or writes a region's disks
// or nodes was delivered to that region's workers; field names the input
// that chose the region. Only Lifeboat's own queues are checked, so tests
// may run the activity on a queue of their own.
func CheckQueue(ctx context.Context, field, region string) error {
	if q := activity.GetInfo(ctx).TaskQueue; (q == schemas.GlobalTaskQueue || strings.HasPrefix(q, schemas.RegionTaskQueuePrefix)) &&
		q != schemas.RegionTaskQueue(region) {
		return InvalidInput(field, fmt.Sprintf("%q was sent to task queue %s; it must run on %s", region, q, schemas.RegionTaskQueue(region)))
	}
	return nil
}
