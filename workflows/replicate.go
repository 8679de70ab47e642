package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/schemas"
)

// replicateNonRetryable are the errors no retry of a replication can fix:
// a copy that does not verify, or a backup that is not there to copy.

// replicateBackup copies a finished backup to the topology's replica store,
// from a worker of the region nearest the replica, when the topology names
// one. A failure fails the workflow but keeps the backup: it is whole in the
// primary store, and ReplicateBackup run again completes the copy.
func replicateBackup(ctx workflow.Context, topo schemas.Topology, id string) error {
	if topo.Backup.Replica == nil {
		return nil
	}
	queue := schemas.GlobalTaskQueue
	if r := topo.Backup.CopyRegion(); r != "" {
		queue = schemas.RegionTaskQueue(r)
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              queue,
		ScheduleToStartTimeout: 5 * time.Minute,
		StartToCloseTimeout:    12 * time.Hour,
		HeartbeatTimeout:       backupHeartbeat,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        5 * time.Second,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: replicateNonRetryable,
		},
	})
	var b *backup.Backup
	var res schemas.ReplicateBackupResult
	if err := workflow.ExecuteActivity(actx, b.ReplicateBackup, schemas.ReplicateBackupInput{Cluster: topo.Cluster, ID: id}).Get(ctx, &res); err != nil {
		return wrap(err, "replicate backup "+id+" to the replica store (the backup is whole in the primary store)")
	}
	workflow.GetLogger(ctx).Info("backup replicated", "backup_id", id, "replica", res.Replica,
		"copied", len(res.Copied), "verified", len(res.Verified), "bytes", res.Bytes)
	return nil
}
