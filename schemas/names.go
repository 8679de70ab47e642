package schemas

// Task queues. Workflows run on the global queue; activities that touch a
// region's hosts run on that region's queue.
const (
	GlobalTaskQueue = "lifeboat"
	// RegionTaskQueuePrefix + region name is a region's task queue.
	RegionTaskQueuePrefix = "lifeboat-"
)

// RegionTaskQueue returns the task queue of the workers in region.
func RegionTaskQueue(region string) string { return RegionTaskQueuePrefix + region }

// Workflow type names, as started from the CLI, the Web UI or `temporal workflow start`.
const (
	CheckClusterWorkflow = "CheckCluster"
	BackupWorkflow       = "Backup"
)

// Search attributes the workflows set, all of type Keyword.
const (
	SearchAttrCluster = "LifeboatCluster"
	SearchAttrRegion  = "LifeboatRegion"
	SearchAttrKind    = "LifeboatKind"
)

// SearchAttributes lists every search attribute the local stack registers.
var SearchAttributes = []string{SearchAttrCluster, SearchAttrRegion, SearchAttrKind}

// Error types of non-retryable application errors.
const (
	// ErrInvalidInput marks a workflow or activity input that does not validate.
	ErrInvalidInput = "InvalidInput"
	// ErrUnknownCluster marks a cluster name no worker's topology defines.
	ErrUnknownCluster = "UnknownCluster"
	// ErrCorrupt marks stored data whose size or checksum is wrong.
	ErrCorrupt = "Corrupt"
)
