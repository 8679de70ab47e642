package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/activities/filesync"
	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/schemas"
)

// syncTopology has the uploads tree of region-a copied into a directory of
// region-b, and, when withStore, the docs tree of region-b into the store.
func syncTopology(withStore bool) schemas.Topology {
	topo := twoRegions()
	topo.Files = []schemas.FileTree{
		{Name: "uploads", Region: "region-a", Path: "/srv/uploads", AllowDeletes: true,
			Sync: &schemas.FileSyncTarget{Region: "region-b", Path: "/srv/uploads-copy"}},
		{Name: "logs", Region: "region-a", Path: "/srv/logs"}, // backed up only
	}
	if withStore {
		topo.Files = append(topo.Files, schemas.FileTree{Name: "docs", Region: "region-b", Path: "/srv/docs",
			Sync: &schemas.FileSyncTarget{Store: schemas.SyncStoreBackup}})
	}
	return topo
}

func newSyncEnv(t *testing.T, topo schemas.Topology) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(FileSync, workflow.RegisterOptions{Name: schemas.FileSyncWorkflow})
	env.RegisterWorkflowWithOptions(VerifyFiles, workflow.RegisterOptions{Name: schemas.VerifyFilesWorkflow})
	env.RegisterActivity(&ha.Cluster{})
	env.RegisterActivity(&filesync.FileSync{})
	env.OnActivity("DescribeCluster", mock.Anything, mock.Anything).Return(schemas.DescribeClusterResult{Topology: topo}, nil)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: schemas.FileSyncWorkflowID("dev")})
	return env
}

// calls records each activity call as "Name tree batch@queue".
type calls struct {
	mu   sync.Mutex
	seen []string
}

func (c *calls) add(ctx context.Context, what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	where := activity.GetInfo(ctx).TaskQueue
	if activity.GetInfo(ctx).IsLocalActivity {
		where = "local" // in the workflow's own worker
	}
	c.seen = append(c.seen, what+"@"+where)
}

func (c *calls) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seen)
}

// mockSync answers every file sync activity: the plan has the given
// batches (files per batch), applies fail as failApply says.
func mockSync(env *testsuite.TestWorkflowEnvironment, c *calls, batches []int, failApply func(batch, attempt int) error) {
	env.OnActivity("ScanFileTree", mock.Anything, mock.Anything).Return(func(ctx context.Context, in schemas.ScanFileTreeInput) (schemas.ScanFileTreeResult, error) {
		c.add(ctx, "ScanFileTree "+in.Tree)
		return schemas.ScanFileTreeResult{Files: 10, Bytes: 1000, Hashed: 2}, nil
	})
	env.OnActivity("ScanFileCopy", mock.Anything, mock.Anything).Return(func(ctx context.Context, in schemas.ScanFileCopyInput) (schemas.ScanFileCopyResult, error) {
		c.add(ctx, fmt.Sprintf("ScanFileCopy %s rehash=%v", in.Tree, in.Rehash))
		return schemas.ScanFileCopyResult{Rehashed: 1, Damaged: []string{"x"}, DamagedCount: 1}, nil
	})
	env.OnActivity("PlanFileSync", mock.Anything, mock.Anything).Return(func(ctx context.Context, in schemas.PlanFileSyncInput) (schemas.PlanFileSyncResult, error) {
		c.add(ctx, fmt.Sprintf("PlanFileSync %s files=%d mb=%d", in.Tree, in.BatchFiles, in.BatchMB))
		var p schemas.PlanFileSyncResult
		for _, n := range batches {
			p.Batches = append(p.Batches, schemas.FileBatchSummary{Files: n, Bytes: int64(n) * 100})
		}
		p.Kept = 1
		if batches[0] > 0 { // the plan sends batch 0
			p.First = &schemas.SendFileBatchResult{Key: "k0", Files: batches[0], FileBytes: int64(batches[0]) * 100, StoredSize: int64(batches[0]) * 10}
		}
		return p, nil
	})
	env.OnActivity("SendFileBatch", mock.Anything, mock.Anything).Return(func(ctx context.Context, in schemas.SendFileBatchInput) (schemas.SendFileBatchResult, error) {
		c.add(ctx, fmt.Sprintf("SendFileBatch %s %d", in.Tree, in.Batch))
		n := batches[in.Batch]
		return schemas.SendFileBatchResult{Key: fmt.Sprintf("k%d", in.Batch), Files: n, FileBytes: int64(n) * 100, StoredSize: int64(n) * 10}, nil
	})
	env.OnActivity("ApplyFileBatch", mock.Anything, mock.Anything).Return(func(ctx context.Context, in schemas.ApplyFileBatchInput) (schemas.ApplyFileBatchResult, error) {
		attempt := int(activity.GetInfo(ctx).Attempt)
		what := fmt.Sprintf("ApplyFileBatch %s %d %s #%d", in.Tree, in.Batch, in.Sent.Key, attempt)
		if in.Commit {
			what += " and commit"
		}
		c.add(ctx, what)
		if failApply != nil {
			if err := failApply(in.Batch, attempt); err != nil {
				return schemas.ApplyFileBatchResult{}, err
			}
		}
		res := schemas.ApplyFileBatchResult{Written: in.Sent.Files, Local: 1, Resumed: attempt - 1}
		if in.Commit {
			res.Committed = &schemas.CommitFileSyncResult{Files: 10, Deleted: 2, Metadata: 1}
		}
		return res, nil
	})
	env.OnActivity("CommitFileSync", mock.Anything, mock.Anything).Return(func(ctx context.Context, in schemas.CommitFileSyncInput) (schemas.CommitFileSyncResult, error) {
		c.add(ctx, fmt.Sprintf("CommitFileSync %s batches=%d", in.Tree, in.Batches))
		return schemas.CommitFileSyncResult{Files: 10, Deleted: 2, Metadata: 1}, nil
	})
	env.OnActivity("DiscardFileSyncRun", mock.Anything, mock.Anything).Return(func(ctx context.Context, in schemas.DiscardFileSyncRunInput) (schemas.DiscardFileSyncRunResult, error) {
		c.add(ctx, "DiscardFileSyncRun "+in.Tree)
		return schemas.DiscardFileSyncRunResult{}, nil
	})
}

