package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/schemas"
)

// backupInParts takes a files or config backup: one part per region, each
// made by that region's worker from what only it can reach (its disks, its
// nodes), then one manifest listing every part. Backup has set the search
// attributes and read the topology; like a database backup this removes its
// objects when it fails and starts retention when it is done.
func backupInParts(ctx workflow.Context, in schemas.BackupInput, topo schemas.Topology, start time.Time) (schemas.BackupResult, error) {
	regions := BackupRegions(topo, in.Kind)
	if len(regions) == 0 {
		return schemas.BackupResult{}, invalidInput("kind", fmt.Sprintf("cluster %s has nothing to back up as %s", in.Cluster, in.Kind))
	}
	id := schemas.UniqueBackupID(start, in.Kind, workflow.GetInfo(ctx).WorkflowExecution.RunID)
	logger := workflow.GetLogger(ctx)
	logger.Info("backup starting", "backup_id", id, "regions", regions)

	var b *backup.Backup
	// Compensation first, as for a database backup: DeleteBackup removes
	// everything under the backup's prefix, so every part goes.
	succeeded := false
	defer func() { removeUnlessDone(ctx, in.Cluster, id, succeeded) }()

	// The regions run side by side. Every one is waited for, even after one
	// failed, so no upload is still writing when the compensation deletes.
	futures := make([]workflow.Future, len(regions))
	for i, region := range regions {
		actx := workflow.WithActivityOptions(ctx, partOptions(in.Kind, region))
		if in.Kind == schemas.BackupFiles {
			futures[i] = workflow.ExecuteActivity(actx, b.BackupFiles, schemas.BackupFilesInput{Cluster: in.Cluster, ID: id, Region: region})
		} else {
			futures[i] = workflow.ExecuteActivity(actx, b.BackupConfig, schemas.BackupConfigInput{Cluster: in.Cluster, ID: id, Region: region})
		}
	}
	parts := make([]schemas.Manifest, len(regions))
	var skipped []string
	var firstErr error
	for i, f := range futures {
		var err error
		if in.Kind == schemas.BackupFiles {
			var r schemas.BackupFilesResult
			err = f.Get(ctx, &r)
			parts[i] = r.Manifest
			skipped = append(skipped, r.Skipped...)
		} else {
			var r schemas.BackupConfigResult
			err = f.Get(ctx, &r)
			parts[i] = r.Manifest
		}
		if err != nil && firstErr == nil {
			firstErr = wrap(err, fmt.Sprintf("%s backup of region %s", in.Kind, regions[i]))
		}
	}
	if firstErr != nil {
		return schemas.BackupResult{}, firstErr
	}
	if len(skipped) > 0 {
		logger.Warn("files left out of the backup", "backup_id", id, "skipped", skipped)
	}

	m := MergeParts(parts)
	mctx := workflow.WithActivityOptions(ctx, shortActivity(schemas.GlobalTaskQueue))
	if err := workflow.ExecuteActivity(mctx, b.WriteManifest, schemas.WriteManifestInput{Manifest: m}).Get(ctx, nil); err != nil {
		return schemas.BackupResult{}, wrap(err, "write manifest")
	}
	succeeded = true
	if err := replicateBackup(ctx, topo, id); err != nil {
		return schemas.BackupResult{}, err
	}
	logger.Info("backup done", "backup_id", id, "parts", len(m.Parts), "stored_bytes", m.StoredSize)
	startRetention(ctx, in.Cluster)
	return schemas.BackupResult{Manifest: m, Seconds: workflow.Now(ctx).Sub(start).Seconds(), Skipped: skipped}, nil
}

// BackupRegions are the regions that hold something to back up as kind, in
// topology order: for files those with a file tree, for config every region
// with a node.
func BackupRegions(topo schemas.Topology, kind string) []string {
	var out []string
	for _, r := range topo.Regions {
		has := false
		if kind == schemas.BackupFiles {
			for _, t := range topo.Files {
				has = has || t.Region == r.Name
			}
		} else {
			has = len(r.Postgres)+len(r.Redis)+len(r.Sentinels) > 0
		}
		if has {
			out = append(out, r.Name)
		}
	}
	return out
}

// partOptions runs a part on its region's queue. Files may be large and
// heartbeat as they go; configuration is a few kilobytes.
func partOptions(kind, region string) workflow.ActivityOptions {
	o := workflow.ActivityOptions{
		TaskQueue:              schemas.RegionTaskQueue(region),
		ScheduleToStartTimeout: 5 * time.Minute,
		StartToCloseTimeout:    12 * time.Hour,
		HeartbeatTimeout:       backupHeartbeat,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        5 * time.Second,
			MaximumAttempts:        3,
			NonRetryableErrorTypes: nonRetryable,
		},
	}
	if kind == schemas.BackupConfig {
		o.StartToCloseTimeout = 5 * time.Minute
	}
	return o
}

// MergeParts makes the manifest of a backup from the manifests of its parts,
// in region order: every part listed, the first repeated at the top (see
// schemas.Manifest.Parts), the sources joined, the times spanning them all.
func MergeParts(parts []schemas.Manifest) schemas.Manifest {
	m := parts[0]
	m.Parts = nil
	var sources []string
	for _, p := range parts {
		m.Parts = append(m.Parts, p.Parts...)
		if p.Source != "" {
			sources = append(sources, p.Source)
		}
		if p.StartTime.Before(m.StartTime) {
			m.StartTime = p.StartTime
		}
		if p.EndTime.After(m.EndTime) {
			m.EndTime = p.EndTime
		}
	}
	m.Source = strings.Join(sources, ",")
	return m
}
