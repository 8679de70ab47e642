package filesync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.temporal.io/sdk/activity"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/activities/pipeline"
	"github.com/runnerhub/lifeboat/policy"
	"github.com/runnerhub/lifeboat/schemas"
)

// FileSync replicates the file trees of a topology to their copies
// (schemas.FileTree.Sync): the source's region lists and hashes the tree
// and sends what changed; a directory copy's region lists the copy,
// writes the files and verifies each by its SHA-256. Manifests, plans and
// staged batches travel through the store that keeps the tree's sync state,
// never through workflow history.
type FileSync struct {
	Topology *schemas.Topology
	Clients  *activities.Clients
	Logger   *zap.Logger
	// Region is this worker's region: the lag metric reports the copies
	// its region writes.
	Region string
	// Level and Concurrency tune the zstd of transfers; zero means
	// DefaultSyncLevel and the pipeline's default concurrency.
	Level       int
	Concurrency int
	// Hashers is how many files are hashed at once; zero means GOMAXPROCS.
	Hashers int
	// HeartbeatEvery is how often progress is reported; zero means 5 s.
	HeartbeatEvery time.Duration
	// CheckpointEvery is how often a scan saves the hashes it has made, for
	// a retried attempt to start from; zero means a minute.
	CheckpointEvery time.Duration

	metricsOnce sync.Once
	metrics     *fileSyncMetrics
}

// tree returns the named tree of the cluster, which must have a sync target.
func (f *FileSync) tree(cluster, name string) (schemas.FileTree, error) {
	if cluster != f.Topology.Cluster {
		return schemas.FileTree{}, activities.UnknownCluster(cluster, f.Topology.Cluster)
	}
	for _, t := range f.Topology.Files {
		if t.Name != name {
			continue
		}
		if t.Sync == nil {
			return t, activities.InvalidInput("tree", fmt.Sprintf("%q has no sync target in the topology of cluster %s", name, cluster))
		}
		return t, nil
	}
	return schemas.FileTree{}, activities.InvalidInput("tree", fmt.Sprintf("%q is not a file tree of cluster %s", name, cluster))
}

// runName is what a run may be called: it becomes a key segment.
var runName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// Where an activity of a tree runs: the region whose disks it needs, or
// any worker ("").
var (
	onSource = func(t schemas.FileTree) string { return t.Region }
	onCopy   = func(t schemas.FileTree) string { return t.CopyRegion() }
	anywhere = func(schemas.FileTree) string { return "" }
)

// begin checks what every file sync activity is given: the cluster and
// tree, and that the activity was delivered to the region where it must
// run. It returns the tree and the store of its sync state.
func (f *FileSync) begin(ctx context.Context, cluster, name string, where func(schemas.FileTree) string) (schemas.FileTree, objstore.Store, error) {
	t, err := f.tree(cluster, name)
	if err != nil {
		return t, nil, err
	}
	if region := where(t); region != "" {
		if err := activities.CheckQueue(ctx, "tree", region); err != nil {
			return t, nil, err
		}
	}
	store, err := f.syncStore(ctx, t)
	return t, store, err
}

// beginRun is begin for the activities of one sync run, which name it.
func (f *FileSync) beginRun(ctx context.Context, cluster, name, run string, where func(schemas.FileTree) string) (schemas.FileTree, objstore.Store, error) {
	if !runName.MatchString(run) {
		return schemas.FileTree{}, nil, activities.InvalidInput("run", fmt.Sprintf("%q: want 1 to 128 letters, digits, '.', '_' or '-'", run))
	}
	return f.begin(ctx, cluster, name, where)
}

// syncStore is the store that keeps a tree's sync state: the copy's own
// store for a store copy, backup.store for a directory copy.
func (f *FileSync) syncStore(ctx context.Context, t schemas.FileTree) (objstore.Store, error) {
	if t.Sync.Store == schemas.SyncStoreReplica {
		return f.Clients.ReplicaStore(ctx)
	}
	return f.Clients.Store(ctx)
}

func (f *FileSync) hashers() int {
	if f.Hashers > 0 {
		return f.Hashers
	}
	return runtime.GOMAXPROCS(0)
}

func (f *FileSync) heartbeatEvery() time.Duration {
	if f.HeartbeatEvery > 0 {
		return f.HeartbeatEvery
	}
	return 5 * time.Second
}