func TestFileSync_RunsEachStepInTheRegionThatHoldsItsFiles(t *testing.T) {
	env := newSyncEnv(t, syncTopology(true))
	var c calls
	mockSync(env, &c, []int{3, 0, 2}, nil)
	env.ExecuteWorkflow(FileSync, schemas.FileSyncInput{Cluster: "dev", BatchFiles: 3})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	got := c.list()
	// The two scans of a tree run side by side: their order is not fixed.
	slices.Sort(got[0:2])
	slices.Sort(got[4:6])
	slices.Sort(got[7:9])
	want := []string{
		"ScanFileCopy uploads rehash=false@lifeboat-region-b",
		"ScanFileTree uploads@lifeboat-region-a",
		// The plan sends batch 0 itself.
		"PlanFileSync uploads files=3 mb=0@lifeboat-region-a",
		"ApplyFileBatch uploads 0 k0 #1@lifeboat-region-b",
		// Batch 1 sends nothing (work done at the copy only); batch 2 is
		// sent while batch 1 is applied, and its apply commits.
		"ApplyFileBatch uploads 1  #1@lifeboat-region-b",
		"SendFileBatch uploads 2@lifeboat-region-a",
		"ApplyFileBatch uploads 2 k2 #1 and commit@lifeboat-region-b",
		// A store copy: the tree's own region scans, sends and commits.
		"ScanFileCopy docs rehash=false@lifeboat-region-b",
		"ScanFileTree docs@lifeboat-region-b",
		"PlanFileSync docs files=3 mb=0@lifeboat-region-b",
		"SendFileBatch docs 2@lifeboat-region-b",
		"CommitFileSync docs batches=3@lifeboat-region-b",
	}
	if !slices.Equal(got, want) {
		t.Errorf("calls:\ngot:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	var res schemas.FileSyncResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if len(res.Trees) != 2 {
		t.Fatalf("result has %d trees, want uploads and docs", len(res.Trees))
	}
	u := res.Trees[0]
	if u.Tree != "uploads" || u.Target != "region-b:/srv/uploads-copy" || u.Copied != 5 || u.CopiedBytes != 500 || u.SentBytes != 50 ||
		u.Batches != 3 || u.Local != 3 || u.Deleted != 2 || u.Kept != 1 || u.Files != 10 || u.Hashed != 2 || !slices.Equal(u.Damaged, []string{"x"}) {
		t.Errorf("uploads result %+v", u)
	}
}

func TestFileSync_ARetriedApplyResumesItsBatchAndEarlierBatchesStayDone(t *testing.T) {
	env := newSyncEnv(t, syncTopology(false))
	var c calls
	mockSync(env, &c, []int{2, 2}, func(batch, attempt int) error {
		if batch == 1 && attempt == 1 {
			return errors.New("disk went away")
		}
		return nil
	})
	env.ExecuteWorkflow(FileSync, schemas.FileSyncInput{Cluster: "dev"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var applies, sends []string
	for _, s := range c.list() {
		switch {
		case strings.HasPrefix(s, "ApplyFileBatch"):
			applies = append(applies, s)
		case strings.HasPrefix(s, "SendFileBatch"):
			sends = append(sends, s)
		}
	}
	wantApplies := []string{
		"ApplyFileBatch uploads 0 k0 #1@lifeboat-region-b",
		"ApplyFileBatch uploads 1 k1 #1 and commit@lifeboat-region-b",
		"ApplyFileBatch uploads 1 k1 #2 and commit@lifeboat-region-b",
	}
	if !slices.Equal(applies, wantApplies) || len(sends) != 1 {
		t.Errorf("applies %q (want %q), sends %q (want batch 1 sent once; the plan sent batch 0)", applies, wantApplies, sends)
	}
	var res schemas.FileSyncResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Trees[0].Resumed != 1 {
		t.Errorf("resumed %d, want the second attempt's report", res.Trees[0].Resumed)
	}
}

func TestFileSync_AFailedSyncDiscardsItsRunAndNamesTheStep(t *testing.T) {
	env := newSyncEnv(t, syncTopology(false))
	var c calls
	mockSync(env, &c, []int{2}, func(int, int) error {
		return temporal.NewNonRetryableApplicationError("staged batch damaged", schemas.ErrCorrupt, nil)
	})
	env.ExecuteWorkflow(FileSync, schemas.FileSyncInput{Cluster: "dev"})
	err := env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != schemas.ErrCorrupt || !strings.Contains(appErr.Message(), "sync file tree uploads: apply batch 0") {
		t.Fatalf("error %v, want Corrupt naming the tree and the step", err)
	}
	got := c.list()
	if last := got[len(got)-1]; last != "DiscardFileSyncRun uploads@lifeboat" || slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "Commit") }) {
		t.Errorf("calls %q: want no commit and the run discarded last", got)
	}
}

