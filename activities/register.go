package activities

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/schemas"
)

// Registry is where a domain registers its activity structs: a worker of
// one task queue. Every exported method of a struct registered becomes an
// activity named after the method.
type Registry interface {
	RegisterActivity(a any)
}

// Queues are the two task queues a worker polls: the global one, where the
// workflows and the activities that may run anywhere go, and its region's,
// for what must run beside the region's nodes and disks.
type Queues struct {
	Global   Registry
	Regional Registry
}

// Deps is what a worker builds the domains' activities from.
type Deps struct {
	Topology *schemas.Topology
	// TopologyPath is the topology file as the PostgreSQL user can reach it.
	TopologyPath string
	// Region is the region the worker runs in.
	Region  string
	Clients *Clients
	Logger  *zap.Logger
	// Metrics is shared by every domain; Prometheus is where a domain
	// registers collectors of its own.
	Metrics    *Metrics
	Prometheus prometheus.Registerer
	Temporal   client.Client
	// ZstdLevel and ZstdThreads tune the compression of backups and file
	// sync; 0 takes the defaults.
	ZstdLevel   int
	ZstdThreads int
	// LifeboatBin is the CLI a restored server's restore_command runs.
	LifeboatBin string
	// MaxFailovers limits the failovers running at once across clusters.
	MaxFailovers int
}
