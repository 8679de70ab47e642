package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/policy"
	"github.com/runnerhub/lifeboat/schemas"
)

// deleteBatch is how many keys one DeleteObjects call gets, which keeps each
// input far below Temporal's payload limit.
const deleteBatch = 1000

// Retention applies a cluster's retention policy to its store: it lists
// every backup and archived WAL file, plans in the workflow what goes (the
// plan is pure and in the history), and unless DryRun deletes it, manifests
// first. It never deletes the newest valid backup of a kind, a backup whose
// manifest cannot be read, WAL that a kept database backup needs, or an
// orphan younger than schemas.OrphanMinAge.
func Retention(ctx workflow.Context, in schemas.RetentionInput) (schemas.RetentionResult, error) {
	if in.Cluster == "" {
		return schemas.RetentionResult{}, invalidInput("cluster", "required")
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		clusterAttr.ValueSet(in.Cluster), kindAttr.ValueSet("retention")); err != nil {
		return schemas.RetentionResult{}, fmt.Errorf("set search attributes: %w", err)
	}
	topo, err := describeCluster(ctx, in.Cluster)
	if err != nil {
		return schemas.RetentionResult{}, err
	}
	policy := topo.Backup.Retention.Policy()
	if err := policy.Check(); err != nil {
		var ps schemas.Problems
		if errors.As(err, &ps) && len(ps) > 0 {
			return schemas.RetentionResult{}, invalidInput(ps[0].Path, ps[0].Message)
		}
		return schemas.RetentionResult{}, invalidInput("backup.retention", err.Error())
	}

	var a *backup.Retention
	lctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           schemas.GlobalTaskQueue,
		StartToCloseTimeout: 10 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        2 * time.Second,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: nonRetryable,
		},
	})
	var list schemas.ListBackupsResult
	if err := workflow.ExecuteActivity(lctx, a.ListBackups, schemas.ListBackupsInput{Cluster: in.Cluster}).Get(ctx, &list); err != nil {
		return schemas.RetentionResult{}, wrap(err, "list backups")
	}

	res, keys := PlanRetentionRun(in.Cluster, list, policy, workflow.Now(ctx))
	res.DryRun = in.DryRun
	logger := workflow.GetLogger(ctx)
	logger.Info("retention planned", "kept", len(res.Kept), "removed", len(res.Removed),
		"wal_removed", res.WALRemoved, "objects", len(keys), "dry_run", in.DryRun)
	if in.DryRun {
		return res, nil
	}

	dctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           schemas.GlobalTaskQueue,
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        2 * time.Second,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: nonRetryable,
		},
	})
	// Batches run one after another, in the plan's order: every manifest is
	// gone before any data is.
	for start := 0; start < len(keys); start += deleteBatch {
		batch := keys[start:min(start+deleteBatch, len(keys))]
		var out schemas.DeleteObjectsResult
		if err := workflow.ExecuteActivity(dctx, a.DeleteObjects, schemas.DeleteObjectsInput{Cluster: in.Cluster, Keys: batch}).Get(ctx, &out); err != nil {
			return res, wrap(err, fmt.Sprintf("delete objects (%d of %d done)", res.DeletedObjects, len(keys)))
		}
		res.DeletedObjects += out.Deleted
	}
	logger.Info("retention done", "deleted_objects", res.DeletedObjects)
	return res, nil
}