func (f *FileSync) checkpointEvery() time.Duration {
	if f.CheckpointEvery > 0 {
		return f.CheckpointEvery
	}
	return time.Minute
}

func (f *FileSync) logger() *zap.Logger { return activities.OrNop(f.Logger) }

// sealOptions are the pipeline options of transfers.
func (f *FileSync) sealOptions() (pipeline.Options, error) {
	recipients, err := pipeline.ParseRecipients(f.Topology.Backup.Recipients)
	if err != nil {
		return pipeline.Options{}, activities.InvalidInput("backup.recipients", err.Error())
	}
	level := f.Level
	if level == 0 {
		level = DefaultSyncLevel
	}
	return pipeline.Options{Recipients: recipients, Level: level, Concurrency: f.Concurrency}, nil
}

// DefaultSyncLevel is the zstd level of transfers: a batch is compressed
// once and read once, so the fastest level pays, where a backup, stored
// for months, takes level 3.
const DefaultSyncLevel = 1

// lastProgress is the heartbeat a retried attempt left, or the zero value.
func lastProgress(ctx context.Context) schemas.FileSyncProgress {
	var p schemas.FileSyncProgress
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &p) // a bad detail only costs redoing the work
	}
	return p
}

// beat records p now; the SDK sends it at most every throttle interval.
func beat(ctx context.Context, p schemas.FileSyncProgress) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, p)
	}
}

// Plans and reports are JSON, manifests a binary form (a manifest is read
// and written several times a sync); all are compressed, and held whole in
// memory: about 100 bytes a file.

// maxStateBytes bounds what one state object may inflate to.
const maxStateBytes = 4 << 30

var (
	zenc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	zdec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxStateBytes))
)

// putState stores v as compressed JSON under key, and under each of more.
func putState(ctx context.Context, store objstore.Store, key string, v any, more ...string) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return putBlob(ctx, store, body, key, more...)
}

// getState reads what putState stored into v. A missing object is
// objstore.ErrNotFound; one that does not decode is Corrupt.
func getState(ctx context.Context, store objstore.Store, key string, v any) error {
	body, err := getBlob(ctx, store, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return activities.Corrupt(fmt.Sprintf("%s in %s does not parse: %v", key, store, err))
	}
	return nil
}

