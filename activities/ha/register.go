package ha

import "github.com/runnerhub/lifeboat/activities"

// Register registers the high-availability activities: the routing record,
// failover slots and the cluster's description on the global queue, where
// any worker may take them; probes, fencing, promotion and rejoining on the
// region's queue, beside the nodes.
func Register(q activities.Queues, d activities.Deps) {
	q.Global.RegisterActivity(&Cluster{Topology: d.Topology})
	q.Global.RegisterActivity(&Routing{Topology: d.Topology, Clients: d.Clients, Logger: d.Logger, Metrics: d.Metrics})
	q.Global.RegisterActivity(&Control{Client: d.Temporal, MaxFailovers: d.MaxFailovers})
	q.Regional.RegisterActivity(&Probe{Topology: d.Topology, Region: d.Region, Clients: d.Clients, Logger: d.Logger, Metrics: d.Metrics})
	q.Regional.RegisterActivity(&Nodes{Topology: d.Topology, Region: d.Region, Clients: d.Clients, Logger: d.Logger, PGBin: d.Topology.Failover.PGBin})
}
