package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/activities/filesync"
	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/schemas"
)

// fileSyncHeartbeat is how long a scan, send or apply may go silent
// before Temporal gives its attempt up and retries it elsewhere.
const fileSyncHeartbeat = 30 * time.Second

// FileSync copies the cluster's file trees to their copies
// (schemas.FileTree.Sync), one tree after the other: the tree's region
// lists and hashes the source while the copy's region lists the copy,
// then only what changed is sent, in batches the copy writes and checks
// by SHA-256, and the copy's manifest is written last. A sync that fails
// removes its working objects; the copy holds whole files only, each the
// source's or the one it had.
//
// A cluster's files are synced under one workflow ID, FileSyncWorkflowID:
// a run started under another ID (by the schedule) hands the sync over to
// a child of that ID, and reports it skipped when one is running.
func FileSync(ctx workflow.Context, in schemas.FileSyncInput) (schemas.FileSyncResult, error) {
	if in.Cluster == "" {
		return schemas.FileSyncResult{}, invalidInput("cluster", "required")
	}
	if in.BatchFiles < 0 || in.BatchMB < 0 {
		return schemas.FileSyncResult{}, invalidInput("batch_files", "batch bounds must be at least 0 (0 means the default)")
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		clusterAttr.ValueSet(in.Cluster), kindAttr.ValueSet(schemas.FileSyncKind)); err != nil {
		return schemas.FileSyncResult{}, fmt.Errorf("set search attributes: %w", err)
	}
	if workflow.GetInfo(ctx).WorkflowExecution.ID != schemas.FileSyncWorkflowID(in.Cluster) {
		return handOverSync(ctx, in)
	}
	start := workflow.Now(ctx)
	topo, err := describeClusterLocally(ctx, in.Cluster)
	if err != nil {
		return schemas.FileSyncResult{}, err
	}
	trees, err := SyncTrees(topo, in.Tree)
	if err != nil {
		return schemas.FileSyncResult{}, err
	}
	var res schemas.FileSyncResult
	if len(trees) == 0 {
		// Not an error: the schedule of a cluster without copies has
		// nothing to do, and says so.
		res.Skipped = noTargets(topo)
		return res, nil
	}
	var firstErr error
	// A tree that fails does not keep the others from their sync.
	for _, t := range trees {
		tr, err := syncTree(ctx, in, t)
		if err != nil {
			workflow.GetLogger(ctx).Error("file sync failed", "tree", t.Name, "error", err)
			if firstErr == nil {
				firstErr = wrap(err, "sync file tree "+t.Name)
			}
			continue
		}
		res.Trees = append(res.Trees, tr)
	}
	if firstErr != nil {
		return res, firstErr
	}
	res.Seconds = workflow.Now(ctx).Sub(start).Seconds()
	return res, nil
}

// describeClusterLocally reads the topology in the workflow's own worker,
// as a local activity: a sync of a quiet tree is a few short steps, and a
// round trip through a task queue is a large part of each.
func describeClusterLocally(ctx workflow.Context, cluster string) (schemas.Topology, error) {
	var c *ha.Cluster
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3, NonRetryableErrorTypes: nonRetryable},
	})
	var out schemas.DescribeClusterResult
	if err := workflow.ExecuteLocalActivity(lctx, c.DescribeCluster, schemas.DescribeClusterInput{Cluster: cluster}).Get(ctx, &out); err != nil {
		return schemas.Topology{}, wrap(err, "describe cluster")
	}
	return out.Topology, nil
}

// handOverSync runs the sync as the cluster's one sync workflow, a child
// that outlives this run if it is cancelled, and returns its result.
func handOverSync(ctx workflow.Context, in schemas.FileSyncInput) (schemas.FileSyncResult, error) {
	id := schemas.FileSyncWorkflowID(in.Cluster)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        id,
		TaskQueue:         schemas.GlobalTaskQueue,
		ParentClosePolicy: enums.PARENT_CLOSE_POLICY_ABANDON,
	})
	child := workflow.ExecuteChildWorkflow(cctx, schemas.FileSyncWorkflow, in)
	if err := child.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			workflow.GetLogger(ctx).Info("file sync skipped: one is running", "workflow_id", id)
			return schemas.FileSyncResult{RanAs: id, Skipped: "a sync of cluster " + in.Cluster + " was running as " + id}, nil
		}
		return schemas.FileSyncResult{}, fmt.Errorf("start %s: %w", id, err)
	}
	var res schemas.FileSyncResult
	if err := child.Get(ctx, &res); err != nil {
		return res, wrap(err, id)
	}
	res.RanAs = id
	return res, nil
}

