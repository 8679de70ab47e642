package integration

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/client"

	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/internal/treediff"
	"github.com/runnerhub/lifeboat/schemas"
)

// uploadsTree is the stack's uploads tree and its copy in region-b.
func uploadsTree(t *testing.T) schemas.FileTree {
	t.Helper()
	topo, err := schemas.LoadTopology(stack.TopologyPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range topo.Files {
		if tr.Name == "uploads" && tr.Sync != nil && tr.Sync.Region == devstack.RegionB {
			return tr
		}
	}
	t.Fatal("the stack's topology has no uploads tree synced to region-b")
	return schemas.FileTree{}
}

// startSync starts the cluster's sync, filesync/dev. A sync already
// running (another test's, the schedule's) is waited for first: joining it
// would sync the tree as it was before this test changed it.
func startSync(ctx context.Context, t *testing.T, c client.Client, in schemas.FileSyncInput) client.WorkflowRun {
	t.Helper()
	id := schemas.FileSyncWorkflowID("dev")
	for {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: id, TaskQueue: schemas.GlobalTaskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		}, schemas.FileSyncWorkflow, in)
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if !errors.As(err, &started) {
			if err != nil {
				t.Fatalf("start %s: %v", id, err)
			}
			return run
		}
		t.Logf("a sync of dev is running; waiting for it")
		_ = c.GetWorkflow(ctx, id, "").Get(ctx, nil)
	}
}

// syncUploads runs one sync of the uploads tree and returns what it did.
func syncUploads(t *testing.T, in schemas.FileSyncInput) schemas.FileSyncTreeResult {
	t.Helper()
	c := temporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	in.Cluster, in.Tree = "dev", "uploads"
	var res schemas.FileSyncResult
	if err := startSync(ctx, t, c, in).Get(ctx, &res); err != nil {
		t.Fatalf("FileSync: %v", err)
	}
	if len(res.Trees) != 1 {
		t.Fatalf("result %+v, want the uploads tree", res)
	}
	r := res.Trees[0]
	t.Logf("sync: %d files, %d hashed, %d copied (%d bytes, %d sent), %d local, %d deleted, %d resumed, damaged %v, %.1fs",
		r.Files, r.Hashed, r.Copied, r.CopiedBytes, r.SentBytes, r.Local, r.Deleted, r.Resumed, r.Damaged, r.Seconds)
	return r
}

// testDir makes a directory of the test's own inside the uploads tree and
// returns its name and its paths in the source and in the copy.
func testDir(t *testing.T, tree schemas.FileTree) (name, src, copy string) {
	t.Helper()
	name = fmt.Sprintf("fs-%d", time.Now().UnixNano())
	src, copy = filepath.Join(tree.Path, name), filepath.Join(tree.Sync.Path, name)
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	// The next sync (this test's, if it gets there) deletes the copy.
	t.Cleanup(func() { os.RemoveAll(src) })
	return name, src, copy
}

// putFile writes a file with a mode and a fixed time.
func putFile(t *testing.T, dir, name string, body []byte, mode os.FileMode) {
	t.Helper()
	treediff.WriteFile(t, dir, name, body, mode, time.Date(2026, 3, 4, 5, 6, 7, 890, time.UTC))
}