func TestFileSync_RefusesWhatItCannotSync(t *testing.T) {
	tests := []struct {
		name string
		in   schemas.FileSyncInput
		want string
	}{
		{"no cluster", schemas.FileSyncInput{}, "cluster: required"},
		{"a negative batch", schemas.FileSyncInput{Cluster: "dev", BatchMB: -1}, "batch_files: batch bounds must be at least 0"},
		{"an unknown tree", schemas.FileSyncInput{Cluster: "dev", Tree: "nope"}, `tree: "nope" is not a file tree of cluster dev`},
		{"a tree without a target", schemas.FileSyncInput{Cluster: "dev", Tree: "logs"}, `tree: "logs" has no sync target`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newSyncEnv(t, syncTopology(false))
			env.ExecuteWorkflow(FileSync, tc.in)
			var appErr *temporal.ApplicationError
			if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != schemas.ErrInvalidInput || !strings.Contains(appErr.Message(), tc.want) {
				t.Errorf("error %v, want InvalidInput with %q", err, tc.want)
			}
		})
	}
}

func TestFileSync_ACopylessClusterIsSkippedNotFailed(t *testing.T) {
	topo := syncTopology(false)
	topo.Files = topo.Files[1:] // the backed-up-only tree
	env := newSyncEnv(t, topo)
	env.ExecuteWorkflow(FileSync, schemas.FileSyncInput{Cluster: "dev"})
	var res schemas.FileSyncResult
	if err := env.GetWorkflowResult(&res); err != nil || !strings.Contains(res.Skipped, "dev has no file tree with a sync target") {
		t.Errorf("result %+v, %v: want it skipped, saying why", res, err)
	}
	verify := newSyncEnv(t, topo)
	verify.ExecuteWorkflow(VerifyFiles, schemas.VerifyFilesInput{Cluster: "dev"})
	var appErr *temporal.ApplicationError
	if err := verify.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != schemas.ErrInvalidInput {
		t.Errorf("verify of a copyless cluster: %v, want InvalidInput", err)
	}
}

