package workflows

import (
	"fmt"
	"path"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/schemas"
)

// restoreNonRetryable are the restore errors no retry can fix.

// Restore brings a database backup back as a running server in a region:
// find the backup, unpack it (verified before it reaches the target),
// replay archived WAL up to the point asked for, wait for recovery to end,
// verify with queries, and report the achieved RTO and the point recovered.
func Restore(ctx workflow.Context, in schemas.RestoreInput) (schemas.RestoreResult, error) {
	until, err := validateRestore(in)
	if err != nil {
		return schemas.RestoreResult{}, err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		clusterAttr.ValueSet(in.Cluster), kindAttr.ValueSet("restore")); err != nil {
		return schemas.RestoreResult{}, fmt.Errorf("set search attributes: %w", err)
	}
	start := workflow.Now(ctx)
	steps := stepClock{ctx: ctx, last: start}

	// Version 1 looks up the topology and the backup as local activities:
	// every task queue round trip before the download is RTO.
	fast := workflow.GetVersion(ctx, "restore-local-steps", workflow.DefaultVersion, 1) == 1
	describe := describeCluster
	if fast {
		describe = describeClusterLocal
	}
	topo, err := describe(ctx, in.Cluster)
	if err != nil {
		return schemas.RestoreResult{}, err
	}
	region := in.Region
	if region == "" {
		region = topo.Backup.DRRegion
	}
	if region == "" {
		region = topo.Regions[0].Name
	}
	if _, ok := topo.Region(region); !ok {
		return schemas.RestoreResult{}, invalidInput("region", fmt.Sprintf("%q is not a region of cluster %s (regions: %v)", region, in.Cluster, topo.RegionNames()))
	}

	var r *backup.Restore
	var found schemas.FindBackupResult
	find := schemas.FindBackupInput{Cluster: in.Cluster, Backup: in.Backup, Kind: schemas.BackupDatabase, Before: until, Store: in.Store}
	var finding workflow.Future
	if fast {
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			ScheduleToCloseTimeout: 5 * time.Minute, StartToCloseTimeout: 2 * time.Minute,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, MaximumAttempts: 5, NonRetryableErrorTypes: restoreNonRetryable},
		})
		finding = workflow.ExecuteLocalActivity(lctx, r.FindBackup, find)
	} else {
		gctx := workflow.WithActivityOptions(ctx, shortActivity(schemas.GlobalTaskQueue))
		finding = workflow.ExecuteActivity(withNonRetryable(gctx, restoreNonRetryable), r.FindBackup, find)
	}
	if err := finding.Get(ctx, &found); err != nil {
		return schemas.RestoreResult{}, wrap(err, "find backup")
	}
	m := found.Manifest
	steps.mark("find backup")

	rctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              schemas.RegionTaskQueue(region),
		ScheduleToStartTimeout: 5 * time.Minute,
		StartToCloseTimeout:    12 * time.Hour,
		HeartbeatTimeout:       time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        5 * time.Second,
			MaximumAttempts:        3,
			NonRetryableErrorTypes: restoreNonRetryable,
		},
	})
	var base schemas.RestoreBaseResult
	if err := workflow.ExecuteActivity(rctx, r.RestoreBase, schemas.RestoreBaseInput{
		Cluster: in.Cluster, Manifest: m, DataDir: in.DataDir, Store: in.Store,
	}).Get(ctx, &base); err != nil {
		return schemas.RestoreResult{}, wrap(err, "unpack backup "+m.ID)
	}
	steps.mark("download and unpack")

	var started schemas.StartRestoredResult
	if err := workflow.ExecuteActivity(rctx, r.StartRestored, schemas.StartRestoredInput{
		Cluster: in.Cluster, DataDir: in.DataDir, Port: in.Port, Until: in.Until,
	}).Get(ctx, &started); err != nil {
		return schemas.RestoreResult{}, wrap(err, "recover")
	}
	steps.mark("replay WAL and promote")

	vctx := workflow.WithActivityOptions(ctx, shortActivity(schemas.RegionTaskQueue(region)))
	if err := workflow.ExecuteActivity(vctx, r.VerifyRestored, schemas.VerifyRestoredInput{Port: in.Port}).Get(ctx, nil); err != nil {
		return schemas.RestoreResult{}, wrap(err, "verify restored server")
	}
	steps.mark("verify")

	return schemas.RestoreResult{
		BackupID: m.ID, Region: region, DataDir: in.DataDir, Port: in.Port,
		RecoveredLSN: started.RecoveredLSN, LastCommit: started.LastCommit,
		Seconds: workflow.Now(ctx).Sub(start).Seconds(), Steps: steps.steps, Store: base.Store,
	}, nil
}

// validateRestore checks every field before anything runs; the parsed
// target time is returned for the backup search.
func validateRestore(in schemas.RestoreInput) (*time.Time, error) {
	switch {
	case in.Cluster == "":
		return nil, invalidInput("cluster", "required")
	case in.Backup == "":
		return nil, invalidInput("backup", `required: a backup ID or "latest"`)
	case in.Backup != schemas.LatestBackup && !schemas.BackupIDPattern.MatchString(in.Backup):
		return nil, invalidInput("backup", fmt.Sprintf(`%q is neither "latest" nor a backup ID such as 20261129T052643Z-database`, in.Backup))
	case in.DataDir == "" || !path.IsAbs(in.DataDir):
		return nil, invalidInput("data_dir", "required, an absolute path on the region's worker host")
	case in.Port < 1024 || in.Port > 65535:
		return nil, invalidInput("port", fmt.Sprintf("%d is not a port from 1024 to 65535", in.Port))
	case !slices.Contains(schemas.StoreChoices, in.Store):
		return nil, invalidInput("store", fmt.Sprintf(`%q: want "primary", "replica" or empty for the primary with the replica as fallback`, in.Store))
	}
	if in.Until == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, in.Until)
	if err != nil {
		return nil, invalidInput("until", fmt.Sprintf("%q is not an RFC 3339 time such as 2026-11-29T05:30:00Z", in.Until))
	}
	return &t, nil
}

// stepClock records how long each step of a workflow took.
type stepClock struct {
	ctx   workflow.Context
	last  time.Time
	steps []schemas.Step
}

func (c *stepClock) mark(name string) {
	now := workflow.Now(c.ctx)
	c.steps = append(c.steps, schemas.Step{Name: name, Seconds: now.Sub(c.last).Seconds()})
	c.last = now
}

// withNonRetryable replaces the non-retryable error types of ctx's activity options.
func withNonRetryable(ctx workflow.Context, types []string) workflow.Context {
	opts := workflow.GetActivityOptions(ctx)
	policy := *opts.RetryPolicy
	policy.NonRetryableErrorTypes = types
	opts.RetryPolicy = &policy
	return workflow.WithActivityOptions(ctx, opts)
}