// SyncTrees are the trees to sync or verify: the one named, or every tree
// with a sync target, in topology order (maybe none).
func SyncTrees(topo schemas.Topology, name string) ([]schemas.FileTree, error) {
	var out []schemas.FileTree
	for _, t := range topo.Files {
		switch {
		case name != "" && t.Name != name:
		case t.Sync == nil && name != "":
			return nil, invalidInput("tree", fmt.Sprintf("%q has no sync target in the topology of cluster %s", name, topo.Cluster))
		case t.Sync != nil:
			out = append(out, t)
		}
	}
	if len(out) == 0 && name != "" {
		return nil, invalidInput("tree", fmt.Sprintf("%q is not a file tree of cluster %s", name, topo.Cluster))
	}
	return out, nil
}

func noTargets(topo schemas.Topology) string {
	return fmt.Sprintf("cluster %s has no file tree with a sync target (files[].sync in its topology)", topo.Cluster)
}

// fileSyncOptions runs a long file sync activity in region: it heartbeats,
// and a retried attempt resumes from its last heartbeat.
func fileSyncOptions(region string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:              schemas.RegionTaskQueue(region),
		ScheduleToStartTimeout: 5 * time.Minute,
		StartToCloseTimeout:    12 * time.Hour,
		HeartbeatTimeout:       fileSyncHeartbeat,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        2 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			MaximumAttempts:        6,
			NonRetryableErrorTypes: nonRetryable,
		},
	}
}

// syncTree syncs one tree and says what it did.
func syncTree(ctx workflow.Context, in schemas.FileSyncInput, t schemas.FileTree) (schemas.FileSyncTreeResult, error) {
	start := workflow.Now(ctx)
	run := workflow.GetInfo(ctx).WorkflowExecution.RunID
	res := schemas.FileSyncTreeResult{Tree: t.Name, Target: t.Sync.Describe()}
	var f *filesync.FileSync
	srcCtx := workflow.WithActivityOptions(ctx, fileSyncOptions(t.Region))
	copyCtx := workflow.WithActivityOptions(ctx, fileSyncOptions(t.CopyRegion()))
	intoStore := t.Sync.Store != ""

	// Compensation first: a sync that does not finish leaves no working
	// objects behind. The copy needs none: it holds whole files only.
	done := false
	defer func() { discardUnlessDone(ctx, in.Cluster, t.Name, run, done) }()

	// Version 1: the source's scan also plans against the copy as the last
	// sync left it; when the copy's scan finds it so, that plan stands and
	// a small change is a round trip shorter.
	early := workflow.GetVersion(ctx, "filesync-early-plan", workflow.DefaultVersion, 1) == 1
	srcF := workflow.ExecuteActivity(srcCtx, f.ScanFileTree, schemas.ScanFileTreeInput{
		Cluster: in.Cluster, Tree: t.Name, Run: run, Plan: early, BatchFiles: in.BatchFiles, BatchMB: in.BatchMB,
	})
	copyF := workflow.ExecuteActivity(copyCtx, f.ScanFileCopy, schemas.ScanFileCopyInput{Cluster: in.Cluster, Tree: t.Name, Run: run, Rehash: in.Rehash})
	var src schemas.ScanFileTreeResult
	var cp schemas.ScanFileCopyResult
	srcErr := srcF.Get(ctx, &src)
	copyErr := copyF.Get(ctx, &cp)
	if srcErr != nil {
		return res, wrap(srcErr, "scan the source")
	}
	if copyErr != nil {
		return res, wrap(copyErr, "scan the copy")
	}

	// The plan runs in the tree's region and sends batch 0 itself; batch
	// i+1 is read and sent while batch i is written at the copy, and the
	// apply of the last batch commits: a small change is three round
	// trips after the scans, or two with the early plan.
	var plan schemas.PlanFileSyncResult
	if early && src.Plan != nil && cp.Unchanged {
		plan = *src.Plan
	} else {
		err := workflow.ExecuteActivity(srcCtx, f.PlanFileSync, schemas.PlanFileSyncInput{
			Cluster: in.Cluster, Tree: t.Name, Run: run, BatchFiles: in.BatchFiles, BatchMB: in.BatchMB,
		}).Get(ctx, &plan)
		if err != nil {
			return res, wrap(err, "plan")
		}
	}
	n := len(plan.Batches)
	send := func(i int) workflow.Future {
		if plan.Batches[i].Files == 0 {
			return nil
		}
		return workflow.ExecuteActivity(srcCtx, f.SendFileBatch, schemas.SendFileBatchInput{Cluster: in.Cluster, Tree: t.Name, Run: run, Batch: i})
	}
	var next workflow.Future
	var commit schemas.CommitFileSyncResult
	committed := false
	for i := range n {
		var sent schemas.SendFileBatchResult
		switch {
		case i == 0 && plan.First != nil:
			sent = *plan.First
		case next != nil:
			if err := next.Get(ctx, &sent); err != nil {
				return res, wrap(err, fmt.Sprintf("send batch %d", i))
			}
		}
		next = nil
		if i+1 < n {
			next = send(i + 1)
		}
		res.Copied += sent.Files
		res.CopiedBytes += sent.FileBytes
		res.SentBytes += sent.StoredSize
		res.Skipped = append(res.Skipped, sent.Skipped...)
		if intoStore {
			continue
		}
		var applied schemas.ApplyFileBatchResult
		err := workflow.ExecuteActivity(copyCtx, f.ApplyFileBatch, schemas.ApplyFileBatchInput{
			Cluster: in.Cluster, Tree: t.Name, Run: run, Batch: i, Sent: sent, Commit: i == n-1,
		}).Get(ctx, &applied)
		if err != nil {
			if next != nil {
				_ = next.Get(ctx, nil) // no upload may still run when the run's objects go
			}
			return res, wrap(err, fmt.Sprintf("apply batch %d", i))
		}
		res.Local += applied.Local
		res.Resumed += applied.Resumed
		res.Skipped = append(res.Skipped, applied.Skipped...)
		if applied.Committed != nil {
			commit, committed = *applied.Committed, true
		}
	}
	if !committed {
		err := workflow.ExecuteActivity(copyCtx, f.CommitFileSync, schemas.CommitFileSyncInput{
			Cluster: in.Cluster, Tree: t.Name, Run: run, Batches: n,
		}).Get(ctx, &commit)
		if err != nil {
			return res, wrap(err, "commit")
		}
	}
	done = true
	res.Files, res.Bytes, res.Hashed = src.Files, src.Bytes, src.Hashed
	res.Rehashed, res.Damaged = cp.Rehashed, cp.Damaged
	res.Batches = len(plan.Batches)
	if intoStore {
		res.Local = plan.Local
	}
	res.Deleted, res.Kept, res.Metadata, res.Conflicts = commit.Deleted, plan.Kept, commit.Metadata, plan.Conflicts
	res.Skipped = res.Skipped[:min(len(res.Skipped), schemas.MaxListed)]
	res.SourceTime = commit.SourceTime
	res.Seconds = workflow.Now(ctx).Sub(start).Seconds()
	workflow.GetLogger(ctx).Info("file tree synced", "tree", t.Name, "copied", res.Copied, "copied_bytes", res.CopiedBytes,
		"local", res.Local, "deleted", res.Deleted, "damaged", cp.DamagedCount)
	return res, nil
}

