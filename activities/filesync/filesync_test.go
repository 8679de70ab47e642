package filesync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/testsuite"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/internal/treediff"
	"github.com/runnerhub/lifeboat/schemas"
)

// syncEnv syncs a source directory to a copy (a directory, or the store)
// on this host, driving the activities in the order the workflow does.
type syncEnv struct {
	t     *testing.T
	fs    *FileSync
	store *objstore.Local
	src   string
	copy  string // "" for a store copy
	runs  int
}

func newSyncEnv(t *testing.T, intoStore, allowDeletes bool) *syncEnv {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	idFile := filepath.Join(dir, "identity.txt")
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &syncEnv{t: t, src: filepath.Join(dir, "src")}
	target := &schemas.FileSyncTarget{Store: schemas.SyncStoreBackup}
	if !intoStore {
		e.copy = filepath.Join(dir, "copy")
		target = &schemas.FileSyncTarget{Region: "region-b", Path: e.copy}
	}
	if err := os.Mkdir(e.src, 0o755); err != nil {
		t.Fatal(err)
	}
	topo := &schemas.Topology{
		Cluster: "dev",
		Regions: []schemas.Region{{Name: "region-a"}, {Name: "region-b"}},
		Files:   []schemas.FileTree{{Name: "uploads", Region: "region-a", Path: e.src, AllowDeletes: allowDeletes, Sync: target}},
		Backup: schemas.Backup{Recipients: []string{id.Recipient().String()}, Identity: &schemas.Secret{File: idFile},
			Store: schemas.Store{Type: schemas.StoreLocal, Path: filepath.Join(dir, "store")}},
		Targets: schemas.Targets{RPO: schemas.Duration(time.Hour)},
	}
	e.store = objstore.NewLocal(filepath.Join(dir, "store"))
	if err := os.Mkdir(filepath.Join(dir, "store"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.fs = &FileSync{Topology: topo, Clients: &activities.Clients{Topology: topo, StoreOverride: e.store},
		HeartbeatEvery: 10 * time.Millisecond, Region: "region-b"}
	return e
}

func (e *syncEnv) activities() *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(e.fs)
	return env
}

// run executes one activity and decodes its result into out.
func run[In, Out any](t *testing.T, env *testsuite.TestActivityEnvironment, fn func(context.Context, In) (Out, error), in In) Out {
	t.Helper()
	var out Out
	val, err := env.ExecuteActivity(fn, in)
	if err != nil {
		t.Fatalf("%T: %v", fn, err)
	}
	if err := val.Get(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// syncStep is what one sync did, summed over its activities.
type syncStep struct {
	hashed, rehashed, copied, local, resumed int
	damaged                                  []string
	plan                                     schemas.PlanFileSyncResult
	commit                                   schemas.CommitFileSyncResult
	skipped                                  []string
	early                                    bool // the source scan's plan stood
}

// sync runs one whole sync as the workflow would.
func (e *syncEnv) sync(rehash bool) syncStep {
	e.t.Helper()
	e.runs++
	r := fmt.Sprintf("run-%d", e.runs)
	env := e.activities()
	var st syncStep
	src := run(e.t, env, e.fs.ScanFileTree, schemas.ScanFileTreeInput{Cluster: "dev", Tree: "uploads", Run: r, Plan: true, BatchFiles: 3})
	cp := run(e.t, env, e.fs.ScanFileCopy, schemas.ScanFileCopyInput{Cluster: "dev", Tree: "uploads", Run: r, Rehash: rehash})
	st.hashed, st.rehashed, st.damaged = src.Hashed, cp.Rehashed, cp.Damaged
	if (src.Plan == nil) != (e.copy == "") {
		e.t.Fatalf("ScanFileTree with Plan made plan %v; want one for a directory copy only", src.Plan)
	}
	// The source's early plan stands when the copy is as the last sync left
	// it; otherwise PlanFileSync plans from the copy's scan, as the workflow does.
	st.early = src.Plan != nil && cp.Unchanged
	if st.early {
		st.plan = *src.Plan
	} else {
		st.plan = run(e.t, env, e.fs.PlanFileSync, schemas.PlanFileSyncInput{Cluster: "dev", Tree: "uploads", Run: r, BatchFiles: 3})
	}
	n := len(st.plan.Batches)
	for i, b := range st.plan.Batches {
		var sent schemas.SendFileBatchResult
		switch {
		case i == 0 && st.plan.First != nil:
			sent = *st.plan.First // the plan sent it
		case b.Files > 0:
			sent = run(e.t, env, e.fs.SendFileBatch, schemas.SendFileBatchInput{Cluster: "dev", Tree: "uploads", Run: r, Batch: i})
		}
		st.skipped = append(st.skipped, sent.Skipped...)
		st.copied += sent.Files
		if e.copy != "" {
			a := run(e.t, env, e.fs.ApplyFileBatch, schemas.ApplyFileBatchInput{Cluster: "dev", Tree: "uploads", Run: r, Batch: i, Sent: sent, Commit: i == n-1})
			st.local += a.Local
			st.resumed += a.Resumed
			if a.Committed != nil {
				st.commit = *a.Committed
			}
		}
	}
	if e.copy == "" || n == 0 {
		st.commit = run(e.t, env, e.fs.CommitFileSync, schemas.CommitFileSyncInput{Cluster: "dev", Tree: "uploads", Run: r, Batches: n})
	}
	return st
}

// write makes a file under root with content, mode and a fixed time.
func write(t *testing.T, root, name, content string, mode os.FileMode) {
	t.Helper()
	treediff.WriteFile(t, root, name, []byte(content), mode, time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC))
}

func (e *syncEnv) wantSame() {
	e.t.Helper()
	treediff.RequireSame(e.t, e.src, e.copy)
}

func TestFileSync_DirectoryCopyFollowsTheSource(t *testing.T) {
	e := newSyncEnv(t, false, true)
	big := strings.Repeat("large and compressible ", 20000)
	write(t, e.src, "a.txt", "hello", 0o644)
	write(t, e.src, "deep/er/b.bin", string(bytes.Repeat([]byte{0, 1, 2, 3}, 1000)), 0o600)
	write(t, e.src, "deep/script.sh", "#!/bin/sh\necho hi\n", 0o755)
	write(t, e.src, "big/video.mp4", big, 0o644)
	write(t, e.src, "gone.txt", "soon deleted", 0o644)
	write(t, e.src, "old/x.txt", "a directory that goes", 0o644)
	write(t, e.src, "becomes-a-dir", "a file today", 0o644)
	if err := os.Mkdir(filepath.Join(e.src, "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.txt", filepath.Join(e.src, "latest")); err != nil {
		t.Fatal(err)
	}

	first := e.sync(false)
	e.wantSame()
	if first.copied != 7 || first.plan.Copy != 7 || len(first.plan.Batches) != 3 {
		t.Errorf("first sync sent %d files in %d batches (planned %d), want 7 in 3", first.copied, len(first.plan.Batches), first.plan.Copy)
	}

	// New, changed (same size, time set back), deleted, renamed, mode only,
	// a directory gone, a file that becomes a directory, a link repointed.
	write(t, e.src, "new/c.txt", "brand new", 0o644)
	write(t, e.src, "a.txt", "HELLO", 0o644)
	if err := os.Remove(filepath.Join(e.src, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(e.src, "big/video.mp4"), filepath.Join(e.src, "big/renamed.mp4")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(e.src, "deep/script.sh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(e.src, "old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(e.src, "becomes-a-dir")); err != nil {
		t.Fatal(err)
	}
	write(t, e.src, "becomes-a-dir/inside", "now below a directory", 0o644)
	if err := os.Remove(filepath.Join(e.src, "latest")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("new/c.txt", filepath.Join(e.src, "latest")); err != nil {
		t.Fatal(err)
	}

	second := e.sync(false)
	e.wantSame()
	if second.copied != 3 || second.local != 1 {
		t.Errorf("second sync sent %d files and made %d at the copy; want 3 sent (new, changed, inside) and the rename made locally", second.copied, second.local)
	}
	// New, changed, inside, the renamed file under its new name and the
	// one whose mode changed (its change time moved): the others are as
	// the last scan found them on disk.
	if second.hashed != 5 {
		t.Errorf("second scan hashed %d source files, want 5", second.hashed)
	}
	if second.commit.Deleted < 3 {
		t.Errorf("deleted %d entries, want gone.txt, old/x.txt and old", second.commit.Deleted)
	}
	if !first.early || !second.early {
		t.Errorf("the copy was as the last sync left it, yet the source scan's plan did not stand (first %v, second %v)", first.early, second.early)
	}

	// Damage at the copy that keeps the size and the time: the next sync
	// finds it (the change time moved) and copies the file again.
	damaged := filepath.Join(e.copy, "deep/er/b.bin")
	info, err := os.Stat(damaged)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(damaged, bytes.Repeat([]byte{9}, int(info.Size())), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(damaged, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	third := e.sync(false)
	e.wantSame()
	if third.early {
		t.Error("the copy was damaged since the last sync, yet the source scan's plan stood")
	}
	if !slices.Equal(third.damaged, []string{"deep/er/b.bin"}) || third.copied != 1 || third.hashed != 0 {
		t.Errorf("third sync: damaged %v, sent %d, hashed %d; want deep/er/b.bin found and sent, no source file read", third.damaged, third.copied, third.hashed)
	}

	quiet := e.sync(false)
	if !quiet.early || quiet.hashed != 0 || quiet.rehashed != 0 || len(quiet.plan.Batches) != 0 || quiet.plan.Metadata != 0 {
		t.Errorf("sync of an unchanged tree: %+v; want nothing read, nothing planned", quiet)
	}
	scrub := e.sync(true)
	if scrub.rehashed != 6 || len(scrub.plan.Batches) != 0 {
		t.Errorf("rehash: %d copy files read, %d batches; want all 6 read and nothing to send", scrub.rehashed, len(scrub.plan.Batches))
	}
	// They go in the background once a sync is committed.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		objs, err := e.store.List(context.Background(), schemas.FileSyncRunsPrefix("dev", "uploads"))
		if err == nil && len(objs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("working objects left after the syncs: %v (%v)", objs, err)
			break
		}
	}
}

func TestFileSync_KeepsWhatTheSourceDeletedUnlessAllowed(t *testing.T) {
	e := newSyncEnv(t, false, false)
	write(t, e.src, "keep.txt", "stays", 0o644)
	write(t, e.src, "gone.txt", "deleted at the source", 0o644)
	e.sync(false)
	if err := os.Remove(filepath.Join(e.src, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	st := e.sync(false)
	if st.commit.Deleted != 0 || st.plan.Kept != 1 {
		t.Errorf("deleted %d, kept %d; want nothing deleted and gone.txt kept", st.commit.Deleted, st.plan.Kept)
	}
	if _, err := os.Stat(filepath.Join(e.copy, "gone.txt")); err != nil {
		t.Errorf("gone.txt left the copy: %v", err)
	}
	// Kept files stay in the manifest: the verification finds nothing extra.
	v := run(t, e.activities(), e.fs.VerifyFileCopy, schemas.VerifyFileCopyInput{Cluster: "dev", Tree: "uploads"})
	if v.Differences() != 0 {
		t.Errorf("verify: %+v, want no difference", v)
	}
}

func TestVerifyFileCopy_ReportsEveryDifferenceAndTheNextSyncRepairsIt(t *testing.T) {
	e := newSyncEnv(t, false, true)
	for _, n := range []string{"damaged", "missing", "chmodded", "fine"} {
		write(t, e.src, n, "content of "+n, 0o644)
	}
	e.sync(false)
	when := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	if err := os.WriteFile(filepath.Join(e.copy, "damaged"), []byte("CONTENT OF DAMAGED"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(e.copy, "damaged"), when, when); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(e.copy, "missing")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(e.copy, "chmodded"), 0o600); err != nil {
		t.Fatal(err)
	}
	write(t, e.copy, "extra", "not from the source", 0o644)

	v := run(t, e.activities(), e.fs.VerifyFileCopy, schemas.VerifyFileCopyInput{Cluster: "dev", Tree: "uploads"})
	got := fmt.Sprint(v.Damaged, v.Missing, v.Changed, v.Extra, v.Differences(), v.Files)
	if want := "[damaged] [missing] [chmodded] [extra] 4 4"; got != want {
		t.Errorf("verify found %s, want %s", got, want)
	}
	st := e.sync(false)
	e.wantSame()
	if !slices.Contains(st.damaged, "damaged") {
		t.Errorf("the sync after the verification reported damaged %v, want it to name damaged", st.damaged)
	}
	if v := run(t, e.activities(), e.fs.VerifyFileCopy, schemas.VerifyFileCopyInput{Cluster: "dev", Tree: "uploads"}); v.Differences() != 0 {
		t.Errorf("verify after the sync: %+v, want no difference", v)
	}
}

func TestApplyFileBatch_ResumesAfterTheFilesAnEarlierAttemptWrote(t *testing.T) {
	e := newSyncEnv(t, false, true)
	for _, n := range []string{"a", "b", "c", "d"} {
		write(t, e.src, n, strings.Repeat(n, 1000), 0o644)
	}
	env := e.activities()
	in := func(r string) (schemas.ScanFileTreeInput, schemas.ScanFileCopyInput, schemas.PlanFileSyncInput) {
		return schemas.ScanFileTreeInput{Cluster: "dev", Tree: "uploads", Run: r},
			schemas.ScanFileCopyInput{Cluster: "dev", Tree: "uploads", Run: r},
			schemas.PlanFileSyncInput{Cluster: "dev", Tree: "uploads", Run: r}
	}
	s, c, p := in("r1")
	run(t, env, e.fs.ScanFileTree, s)
	run(t, env, e.fs.ScanFileCopy, c)
	sent := *run(t, env, e.fs.PlanFileSync, p).First

	// "c" cannot be written: a directory holds its place. The first
	// attempt writes a and b, then fails.
	write(t, e.copy, "c/blocker", "x", 0o644)
	apply := schemas.ApplyFileBatchInput{Cluster: "dev", Tree: "uploads", Run: "r1", Sent: sent}
	if _, err := env.ExecuteActivity(e.fs.ApplyFileBatch, apply); err == nil || !strings.Contains(err.Error(), "c") {
		t.Fatalf("first attempt: err = %v, want it to fail on c", err)
	}
	if err := os.RemoveAll(filepath.Join(e.copy, "c")); err != nil {
		t.Fatal(err)
	}
	// The retry gets the last heartbeat of the failed attempt.
	retry := e.activities()
	retry.SetHeartbeatDetails(schemas.FileSyncProgress{Tree: "uploads", Phase: schemas.PhaseApply, Batch: 0, Done: 2})
	apply.Commit = true
	res := run(t, retry, e.fs.ApplyFileBatch, apply)
	if res.Resumed != 2 || res.Written != 2 || res.Committed == nil || res.Committed.Files != 4 {
		t.Errorf("retry: resumed %d, wrote %d, committed %+v; want a and b found done, c and d written, 4 files committed", res.Resumed, res.Written, res.Committed)
	}
	e.wantSame()
}

func TestScanFileTree_ResumesFromItsCheckpoint(t *testing.T) {
	e := newSyncEnv(t, false, true)
	for i := range 40 {
		write(t, e.src, fmt.Sprintf("f%02d", i), strings.Repeat("x", i*100), 0o644)
	}
	e.fs.CheckpointEvery = time.Nanosecond // after every file handed out
	e.fs.Hashers = 1
	env := e.activities()
	first := run(t, env, e.fs.ScanFileTree, schemas.ScanFileTreeInput{Cluster: "dev", Tree: "uploads", Run: "r1"})
	checkpoint := schemas.FileSyncRunKey("dev", "uploads", "r1", sourcePartialName)
	partial, err := getFileManifest(context.Background(), e.store, checkpoint)
	if err != nil {
		t.Fatalf("no checkpoint saved: %v", err)
	}
	// As if the scan had died: no cache of a finished scan, only the checkpoint.
	if err := e.store.Delete(context.Background(), schemas.FileSourceCacheKey("dev", "uploads")); err != nil {
		t.Fatal(err)
	}
	retry := e.activities()
	retry.SetHeartbeatDetails(schemas.FileSyncProgress{Tree: "uploads", Phase: schemas.PhaseScanSource, Checkpoint: checkpoint})
	second := run(t, retry, e.fs.ScanFileTree, schemas.ScanFileTreeInput{Cluster: "dev", Tree: "uploads", Run: "r1"})
	if first.Hashed != 40 || len(partial.Entries) == 0 || second.Hashed != 40-len(partial.Entries) {
		t.Errorf("first scan hashed %d, checkpoint held %d, retry hashed %d; want 40, some, and the rest", first.Hashed, len(partial.Entries), second.Hashed)
	}
	a, _ := getFileManifest(context.Background(), e.store, first.Key)
	b, _ := getFileManifest(context.Background(), e.store, second.Key)
	if !slices.EqualFunc(a.Entries, b.Entries, func(x, y schemas.FileEntry) bool { return x == y }) {
		t.Error("the resumed scan's manifest differs from the whole scan's")
	}
}

func TestFileSync_StoreCopyKeepsEachContentOnceAndRepairsDamage(t *testing.T) {
	e := newSyncEnv(t, true, true)
	write(t, e.src, "a", "same content", 0o644)
	write(t, e.src, "b", "same content", 0o644)
	write(t, e.src, "c", "other content", 0o600)
	first := e.sync(false)
	objects := func() []objstore.ObjectInfo {
		objs, err := e.store.List(context.Background(), schemas.FileObjectsPrefix("dev", "uploads"))
		if err != nil {
			t.Fatal(err)
		}
		return objs
	}
	if len(objects()) != 2 || first.copied != 2 {
		t.Fatalf("stored %d objects, sent %d; want 2 contents for 3 files", len(objects()), first.copied)
	}
	if err := os.Rename(filepath.Join(e.src, "c"), filepath.Join(e.src, "renamed")); err != nil {
		t.Fatal(err)
	}
	if st := e.sync(false); st.copied != 0 || len(objects()) != 2 {
		t.Errorf("a rename sent %d files and left %d objects; want nothing sent, 2 objects", st.copied, len(objects()))
	}
	// Damage one object in place, same size.
	key := schemas.FileObjectKey("dev", "uploads", sha256Hex("other content"))
	p := filepath.Join(e.store.Bucket(), filepath.FromSlash(key))
	body, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	body[len(body)-3] ^= 0xff
	if err := os.WriteFile(p, body, 0o600); err != nil {
		t.Fatal(err)
	}
	v := run(t, e.activities(), e.fs.VerifyFileCopy, schemas.VerifyFileCopyInput{Cluster: "dev", Tree: "uploads"})
	if !slices.Equal(v.Damaged, []string{"renamed"}) || v.Differences() != 1 {
		t.Errorf("verify: %+v, want renamed damaged", v)
	}
	st := e.sync(false)
	if st.copied != 1 || st.rehashed == 0 {
		t.Errorf("sync after the verification sent %d, rehashed %d; want the damaged content read and sent again", st.copied, st.rehashed)
	}
	if v := run(t, e.activities(), e.fs.VerifyFileCopy, schemas.VerifyFileCopyInput{Cluster: "dev", Tree: "uploads"}); v.Differences() != 0 {
		t.Errorf("verify after the repair: %+v", v)
	}
	if err := os.Remove(filepath.Join(e.src, "a")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(e.src, "b")); err != nil {
		t.Fatal(err)
	}
	if e.sync(false); len(objects()) != 1 {
		t.Errorf("%d objects once no file names the shared content, want 1", len(objects()))
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestFileSyncMetrics_ReportTheLagOfTheLastSync(t *testing.T) {
	e := newSyncEnv(t, false, true)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(FileSyncCollector(e.fs))
	values := func() map[string]float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				out[mf.GetName()] = m.GetGauge().GetValue()
			}
		}
		return out
	}
	if got := values(); got["lifeboat_filesync_over_rpo"] != 1 || len(got) != 1 {
		t.Errorf("before any sync: %v, want only over_rpo = 1", got)
	}
	write(t, e.src, "a", "a", 0o644)
	e.sync(false)
	got := values()
	if lag := got["lifeboat_filesync_lag_seconds"]; lag <= 0 || lag > 60 || got["lifeboat_filesync_over_rpo"] != 0 {
		t.Errorf("after a sync: %v, want a lag of seconds within the hour's RPO", got)
	}
	// Another worker reads the status from the store.
	other := &FileSync{Topology: e.fs.Topology, Clients: e.fs.Clients, Region: "region-b"}
	reg2 := prometheus.NewPedanticRegistry()
	reg2.MustRegister(FileSyncCollector(other))
	if n, err := reg2.Gather(); err != nil || len(n) != 2 {
		t.Errorf("a fresh worker gathers %d series (%v), want lag and over_rpo from the stored status", len(n), err)
	}
}