// A run that finds the cluster's sync running reports it skipped; that
// needs a real server and is tested in integration/filesync_test.go.
func TestFileSync_AScheduledRunSyncsUnderTheClustersOneID(t *testing.T) {
	env := newSyncEnv(t, syncTopology(false))
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "backup/dev/filesync-2026-11-29T05:00:00Z"})
	var committedBy string
	// Registered first, so it answers rather than mockSync's.
	env.OnActivity("ApplyFileBatch", mock.Anything, mock.Anything).Return(func(ctx context.Context, in schemas.ApplyFileBatchInput) (schemas.ApplyFileBatchResult, error) {
		if in.Commit {
			committedBy = activity.GetInfo(ctx).WorkflowExecution.ID
		}
		return schemas.ApplyFileBatchResult{Committed: &schemas.CommitFileSyncResult{}}, nil
	})
	var c calls
	mockSync(env, &c, []int{1}, nil)
	env.ExecuteWorkflow(FileSync, schemas.FileSyncInput{Cluster: "dev"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res schemas.FileSyncResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.RanAs != "filesync/dev" || res.Skipped != "" || len(res.Trees) != 1 || committedBy != "filesync/dev" {
		t.Errorf("result %+v, committed by %q: want the sync done by filesync/dev", res, committedBy)
	}
}

func TestVerifyFiles_SumsTheDifferencesOfEveryCopy(t *testing.T) {
	env := newSyncEnv(t, syncTopology(true))
	var c calls
	env.OnActivity("VerifyFileCopy", mock.Anything, mock.Anything).Return(func(ctx context.Context, in schemas.VerifyFileCopyInput) (schemas.VerifyFileCopyResult, error) {
		c.add(ctx, "VerifyFileCopy "+in.Tree)
		if in.Tree == "uploads" {
			return schemas.VerifyFileCopyResult{Tree: in.Tree, DamagedCount: 2, ExtraCount: 1}, nil
		}
		return schemas.VerifyFileCopyResult{Tree: in.Tree, MissingCount: 1}, nil
	})
	env.ExecuteWorkflow(VerifyFiles, schemas.VerifyFilesInput{Cluster: "dev"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res schemas.VerifyFilesResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	got := c.list()
	slices.Sort(got)
	if want := []string{"VerifyFileCopy docs@lifeboat-region-b", "VerifyFileCopy uploads@lifeboat-region-b"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	if res.Differences != 4 || len(res.Trees) != 2 {
		t.Errorf("result %+v, want 4 differences over 2 trees", res)
	}
}

func TestFileSync_TheSourceScansPlanStandsWhenTheCopyIsAsLeft(t *testing.T) {
	for _, unchanged := range []bool{true, false} {
		t.Run(fmt.Sprintf("unchanged=%v", unchanged), func(t *testing.T) {
			env := newSyncEnv(t, syncTopology(false))
			var c calls
			plan := schemas.PlanFileSyncResult{Batches: []schemas.FileBatchSummary{{Files: 2, Bytes: 200}},
				First: &schemas.SendFileBatchResult{Key: "early", Files: 2, FileBytes: 200}}
			env.OnActivity("ScanFileTree", mock.Anything, mock.Anything).Return(func(ctx context.Context, in schemas.ScanFileTreeInput) (schemas.ScanFileTreeResult, error) {
				c.add(ctx, fmt.Sprintf("ScanFileTree %s plan=%v files=%d", in.Tree, in.Plan, in.BatchFiles))
				return schemas.ScanFileTreeResult{Files: 10, Plan: &plan}, nil
			})
			env.OnActivity("ScanFileCopy", mock.Anything, mock.Anything).Return(func(ctx context.Context, in schemas.ScanFileCopyInput) (schemas.ScanFileCopyResult, error) {
				c.add(ctx, "ScanFileCopy "+in.Tree)
				return schemas.ScanFileCopyResult{Unchanged: unchanged}, nil
			})
			env.OnActivity("PlanFileSync", mock.Anything, mock.Anything).Return(func(ctx context.Context, in schemas.PlanFileSyncInput) (schemas.PlanFileSyncResult, error) {
				c.add(ctx, "PlanFileSync "+in.Tree)
				return schemas.PlanFileSyncResult{Batches: []schemas.FileBatchSummary{{Files: 1, Bytes: 100}},
					First: &schemas.SendFileBatchResult{Key: "replanned", Files: 1, FileBytes: 100}}, nil
			})
			env.OnActivity("ApplyFileBatch", mock.Anything, mock.Anything).Return(func(ctx context.Context, in schemas.ApplyFileBatchInput) (schemas.ApplyFileBatchResult, error) {
				c.add(ctx, fmt.Sprintf("ApplyFileBatch %s %d %s", in.Tree, in.Batch, in.Sent.Key))
				return schemas.ApplyFileBatchResult{Written: in.Sent.Files, Committed: &schemas.CommitFileSyncResult{Files: 10}}, nil
			})
			env.ExecuteWorkflow(FileSync, schemas.FileSyncInput{Cluster: "dev", BatchFiles: 7})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			got := c.list()
			slices.Sort(got[0:2])
			want := []string{"ScanFileCopy uploads@lifeboat-region-b", "ScanFileTree uploads plan=true files=7@lifeboat-region-a"}
			if unchanged {
				want = append(want, "ApplyFileBatch uploads 0 early@lifeboat-region-b")
			} else {
				// The copy changed since the last sync: the early plan is
				// not the plan, PlanFileSync makes it from the copy's scan.
				want = append(want, "PlanFileSync uploads@lifeboat-region-a", "ApplyFileBatch uploads 0 replanned@lifeboat-region-b")
			}
			if !slices.Equal(got, want) {
				t.Errorf("calls:\ngot:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}