// TestFileSync_CopiesNewChangedDeletedRenamedAndRepairsCorruption syncs the
// stack's uploads tree to its copy in region-b through the workflow and the
// two workers, change after change, and compares both trees each time.
func TestFileSync_CopiesNewChangedDeletedRenamedAndRepairsCorruption(t *testing.T) {
	tree := uploadsTree(t)
	name, src, copy := testDir(t, tree)
	big := bytes.Repeat([]byte("a large file that compresses well; "), 100000) // 3.5 MB
	putFile(t, src, "a.txt", []byte("hello from the integration test\n"), 0o644)
	putFile(t, src, "deep/er/b.bin", bytes.Repeat([]byte{0, 1, 2, 3}, 50000), 0o600)
	putFile(t, src, "deep/script.sh", []byte("#!/bin/sh\necho hi\n"), 0o755)
	putFile(t, src, "media/video.bin", big, 0o644)
	putFile(t, src, "gone.txt", []byte("deleted at the source next"), 0o644)
	if err := os.Symlink("a.txt", filepath.Join(src, "latest")); err != nil {
		t.Fatal(err)
	}

	// New files.
	first := syncUploads(t, schemas.FileSyncInput{})
	treediff.RequireSame(t, src, copy)
	if first.Copied < 5 || first.SentBytes >= first.CopiedBytes {
		t.Errorf("first sync copied %d files, %d bytes sent for %d: want the 5 new files, compressed", first.Copied, first.SentBytes, first.CopiedBytes)
	}

	// Changed (same size, time set back), deleted and renamed files.
	putFile(t, src, "a.txt", []byte("HELLO FROM THE INTEGRATION TEST\n"), 0o644)
	if err := os.Remove(filepath.Join(src, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(src, "media/video.bin"), filepath.Join(src, "media/renamed.bin")); err != nil {
		t.Fatal(err)
	}
	second := syncUploads(t, schemas.FileSyncInput{})
	treediff.RequireSame(t, src, copy)
	if second.Local < 1 || second.CopiedBytes >= int64(len(big)) || second.Deleted < 1 {
		t.Errorf("second sync: %d made at the copy, %d bytes copied, %d deleted; want the rename made without sending its %d bytes, gone.txt deleted",
			second.Local, second.CopiedBytes, second.Deleted, len(big))
	}

	// Silent corruption at the copy: same size, same time.
	damaged := filepath.Join(copy, "deep/er/b.bin")
	info, err := os.Stat(damaged)
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(damaged)
	if err != nil {
		t.Fatal(err)
	}
	body[1000] ^= 0x40
	if err := os.WriteFile(damaged, body, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(damaged, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := lifeboat(t, "files", "verify", "dev", "--tree", "uploads")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out, "damaged  "+name+"/deep/er/b.bin") {
		t.Errorf("lifeboat files verify: %v, want exit 1 naming the damaged file\n%s%s", err, out, stderr)
	}
	third := syncUploads(t, schemas.FileSyncInput{})
	treediff.RequireSame(t, src, copy)
	if !slices.Contains(third.Damaged, name+"/deep/er/b.bin") {
		t.Errorf("third sync reported damaged %v, want %s/deep/er/b.bin", third.Damaged, name)
	}
	out, stderr, err = lifeboat(t, "files", "verify", "dev", "--tree", "uploads")
	if err != nil || !strings.Contains(out, "no difference") {
		t.Errorf("verify after the repair: %v\n%s%s", err, out, stderr)
	}

	// The lag of the last sync, from the worker that writes the copy.
	lag, over := filesyncMetrics(t, devstack.WorkerBPort)
	if lag <= 0 || lag > 300 || over != 0 {
		t.Errorf("metrics of worker-region-b: lag %.1fs, over_rpo %v; want a lag of seconds within the 5 minute RPO", lag, over)
	}
}

// filesyncMetrics reads the uploads tree's lag and over_rpo from a worker.
func filesyncMetrics(t *testing.T, port int) (lag, over float64) {
	t.Helper()
	resp, err := http.Get("http://" + devstack.Host + ":" + strconv.Itoa(port) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lag, over = -1, -1
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `tree="uploads"`) {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		switch {
		case strings.HasPrefix(line, "lifeboat_filesync_lag_seconds{"):
			lag = v
		case strings.HasPrefix(line, "lifeboat_filesync_over_rpo{"):
			over = v
		}
	}
	return lag, over
}

// TestFileSync_ARetriedBatchResumesAndAScheduledRunIsSkippedMeanwhile makes
// a batch fail half way: a directory of the copy is immutable (chattr +i,
// which root obeys too), so the apply writes the files before it, then
// fails on it. While the sync retries, a run started as the schedule starts
// them hands over to filesync/dev and is skipped. Once the directory is
// writable again, the next attempt finds the files already written and
// verified, and does not write them again.
func TestFileSync_ARetriedBatchResumesAndAScheduledRunIsSkippedMeanwhile(t *testing.T) {
	if _, err := exec.LookPath("chattr"); err != nil {
		t.Fatal("this test makes a directory immutable with chattr: apt-get install -y e2fsprogs")
	}
	tree := uploadsTree(t)
	_, src, copy := testDir(t, tree)
	putFile(t, src, "z/first", []byte("makes the directory at the copy"), 0o644)
	syncUploads(t, schemas.FileSyncInput{})

	locked := filepath.Join(copy, "z")
	chattr := func(flag string) error {
		out, err := exec.Command("chattr", flag, locked).CombinedOutput()
		if err != nil {
			return fmt.Errorf("chattr %s %s: %v: %s", flag, locked, err, out)
		}
		return nil
	}
	if err := chattr("+i"); err != nil {
		t.Fatalf("%v (the filesystem of .dev must support immutable files, as ext4 does)", err)
	}
	t.Cleanup(func() { _ = chattr("-i") })
	// Files sort before z/, so the batch writes them before it fails.
	for i := range 5 {
		putFile(t, src, fmt.Sprintf("a%d.bin", i), bytes.Repeat([]byte{byte(i)}, 100000), 0o644)
	}
	putFile(t, src, "z/second", []byte("cannot be written while z is immutable"), 0o644)

	c := temporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run := startSync(ctx, t, c, schemas.FileSyncInput{Cluster: "dev", Tree: "uploads"})

	// Wait for the apply's second attempt: the first failed on z.
	for {
		desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(desc.PendingActivities, func(pa *workflowpb.PendingActivityInfo) bool {
			return pa.ActivityType.GetName() == "ApplyFileBatch" && pa.Attempt >= 2
		})
		if i >= 0 {
			t.Logf("apply attempt %d after: %s", desc.PendingActivities[i].Attempt, desc.PendingActivities[i].LastFailure.GetMessage())
			break
		}
		if desc.WorkflowExecutionInfo.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Fatalf("the sync ended (%v) without retrying its apply", desc.WorkflowExecutionInfo.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A scheduled run meanwhile: the sync is running, so it is skipped.
	sched, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: fmt.Sprintf("%s-test-%d", schemas.FileSyncScheduleID("dev"), time.Now().UnixNano()), TaskQueue: schemas.GlobalTaskQueue,
	}, schemas.FileSyncWorkflow, schemas.FileSyncInput{Cluster: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	var skipped schemas.FileSyncResult
	if err := sched.Get(ctx, &skipped); err != nil || skipped.Skipped == "" || skipped.RanAs != schemas.FileSyncWorkflowID("dev") {
		t.Errorf("scheduled run while a sync runs: %+v, %v; want it skipped", skipped, err)
	}

	if err := chattr("-i"); err != nil {
		t.Fatal(err)
	}
	var res schemas.FileSyncResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("FileSync: %v", err)
	}
	r := res.Trees[0]
	t.Logf("resumed %d, copied %d, %.1fs", r.Resumed, r.Copied, r.Seconds)
	treediff.RequireSame(t, src, copy)
	if r.Resumed < 5 {
		t.Errorf("the apply that succeeded resumed %d files, want the 5 written before the failure", r.Resumed)
	}
}
