package workflows

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/schemas"
)

// backupHeartbeat is how long an upload may go silent before Temporal
// declares its worker dead and retries it elsewhere.
const backupHeartbeat = 30 * time.Second

// Backup takes one backup of a cluster into its object store and writes the
// manifest last: until the manifest exists the backup does not. A backup that
// fails after uploading data removes what it uploaded.
func Backup(ctx workflow.Context, in schemas.BackupInput) (schemas.BackupResult, error) {
	if in.Cluster == "" {
		return schemas.BackupResult{}, invalidInput("cluster", "required")
	}
	if !slices.Contains(schemas.BackupKinds, in.Kind) {
		return schemas.BackupResult{}, invalidInput("kind", fmt.Sprintf("%q: want one of %v", in.Kind, schemas.BackupKinds))
	}
	if in.Kind != schemas.BackupDatabase && in.Source != "" {
		return schemas.BackupResult{}, invalidInput("source", fmt.Sprintf("names a PostgreSQL node; a %s backup reads every region", in.Kind))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		clusterAttr.ValueSet(in.Cluster), kindAttr.ValueSet("backup-"+in.Kind)); err != nil {
		return schemas.BackupResult{}, fmt.Errorf("set search attributes: %w", err)
	}
	start := workflow.Now(ctx)
	// Version 1 runs the short steps around the upload (the topology, the
	// manifest) as local activities: a backup is measured against the raw
	// pipeline, and each task queue round trip is time it does not spend.
	fast := workflow.GetVersion(ctx, "backup-local-steps", workflow.DefaultVersion, 1) == 1
	describe := describeCluster
	if fast {
		describe = describeClusterLocal
	}
	topo, err := describe(ctx, in.Cluster)
	if err != nil {
		return schemas.BackupResult{}, err
	}
	if in.Kind != schemas.BackupDatabase {
		return backupInParts(ctx, in, topo, start)
	}

	health := Summarize(topo, probeSources(ctx, topo))
	// From version 1 on, a quorum standby is as synchronous a source as a
	// sync one; runs started before count sync standbys only, as they did.
	if workflow.GetVersion(ctx, "backup-source-quorum", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		for i := range health.Nodes {
			health.Nodes[i].Synchronous = health.Nodes[i].SyncState == schemas.SyncStateSync
		}
	}
	source, err := ChooseBackupSource(topo, health, in.Source)
	if err != nil {
		return schemas.BackupResult{}, err
	}
	id := schemas.UniqueBackupID(start, in.Kind, workflow.GetInfo(ctx).WorkflowExecution.RunID)
	logger := workflow.GetLogger(ctx)
	logger.Info("backup starting", "backup_id", id, "source", source.Name, "region", source.Region)

	var b *backup.Backup
	// Compensation first: whatever the upload leaves behind is removed if
	// the backup does not finish.
	succeeded := false
	defer func() { removeUnlessDone(ctx, in.Cluster, id, succeeded) }()

	uctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              schemas.RegionTaskQueue(source.Region),
		ScheduleToStartTimeout: 5 * time.Minute,
		StartToCloseTimeout:    12 * time.Hour,
		HeartbeatTimeout:       backupHeartbeat,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        5 * time.Second,
			MaximumAttempts:        3,
			NonRetryableErrorTypes: nonRetryable,
		},
	})
	var data schemas.BackupDatabaseResult
	err = workflow.ExecuteActivity(uctx, b.BackupDatabase, schemas.BackupDatabaseInput{
		Cluster: in.Cluster, ID: id, Source: source.Name,
	}).Get(ctx, &data)
	if err != nil {
		return schemas.BackupResult{}, wrap(err, "stream base backup of "+source.Name)
	}

	manifest := schemas.WriteManifestInput{Manifest: data.Manifest}
	var written workflow.Future
	if fast {
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			ScheduleToCloseTimeout: 5 * time.Minute, StartToCloseTimeout: time.Minute,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 5, NonRetryableErrorTypes: nonRetryable},
		})
		written = workflow.ExecuteLocalActivity(lctx, b.WriteManifest, manifest)
	} else {
		written = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, shortActivity(schemas.GlobalTaskQueue)), b.WriteManifest, manifest)
	}
	if err := written.Get(ctx, nil); err != nil {
		return schemas.BackupResult{}, wrap(err, "write manifest")
	}
	succeeded = true
	if err := replicateBackup(ctx, topo, id); err != nil {
		return schemas.BackupResult{}, err
	}
	logger.Info("backup done", "backup_id", id, "stored_bytes", data.Manifest.StoredSize)
	startRetention(ctx, in.Cluster)
	return schemas.BackupResult{Manifest: data.Manifest, Seconds: workflow.Now(ctx).Sub(start).Seconds()}, nil
}

