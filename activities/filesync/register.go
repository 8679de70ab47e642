package filesync

import "github.com/runnerhub/lifeboat/activities"

// Register registers the file-sync activities on both queues: a sync scans
// and sends in the tree's region and writes in the copy's. Its lag metric
// covers the copies this region writes.
func Register(q activities.Queues, d activities.Deps) {
	f := &FileSync{Topology: d.Topology, Clients: d.Clients, Logger: d.Logger, Region: d.Region, Level: d.ZstdLevel}
	q.Global.RegisterActivity(f)
	q.Regional.RegisterActivity(f)
	d.Prometheus.MustRegister(FileSyncCollector(f))
}
