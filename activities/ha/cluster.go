package ha

import (
	"context"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/schemas"
)

// Cluster answers questions about the cluster this worker protects.
type Cluster struct {
	Topology *schemas.Topology
}

// DescribeCluster returns the topology of the named cluster, so workflows can
// plan per region without reading files themselves.
func (c *Cluster) DescribeCluster(_ context.Context, in schemas.DescribeClusterInput) (schemas.DescribeClusterResult, error) {
	if in.Cluster == "" {
		return schemas.DescribeClusterResult{}, activities.InvalidInput("cluster", "required")
	}
	t, err := activities.Resolve(c.Topology, in.Cluster)
	if err != nil {
		return schemas.DescribeClusterResult{}, err
	}
	return schemas.DescribeClusterResult{Topology: *t}, nil
}