// putFileManifest stores a manifest in its binary form (see
// schemas.EncodeFileManifest), compressed, under key and each of more.
func putFileManifest(ctx context.Context, store objstore.Store, key string, m schemas.FileManifest, more ...string) error {
	body, err := EncodeFileManifest(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return putBlob(ctx, store, body, key, more...)
}

// getFileManifest reads a manifest and refuses one of a newer format.
func getFileManifest(ctx context.Context, store objstore.Store, key string) (schemas.FileManifest, error) {
	body, err := getBlob(ctx, store, key)
	if err != nil {
		return schemas.FileManifest{}, err
	}
	m, err := DecodeFileManifest(body)
	if err != nil {
		return m, activities.Corrupt(fmt.Sprintf("%s in %s: %v", key, store, err))
	}
	if m.FormatVersion > schemas.FileManifestFormatVersion {
		return m, activities.Corrupt(fmt.Sprintf("%s is format %d; this worker reads up to %d: upgrade it", key, m.FormatVersion, schemas.FileManifestFormatVersion))
	}
	return m, nil
}

// putBlob stores body, compressed, under key and each of more.
func putBlob(ctx context.Context, store objstore.Store, body []byte, key string, more ...string) error {
	z := zenc.EncodeAll(body, make([]byte, 0, len(body)/4))
	for _, k := range append([]string{key}, more...) {
		if err := store.Put(ctx, k, bytes.NewReader(z), int64(len(z))); err != nil {
			return fmt.Errorf("write %s: %w", k, err)
		}
	}
	return nil
}

// getBlob reads what putBlob stored. A missing object is
// objstore.ErrNotFound; one that does not decompress is Corrupt.
func getBlob(ctx context.Context, store objstore.Store, key string) ([]byte, error) {
	rc, err := store.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	defer rc.Close()
	z, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	body, err := zdec.DecodeAll(z, nil)
	if err != nil {
		return nil, activities.Corrupt(fmt.Sprintf("%s in %s does not decompress: %v", key, store, err))
	}
	return body, nil
}

// copyManifest reads the manifest the last successful sync wrote, or an
// empty one when the tree was never synced.
func copyManifest(ctx context.Context, store objstore.Store, t schemas.FileTree, cluster string) (schemas.FileManifest, error) {
	m, err := getFileManifest(ctx, store, schemas.FileCopyManifestKey(cluster, t.Name))
	if errors.Is(err, objstore.ErrNotFound) {
		return schemas.FileManifest{FormatVersion: schemas.FileManifestFormatVersion, Cluster: cluster, Tree: t.Name}, nil
	}
	return m, err
}

// ScanFileTree lists the source tree with the SHA-256 of every regular
// file and stores the manifest for the run. A file whose size, times and
// inode are those of the last scan keeps its hash; the others are read,
// several at a time. Hashes made so far are saved every CheckpointEvery,
// and a retried attempt starts from them. It runs in the tree's region.
func (f *FileSync) ScanFileTree(ctx context.Context, in schemas.ScanFileTreeInput) (schemas.ScanFileTreeResult, error) {
	t, store, err := f.beginRun(ctx, in.Cluster, in.Tree, in.Run, onSource)
	if err != nil {
		return schemas.ScanFileTreeResult{}, err
	}
	taken := time.Now().UTC()
	cacheKey := schemas.FileSourceCacheKey(in.Cluster, t.Name)
	cacheF := activities.Later(func() (schemas.FileManifest, error) { return getFileManifest(ctx, store, cacheKey) })
	load := func(s *scanner) error {
		cache, err := cacheF()
		if err != nil && !errors.Is(err, objstore.ErrNotFound) {
			// Only a cache: the scan reads every file instead.
			f.logger().Warn("source hashes of the last scan are unreadable; hashing every file", zap.String("tree", t.Name), zap.Error(err))
			cache = schemas.FileManifest{}
		}
		s.known = indexByPath(cache.Entries)
		if last := lastProgress(ctx); last.Checkpoint != "" {
			if partial, err := getFileManifest(ctx, store, last.Checkpoint); err == nil {
				for _, e := range partial.Entries {
					s.known[e.Path] = e
				}
				f.logger().Info("scan resumes from its checkpoint", zap.String("tree", t.Name), zap.Int("hashed", len(partial.Entries)))
			}
		}
		return nil
	}
	checkpoint := schemas.FileSyncRunKey(in.Cluster, t.Name, in.Run, sourcePartialName)
	s := &scanner{
		ctx: ctx, root: t.Path, load: load, hashers: f.hashers(),
		progress:  schemas.FileSyncProgress{Tree: t.Name, Phase: schemas.PhaseScanSource},
		beatEvery: f.heartbeatEvery(), checkpointEvery: f.checkpointEvery(),
		checkpoint: func(hashed []schemas.FileEntry) error {
			schemas.SortEntries(hashed)
			return putFileManifest(ctx, store, checkpoint, schemas.FileManifest{FormatVersion: schemas.FileManifestFormatVersion, Entries: hashed})
		},
		checkpointKey: checkpoint,
	}
	// With Plan, what the last sync left at the copy is read meanwhile. Not
	// for a store copy: the plan's batch 0 goes into the store the copy's
	// scan lists, which would then never find it as it was.
	early := in.Plan && t.Sync.Store == ""
	var lastCopyF func() (schemas.FileManifest, error)
	if early {
		lastCopyF = activities.Later(func() (schemas.FileManifest, error) { return copyManifest(ctx, store, t, in.Cluster) })
	}
	entries, err := s.scan()
	if err != nil {
		return schemas.ScanFileTreeResult{}, fmt.Errorf("scan file tree %s: %w", t.Name, err)
	}
	m := schemas.FileManifest{FormatVersion: schemas.FileManifestFormatVersion, Cluster: in.Cluster, Tree: t.Name, Taken: taken, Entries: entries}
	// One object is both this run's source manifest and the next scan's
	// cache: it says only what the source held, whatever becomes of this
	// sync, and one sync of a tree runs at a time. It is stored while the
	// early plan runs, and before the scan answers.
	key := cacheKey
	putF := activities.Later(func() (struct{}, error) { return struct{}{}, putFileManifest(ctx, store, key, m) })
	res := schemas.ScanFileTreeResult{Key: key, Hashed: s.hashed, HashedBytes: s.hashedBytes, Skipped: s.skipped, Taken: taken}
	res.Files, res.Bytes = countFiles(entries)
	var planErr error
	if early {
		// Only a head start: without it the workflow plans after both scans.
		if last, err := lastCopyF(); err == nil {
			p, err := f.plan(ctx, store, t, schemas.PlanFileSyncInput{
				Cluster: in.Cluster, Tree: in.Tree, Run: in.Run, BatchFiles: in.BatchFiles, BatchMB: in.BatchMB,
			}, m, last)
			res.Plan, planErr = &p, err
		}
	}
	_, putErr := putF()
	if err := errors.Join(putErr, planErr); err != nil {
		return schemas.ScanFileTreeResult{}, err
	}
	f.logger().Info("file tree scanned", zap.String("tree", t.Name), zap.Int("files", res.Files), zap.Int64("bytes", res.Bytes),
		zap.Int("hashed", res.Hashed), zap.Duration("took", time.Since(taken)))
	return res, nil
}

// countFiles counts the regular files of entries and their bytes.
func countFiles(entries []schemas.FileEntry) (files int, bytes int64) {
	for _, e := range entries {
		if e.Type == schemas.EntryFile {
			files++
			bytes += e.Size
		}
	}
	return files, bytes
}

func indexByPath(es []schemas.FileEntry) map[string]schemas.FileEntry {
	m := make(map[string]schemas.FileEntry, len(es))
	for _, e := range es {
		m[e.Path] = e
	}
	return m
}

// PlanFileSync compares the run's manifests of the source and of the copy
// and stores the plan: its steps, and each transfer batch apart, so each
// batch's activity reads only its own. Then it sends batch 0 as
// SendFileBatch would: it runs in the tree's region, and a sync of a few
// changed files is thus a round trip shorter.
func (f *FileSync) PlanFileSync(ctx context.Context, in schemas.PlanFileSyncInput) (schemas.PlanFileSyncResult, error) {
	t, store, err := f.beginRun(ctx, in.Cluster, in.Tree, in.Run, onSource)
	if err != nil {
		return schemas.PlanFileSyncResult{}, err
	}
	if in.BatchFiles < 0 || in.BatchMB < 0 {
		return schemas.PlanFileSyncResult{}, activities.InvalidInput("batch_files", "batch bounds must be at least 0 (0 means the default)")
	}
	cpF := activities.Later(func() (schemas.FileManifest, error) {
		return getFileManifest(ctx, store, schemas.FileSyncRunKey(in.Cluster, t.Name, in.Run, copyName))
	})
	src, err := getFileManifest(ctx, store, schemas.FileSourceCacheKey(in.Cluster, t.Name))
	cp, cpErr := cpF()
	if err = errors.Join(err, cpErr); err != nil {
		return schemas.PlanFileSyncResult{}, err
	}
	return f.plan(ctx, store, t, in, src, cp)
}

// plan stores the plan from src to cp and sends its batch 0; see
// PlanFileSync.
func (f *FileSync) plan(ctx context.Context, store objstore.Store, t schemas.FileTree, in schemas.PlanFileSyncInput, src, cp schemas.FileManifest) (schemas.PlanFileSyncResult, error) {
	p := policy.PlanFileSync(src, cp, schemas.PlanOptions{
		AllowDeletes: t.AllowDeletes, Store: t.Sync.Store != "",
		BatchFiles: in.BatchFiles, BatchBytes: int64(in.BatchMB) << 20,
	})
	res := schemas.PlanFileSyncResult{
		Local: len(p.Local), Metadata: len(p.Meta) + len(p.Links), Delete: len(p.Deletes) + len(p.Removals), Kept: len(p.Kept),
		Conflicts: p.Conflicts[:min(len(p.Conflicts), schemas.MaxListed)],
	}
	res.Copy, res.CopyBytes = p.Transfers()
	for i, b := range p.Batches {
		// Batch 0 travels in the plan itself, which its apply reads anyway.
		if i > 0 {
			if err := putState(ctx, store, batchPlanKey(in.Cluster, t.Name, in.Run, i), b); err != nil {
				return res, err
			}
		}
		files, bytes := countFiles(b)
		res.Batches = append(res.Batches, schemas.FileBatchSummary{Files: files, Bytes: bytes})
	}
	// A directory copy prepares itself in batch 0 even when nothing is sent.
	if len(res.Batches) == 0 && t.Sync.Store == "" && len(p.Removals)+len(p.Dirs)+len(p.Local) > 0 {
		res.Batches = []schemas.FileBatchSummary{{}}
	}
	first := p.Batches
	p.Batches = p.Batches[:min(len(p.Batches), 1)]
	if err := putState(ctx, store, planKey(in.Cluster, t.Name, in.Run), p); err != nil {
		return res, err
	}
	if len(first) > 0 {
		sent, err := f.sendBatch(ctx, store, t, in.Cluster, in.Run, 0, first[0])
		if err != nil {
			return res, err
		}
		res.First = &sent
	}
	return res, nil
}

// Names of a run's working objects.
const (
	sourcePartialName = "source.partial.manifest.zst"
	copyName          = "copy.manifest.zst"
)

// planKey holds the plan, with batch 0; batchPlanKey each further batch.
func planKey(cluster, tree, run string) string {
	return schemas.FileSyncRunKey(cluster, tree, run, "plan.json.zst")
}

func batchPlanKey(cluster, tree, run string, i int) string {
	return schemas.FileSyncRunKey(cluster, tree, run, fmt.Sprintf("batch-%06d.json.zst", i))
}

func batchDoneKey(cluster, tree, run string, i int) string {
	return schemas.FileSyncRunKey(cluster, tree, run, fmt.Sprintf("done-%06d.json.zst", i))
}

func batchDataKey(cluster, tree, run string, i int) string {
	return schemas.FileSyncRunKey(cluster, tree, run, fmt.Sprintf("batch-%06d.zst.age", i))
}

// runState is what a commit reads of its run.
type runState struct {
	src, copy schemas.FileManifest
	plan      schemas.FileSyncPlan
	done      map[string]schemas.FileEntry
	objects   []schemas.StoredObject
	skipped   []string
}

// runHeld is what the apply that commits already holds of its run: the
// plan when it read it, its own report, and the run's manifests, whose
// reading it started with the batch.
type runHeld struct {
	plan      *schemas.FileSyncPlan
	last      *schemas.FileBatchDone // the report of the run's last batch
	manifests func() (src, cp schemas.FileManifest, err error)
}

// readManifests starts reading the run's manifests of the source and of
// the copy, side by side, and returns a function that waits for them.
func readManifests(ctx context.Context, store objstore.Store, cluster, tree, run string) func() (src, cp schemas.FileManifest, err error) {
	srcF := activities.Later(func() (schemas.FileManifest, error) {
		return getFileManifest(ctx, store, schemas.FileSourceCacheKey(cluster, tree))
	})
	cpF := activities.Later(func() (schemas.FileManifest, error) {
		return getFileManifest(ctx, store, schemas.FileSyncRunKey(cluster, tree, run, copyName))
	})
	return func() (src, cp schemas.FileManifest, err error) {
		src, err = srcF()
		cp, cpErr := cpF()
		return src, cp, errors.Join(err, cpErr)
	}
}

// readRun reads the run's manifests, plan and what each batch reported,
// but what held already holds.
func readRun(ctx context.Context, store objstore.Store, cluster, tree, run string, batches int, held runHeld) (runState, error) {
	var r runState
	manifests := held.manifests
	if manifests == nil {
		manifests = readManifests(ctx, store, cluster, tree, run)
	}
	plan, last := held.plan, held.last
	var err error
	if r.src, r.copy, err = manifests(); err != nil {
		return r, err
	}
	if plan != nil {
		r.plan = *plan
	} else if err := getState(ctx, store, planKey(cluster, tree, run), &r.plan); err != nil {
		return r, err
	}
	r.done = map[string]schemas.FileEntry{}
	for i := range batches {
		var d schemas.FileBatchDone
		if i == batches-1 && last != nil {
			d = *last
		} else if err := getState(ctx, store, batchDoneKey(cluster, tree, run, i), &d); err != nil {
			return r, fmt.Errorf("batch %d was not applied: %w", i, err)
		}
		for _, e := range d.Entries {
			r.done[e.Path] = e
		}
		r.objects = append(r.objects, d.Objects...)
		r.skipped = append(r.skipped, d.Skipped...)
	}
	return r, nil
}

// finishRun stores the copy's new manifest and the status, then removes
// the working objects of every run of the tree: one sync of a tree runs at
// a time, so any other run's are left from a sync that failed.
func (f *FileSync) finishRun(ctx context.Context, store objstore.Store, cluster string, t schemas.FileTree, run string, m schemas.FileManifest) (schemas.FileSyncStatus, error) {
	putF := activities.Later(func() (struct{}, error) {
		return struct{}{}, putFileManifest(ctx, store, schemas.FileCopyManifestKey(cluster, t.Name), m)
	})
	st := schemas.FileSyncStatus{Tree: t.Name, Run: run, SyncedAt: time.Now().UTC(), SourceTime: m.Taken}
	if activity.IsActivity(ctx) {
		st.Workflow = activity.GetInfo(ctx).WorkflowExecution.ID
	}
	st.Files, st.Bytes = countFiles(m.Entries)
	body, err := json.Marshal(st)
	if err != nil {
		return st, err
	}
	// The status may land before the manifest: it only dates the copy,
	// and the sync is not done before both are stored.
	err = store.Put(ctx, schemas.FileSyncStatusKey(cluster, t.Name), bytes.NewReader(body), int64(len(body)))
	if _, perr := putF(); perr != nil {
		return st, perr
	}
	if err != nil {
		return st, fmt.Errorf("write sync status of %s: %w", t.Name, err)
	}
	f.observeSync(t, st)
	// The sync is done and recorded: its working objects go in the
	// background, with those a failed sync left (older by a margin than
	// this commit, so that a sync that starts meanwhile keeps its own);
	// what a worker that stops first leaves behind goes with a later sync.
	cutoff := st.SyncedAt.Add(-staleRunAge)
	go func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		own := schemas.FileSyncRunKey(cluster, t.Name, run, "")
		_, err := deletePrefix(cctx, store, schemas.FileSyncRunsPrefix(cluster, t.Name), func(o objstore.ObjectInfo) bool {
			return strings.HasPrefix(o.Key, own) || o.ModTime.Before(cutoff)
		})
		if err != nil {
			f.logger().Warn("working objects of the sync left behind", zap.String("tree", t.Name), zap.Error(err))
		}
	}()
	return st, nil
}

