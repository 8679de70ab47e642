package schemas

import "time"

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
	RetentionWorkflow    = "Retention"
	RestoreWorkflow      = "Restore"
)

// Search attributes the workflows set, all of type Keyword.
const (
	SearchAttrCluster = "LifeboatCluster"
	SearchAttrRegion  = "LifeboatRegion"
	SearchAttrKind    = "LifeboatKind"
	// SearchAttrState is a HealthMonitor's cluster state (healthy, failing_over, ...).
	SearchAttrState = "LifeboatState"
)

// SearchAttributes lists every search attribute the local stack registers.
var SearchAttributes = []string{SearchAttrCluster, SearchAttrRegion, SearchAttrKind, SearchAttrState}

// Default intervals of the backup schedules `lifeboat schedules apply` keeps.
const (
	DatabaseBackupEvery = 4 * time.Hour
	FilesBackupEvery    = 24 * time.Hour
	ConfigBackupEvery   = 24 * time.Hour
)

// BackupRunTimeout bounds one backup run, scheduled or started from the
// CLI. Under a schedule's skip policy a hung run would otherwise silently
// suppress every later one.
const BackupRunTimeout = 24 * time.Hour

// BackupSchedulePrefix is the prefix of every backup schedule of a cluster:
// `lifeboat schedules apply` owns the schedules under it and no others.
func BackupSchedulePrefix(cluster string) string { return "backup/" + cluster + "/" }

// BackupScheduleID names the schedule that backs up kind of cluster. The
// workflows it starts are named after it, with the scheduled time appended.
func BackupScheduleID(cluster, kind string) string { return BackupSchedulePrefix(cluster) + kind }

// RetentionWorkflowID is one ID per cluster, so two retention runs never
// delete side by side.
func RetentionWorkflowID(cluster string) string { return "retention/" + cluster }