// PlanRetentionRun decides, from a listing, everything one Retention run
// keeps and removes, and returns the keys to delete in the order they must
// go: manifests of removed backups, then their other objects, then old
// orphans, then WAL records, then WAL data. It is pure: same listing, same
// policy, same now, same plan.
func PlanRetentionRun(cluster string, list schemas.ListBackupsResult, rules schemas.RetentionPolicy, now time.Time) (schemas.RetentionResult, []string) {
	res := schemas.RetentionResult{Cluster: cluster, Policy: rules, PlannedAt: now.UTC(),
		Kept: []schemas.BackupSummary{}, Removed: []schemas.BackupSummary{}}
	manifests := make([]schemas.Manifest, len(list.Backups))
	keysOf := make(map[string][]string, len(list.Backups))
	for i, b := range list.Backups {
		manifests[i] = b.Manifest
		keysOf[b.Manifest.ID] = b.Keys
	}
	keep, remove, reasons := policy.PlanRetention(manifests, rules, now)
	summary := func(m schemas.Manifest) schemas.BackupSummary {
		return schemas.BackupSummary{ID: m.ID, Kind: m.Kind, EndTime: m.EndTime.UTC(), Reason: reasons[m.ID]}
	}
	for _, m := range keep {
		res.Kept = append(res.Kept, summary(m))
	}
	var manifestKeys, dataKeys []string
	for _, m := range remove {
		res.Removed = append(res.Removed, summary(m))
		manifest := schemas.ManifestKey(cluster, m.ID)
		manifestKeys = append(manifestKeys, manifest)
		for _, k := range keysOf[m.ID] {
			if k != manifest {
				dataKeys = append(dataKeys, k)
			}
		}
	}
	keys := append(manifestKeys, dataKeys...)

	for _, o := range list.Orphans {
		age := now.Sub(o.LastModified)
		s := schemas.OrphanSummary{ID: o.ID, Objects: len(o.Keys), Bytes: o.Bytes, LastModified: o.LastModified}
		if age >= schemas.OrphanMinAge {
			s.Removed = true
			s.Reason = fmt.Sprintf("no manifest, last written %s ago: left by a backup that did not finish", roundAge(age))
			keys = append(keys, o.Keys...)
		} else {
			s.Reason = fmt.Sprintf("no manifest yet, last written %s ago: may be a backup in progress (removed once %s old)",
				roundAge(age), roundAge(schemas.OrphanMinAge))
		}
		res.Orphans = append(res.Orphans, s)
	}

	res.Invalid = list.Invalid
	for _, inv := range list.Invalid {
		res.Problems = append(res.Problems, fmt.Sprintf("backup %s left in place: %s; repair or delete it by hand", inv.ID, inv.Problem))
	}
	if n := len(list.Unrecognized); n > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d objects are neither backups nor WAL and were left alone, such as %s",
			n, list.Unrecognized[0]))
	}

	walKeep, walRemove, err := policy.PlanWAL(list.WAL, keep)
	switch {
	case err != nil:
		res.Problems = append(res.Problems, "no WAL removed: "+err.Error())
		walKeep, walRemove = list.WAL, nil
	case len(list.Invalid) > 0 && len(walRemove) > 0:
		// An unreadable manifest may be a real backup (one written by a
		// newer Lifeboat, say) whose WAL cannot be told apart.
		res.Problems = append(res.Problems, fmt.Sprintf("no WAL removed: %d backups have manifests that cannot be read, and the WAL they may need is kept until they are repaired or deleted", len(list.Invalid)))
		walKeep, walRemove = list.WAL, nil
	}
	res.WALKept, res.WALRemoved = len(walKeep), len(walRemove)
	if len(walRemove) > 0 {
		res.WALFirstRemoved, res.WALLastRemoved = walRemove[0], walRemove[len(walRemove)-1]
	}
	// The record goes before its data, as a manifest does: data without a
	// record reads as never archived, a record without data as damage.
	for _, name := range walRemove {
		keys = append(keys, schemas.WALRecordKey(cluster, name))
	}
	for _, name := range walRemove {
		keys = append(keys, schemas.WALKey(cluster, name))
	}
	return res, keys
}

// roundAge writes an age the way an operator reads it.
func roundAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= time.Hour:
		return strings.TrimSuffix(d.Round(time.Hour).String(), "0m0s")
	default:
		return d.Round(time.Second).String()
	}
}