// staleRunAge is how old another run's working objects must be for a
// commit to remove them: more than clocks drift apart.
const staleRunAge = 10 * time.Minute

// deletePrefix removes the objects under prefix that which accepts (all
// with nil), several at a time.
func deletePrefix(ctx context.Context, store objstore.Store, prefix string, which func(objstore.ObjectInfo) bool) (int, error) {
	all, err := store.List(ctx, prefix)
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", prefix, err)
	}
	var objs []objstore.ObjectInfo
	for _, o := range all {
		if which == nil || which(o) {
			objs = append(objs, o)
		}
	}
	keys := make(chan string)
	errs := make(chan error, len(objs))
	var wg sync.WaitGroup
	for range min(len(objs), 8) {
		wg.Go(func() {
			for k := range keys {
				if err := store.Delete(ctx, k); err != nil {
					errs <- fmt.Errorf("delete %s: %w", k, err)
				}
			}
		})
	}
	for _, o := range objs {
		keys <- o.Key
	}
	close(keys)
	wg.Wait()
	close(errs)
	return len(objs) - len(errs), <-errs
}

// DiscardFileSyncRun removes the working objects of a run that failed or
// was cancelled; removing nothing is fine.
func (f *FileSync) DiscardFileSyncRun(ctx context.Context, in schemas.DiscardFileSyncRunInput) (schemas.DiscardFileSyncRunResult, error) {
	t, store, err := f.beginRun(ctx, in.Cluster, in.Tree, in.Run, anywhere)
	if err != nil {
		return schemas.DiscardFileSyncRunResult{}, err
	}
	n, err := deletePrefix(ctx, store, schemas.FileSyncRunKey(in.Cluster, t.Name, in.Run, ""), nil)
	return schemas.DiscardFileSyncRunResult{Deleted: n}, err
}

// limited returns at most MaxListed of paths.
func limited(paths []string) []string {
	return paths[:min(len(paths), schemas.MaxListed)]
}
