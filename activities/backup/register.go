package backup

import "github.com/runnerhub/lifeboat/activities"

// Register registers the backup, restore, retention and drill activities on
// both queues (a database backup streams from a node of its region; the
// store-only steps run anywhere), and the level evidence on the global one.
// Every worker reports the cluster's newest backups, read from the store.
func Register(q activities.Queues, d activities.Deps) {
	b := &Backup{Topology: d.Topology, Clients: d.Clients, Logger: d.Logger, Level: d.ZstdLevel, Concurrency: d.ZstdThreads}
	r := &Restore{Topology: d.Topology, Clients: d.Clients, Logger: d.Logger,
		LifeboatBin: d.LifeboatBin, TopologyPath: d.TopologyPath, Metrics: d.Metrics}
	for _, reg := range []activities.Registry{q.Global, q.Regional} {
		reg.RegisterActivity(b)
		reg.RegisterActivity(r)
		reg.RegisterActivity(&Drill{Restore: r})
	}
	q.Global.RegisterActivity(&Retention{Topology: d.Topology, Clients: d.Clients, Logger: d.Logger})
	q.Global.RegisterActivity(&Evidence{Topology: d.Topology, Clients: d.Clients, Temporal: d.Temporal, Logger: d.Logger})
	d.Prometheus.MustRegister(BackupCollector(b))
}