// discardUnlessDone removes the working objects of a sync run that did not
// finish, in a disconnected context so a cancelled sync cleans up too.
func discardUnlessDone(ctx workflow.Context, cluster, tree, run string, done bool) {
	if done {
		return
	}
	var f *filesync.FileSync
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	dctx = workflow.WithActivityOptions(dctx, shortActivity(schemas.GlobalTaskQueue))
	if err := workflow.ExecuteActivity(dctx, f.DiscardFileSyncRun, schemas.DiscardFileSyncRunInput{Cluster: cluster, Tree: tree, Run: run}).Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("could not remove the working objects of a failed file sync", "tree", tree, "error", err)
	}
}

// VerifyFiles reads every file of every copy (or of the named tree's),
// each in its own region and side by side, and reports every difference
// from what the last sync wrote. Damaged files are noted for the next
// sync, which copies them again.
func VerifyFiles(ctx workflow.Context, in schemas.VerifyFilesInput) (schemas.VerifyFilesResult, error) {
	if in.Cluster == "" {
		return schemas.VerifyFilesResult{}, invalidInput("cluster", "required")
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		clusterAttr.ValueSet(in.Cluster), kindAttr.ValueSet(schemas.VerifyFilesKind)); err != nil {
		return schemas.VerifyFilesResult{}, fmt.Errorf("set search attributes: %w", err)
	}
	start := workflow.Now(ctx)
	topo, err := describeClusterLocally(ctx, in.Cluster)
	if err != nil {
		return schemas.VerifyFilesResult{}, err
	}
	trees, err := SyncTrees(topo, in.Tree)
	if err != nil {
		return schemas.VerifyFilesResult{}, err
	}
	if len(trees) == 0 {
		return schemas.VerifyFilesResult{}, invalidInput("cluster", noTargets(topo))
	}
	var f *filesync.FileSync
	futures := make([]workflow.Future, len(trees))
	for i, t := range trees {
		actx := workflow.WithActivityOptions(ctx, fileSyncOptions(t.CopyRegion()))
		futures[i] = workflow.ExecuteActivity(actx, f.VerifyFileCopy, schemas.VerifyFileCopyInput{Cluster: in.Cluster, Tree: t.Name})
	}
	var res schemas.VerifyFilesResult
	var firstErr error
	for i, fut := range futures {
		var v schemas.VerifyFileCopyResult
		if err := fut.Get(ctx, &v); err != nil {
			if firstErr == nil {
				firstErr = wrap(err, "verify the copy of "+trees[i].Name)
			}
			continue
		}
		res.Trees = append(res.Trees, v)
		res.Differences += v.Differences()
	}
	if firstErr != nil {
		return res, firstErr
	}
	res.Seconds = workflow.Now(ctx).Sub(start).Seconds()
	return res, nil
}