// probeSources reads the state of the PostgreSQL nodes to choose a
// backup's source. From version 1 on a local activity probes just them
// from this worker, which saves the two regions' probes their task queue
// round trips and Redis, Sentinel and store checks; a failed local probe
// falls back to the regions' probes.
func probeSources(ctx workflow.Context, topo schemas.Topology) []schemas.ProbeRegionResult {
	if workflow.GetVersion(ctx, "backup-probe-sources", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return probeCluster(ctx, topo)
	}
	var b *backup.Backup
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: 30 * time.Second, StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, MaximumAttempts: 2, NonRetryableErrorTypes: nonRetryable},
	})
	var res schemas.ProbeSourcesResult
	if err := workflow.ExecuteLocalActivity(lctx, b.ProbeSources, schemas.ProbeSourcesInput{Cluster: topo.Cluster}).Get(ctx, &res); err != nil {
		workflow.GetLogger(ctx).Warn("local probe of the PostgreSQL nodes failed; probing each region", "error", err)
		return probeCluster(ctx, topo)
	}
	return res.Regions
}

// nonRetryable are the error types no retry can fix.

// shortActivity is the options of a quick activity against the store.
func shortActivity(queue string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:           queue,
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        2 * time.Second,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: nonRetryable,
		},
	}
}

// ChooseBackupSource picks the node to copy. A replica spares the primary
// the read load; the synchronous one holds every acknowledged commit, so it
// comes first, then the least lagging. Only when no replica is healthy is
// the primary used. A named source must exist and be healthy.
func ChooseBackupSource(topo schemas.Topology, health schemas.CheckClusterResult, requested string) (schemas.NodeHealth, error) {
	var pg []schemas.NodeHealth
	for _, n := range health.Nodes {
		if n.Kind == schemas.KindPostgres {
			pg = append(pg, n)
		}
	}
	if requested != "" {
		for _, n := range pg {
			if n.Name != requested {
				continue
			}
			if !n.Healthy {
				return n, failure(schemas.ErrInvalidInput, fmt.Sprintf("source %s is not healthy: %s", n.Name, n.Error), nil)
			}
			return n, nil
		}
		return schemas.NodeHealth{}, invalidInput("source", fmt.Sprintf("%q is not a PostgreSQL node of cluster %s", requested, topo.Cluster))
	}
	var replicas []schemas.NodeHealth
	for _, n := range pg {
		if n.Healthy && n.Role == schemas.RoleReplica {
			replicas = append(replicas, n)
		}
	}
	sort.SliceStable(replicas, func(i, j int) bool {
		a, b := replicas[i], replicas[j]
		if a.Synchronous != b.Synchronous {
			return a.Synchronous
		}
		if la, lb := lagOf(a), lagOf(b); la != lb {
			return la < lb
		}
		return a.Name < b.Name
	})
	if len(replicas) > 0 {
		return replicas[0], nil
	}
	for _, n := range pg {
		if n.Healthy && n.Role == schemas.RolePrimary {
			return n, nil
		}
	}
	return schemas.NodeHealth{}, failure(schemas.ErrNoBackupSource, "no healthy PostgreSQL node to back up: "+fmt.Sprint(health.Problems), nil)
}

func lagOf(n schemas.NodeHealth) int64 {
	if n.LagBytes == nil {
		return 1 << 62
	}
	return *n.LagBytes
}

// startRetention starts the cluster's retention as a child that outlives
// this workflow. Its ID is one per cluster, so when a run is already going
// this backup leaves it to that one.
func startRetention(ctx workflow.Context, cluster string) {
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:         schemas.RetentionWorkflowID(cluster),
		TaskQueue:          schemas.GlobalTaskQueue,
		ParentClosePolicy:  enums.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowRunTimeout: time.Hour,
	})
	child := workflow.ExecuteChildWorkflow(cctx, schemas.RetentionWorkflow, schemas.RetentionInput{Cluster: cluster})
	if err := child.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Info("retention not started: one is running already, or it could not start", "error", err)
	}
}

// removeUnlessDone deletes every object of backup id unless it finished. It
// runs in a disconnected context, so a cancelled workflow still cleans up.
func removeUnlessDone(ctx workflow.Context, cluster, id string, done bool) {
	if done {
		return
	}
	var b *backup.Backup
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	dctx = workflow.WithActivityOptions(dctx, shortActivity(schemas.GlobalTaskQueue))
	if err := workflow.ExecuteActivity(dctx, b.DeleteBackup, schemas.DeleteBackupInput{Cluster: cluster, ID: id}).Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("could not remove the objects of a failed backup", "backup_id", id, "error", err)
	}
}
