package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"golang.org/x/sys/unix"
	"sigs.k8s.io/yaml"

	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/internal/treediff"
	"github.com/runnerhub/lifeboat/schemas"
)

// FileSyncNamespace is the Temporal namespace of the file sync benchmark's
// own workers, apart from the stack's and from make bench-backup's.
const FileSyncNamespace = "lifeboat-bench-filesync"

// fileSyncWorkerPorts are the /healthz ports of its workers.
var fileSyncWorkerPorts = map[string]int{devstack.RegionA: 19121, devstack.RegionB: 19122}

// benchTree is the name of the tree in the benchmark's topology.
const benchTree = "bench"

// goalIncrementalVsRsync is the goal: an incremental sync at least as fast
// as `rsync -a --checksum` over the same change.
const goalIncrementalVsRsync = 1.0

// FileSyncConfig says what `make bench-filesync` measures.
type FileSyncConfig struct {
	// Root is the checkout whose local stack runs (make dev).
	Root string
	// Files and SizeMB shape the generated tree (SizeMB in 10^6 bytes).
	Files  int
	SizeMB int
	// ChangePercent of the files get new content before each incremental sync.
	ChangePercent float64
	// Runs is how many times each thing is measured; medians are printed.
	Runs int
	// HotPairs is how many incremental syncs with everything in the page
	// cache each run measures, each tool once per pair, each pair after its
	// own change: they are short, so their ratio is the noisiest figure,
	// and its median is taken over Runs × HotPairs pairs.
	HotPairs int
	// Dir holds the trees; empty means .dev/bench-filesync in Root.
	Dir string
	// Keep leaves the trees for the next run instead of removing them.
	Keep bool
	Logf func(format string, args ...any)
}

// fileSyncBench is one run of the benchmark and what it holds open.
type fileSyncBench struct {
	cfg     FileSyncConfig
	stack   *devstack.Stack
	spec    treeSpec
	dir     string // holds src, the two copies and the topology
	topo    *schemas.Topology
	client  client.Client
	workers []*worker
}

func (b *fileSyncBench) src() string       { return filepath.Join(b.dir, "src") }
func (b *fileSyncBench) lbCopy() string    { return filepath.Join(b.dir, "copy-lifeboat") }
func (b *fileSyncBench) rsyncCopy() string { return filepath.Join(b.dir, "copy-rsync") }
func (b *fileSyncBench) logf(format string, args ...any) {
	if b.cfg.Logf != nil {
		b.cfg.Logf(format, args...)
	}
}

// syncRound is what one round measured, in seconds.
type syncRound struct {
	full, rsyncFull float64
	// incr and rsyncIncr are per incrementalKinds: each kind's times, in
	// the order measured (the hot kind has HotPairs of them).
	incr, rsyncIncr [3][]float64
	sentBytes       int64 // compressed bytes of the full sync
	changedFiles    int
	changedBytes    int64
}

// RunFileSync measures Lifeboat's file sync against `rsync -a --checksum`
// on the same generated tree, and prints the figures to out. It starts
// workers of its own, with a topology whose only tree is the generated
// one, and stops them; the trees and its objects in the store are removed
// unless cfg.Keep.
func RunFileSync(ctx context.Context, cfg FileSyncConfig, out io.Writer) (err error) {
	if cfg.Files < 1 || cfg.SizeMB < 1 || cfg.Runs < 1 || cfg.HotPairs < 1 || cfg.ChangePercent <= 0 || cfg.ChangePercent > 100 {
		return fmt.Errorf("files (%d), size (%d MB), runs (%d) and hot pairs (%d) must be at least 1, the change (%g%%) within (0, 100]",
			cfg.Files, cfg.SizeMB, cfg.Runs, cfg.HotPairs, cfg.ChangePercent)
	}
	began := time.Now()
	stackCfg := devstack.DefaultConfig(cfg.Root)
	cfg.Root = stackCfg.Root
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(cfg.Root, ".dev", "bench-filesync")
	}
	stack, err := devstack.New(stackCfg)
	if err != nil {
		return err
	}
	b := &fileSyncBench{cfg: cfg, stack: stack, dir: cfg.Dir,
		spec: treeSpec{Files: cfg.Files, Bytes: int64(cfg.SizeMB) * 1e6, Seed: 20261129}}
	if err := b.checkPrerequisites(); err != nil {
		return err
	}
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return err
	}
	if !cfg.Keep {
		defer func() { err = errors.Join(err, os.RemoveAll(b.dir)) }()
	}
	files, err := b.spec.generate(b.src(), b.logf)
	if err != nil {
		return err
	}
	if err := b.writeTopology(); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, b.removeState(context.WithoutCancel(ctx))) }()

	stackClient, err := dial(devstack.Namespace, stack.CodecKeys())
	if err != nil {
		return err
	}
	defer stackClient.Close()
	if err := ensureNamespace(ctx, stackClient, FileSyncNamespace); err != nil {
		return err
	}
	if b.client, err = dial(FileSyncNamespace, stack.CodecKeys()); err != nil {
		return err
	}
	defer b.client.Close()
	defer func() { err = errors.Join(err, stopWorkers(b.workers, b.logf)) }()
	for _, region := range []string{devstack.RegionA, devstack.RegionB} {
		w, err := startWorker(ctx, workerSpec{
			root: cfg.Root, topology: filepath.Join(b.dir, "topology.yaml"), region: region, namespace: FileSyncNamespace,
			port: fileSyncWorkerPorts[region], logf: b.logf,
			// No node guards: these workers only sync files.
			env: append(stack.Env(), "LIFEBOAT_GUARD=false"),
		})
		if w != nil {
			b.workers = append(b.workers, w)
		}
		if err != nil {
			return err
		}
	}

	loadBefore := loadAverage()
	busy := map[string]bool{}
	var rounds []syncRound
	for i := range cfg.Runs {
		r, err := b.round(ctx, i, files)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		rounds = append(rounds, r)
		for _, p := range otherWork() {
			busy[p] = true
		}
	}
	match, err := sameTrees(b.src(), b.lbCopy())
	if err != nil {
		return err
	}
	header := []string{
		fmt.Sprintf("lifeboat-bench-filesync: %d files, %d MB, %g%% changed per incremental sync, %d run(s) with %d hot-cache pair(s) each, %d CPU(s), %s",
			cfg.Files, cfg.SizeMB, cfg.ChangePercent, cfg.Runs, cfg.HotPairs, runtime.NumCPU(), time.Now().UTC().Format(time.RFC3339)),
		"lifeboat: the FileSync workflow between the workers of region-a and region-b, batches through the stack's S3 (versitygw), zstd and age",
		"reference: rsync -a --checksum SRC/ COPY/ on the same tree and the same change, in the same run",
		"incremental syncs: each after its own change; cold: the file data of the source and both copies evicted from the page cache first (posix_fadvise), the same for both tools",
		fmt.Sprintf("load average (1 min) before the runs %s, after %s", loadBefore, loadAverage()),
	}
	if len(busy) > 0 {
		header = append(header, "noise: other work ran during the measurements: "+strings.Join(slices.Sorted(maps.Keys(busy)), ", "))
	}
	byName := writeFigures(out, summarizeSync(rounds, b.spec.Bytes), header)
	fmt.Fprintf(out, "copy_matches_source=%d\n", boolInt(match))
	writeGoal(out, byName["incremental_vs_rsync"] >= goalIncrementalVsRsync,
		fmt.Sprintf("incremental sync no slower than rsync's, incremental_vs_rsync >= 1 (%s)", format(byName["incremental_vs_rsync"])))
	writeGoal(out, byName["incremental_hot_vs_rsync"] >= goalIncrementalVsRsync,
		fmt.Sprintf("the same with everything in the page cache, incremental_hot_vs_rsync >= 1 (%s)", format(byName["incremental_hot_vs_rsync"])))
	fmt.Fprintf(out, "# took %.0fs\n", time.Since(began).Seconds())
	if !match {
		return errors.New("the copy Lifeboat made differs from the source")
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (b *fileSyncBench) checkPrerequisites() error {
	if _, err := exec.LookPath("rsync"); err != nil {
		return errors.New("the reference needs rsync: apt-get install -y rsync (make deps installs it)")
	}
	running := map[string]bool{}
	for _, p := range b.stack.Running() {
		running[p.Name] = true
	}
	for _, name := range []string{"temporal", "versitygw"} {
		if !running[name] {
			return fmt.Errorf("%s of the local stack is not running: start the stack with `make dev`", name)
		}
	}
	topo, err := schemas.LoadTopology(b.stack.TopologyPath())
	if err != nil {
		return fmt.Errorf("the stack's topology (start the stack with `make dev`): %w", err)
	}
	b.topo = topo
	return nil
}

// writeTopology writes the stack's topology with the generated tree as its
// only file tree, synced to a directory of region-b, and the store's
// objects under a prefix of their own.
func (b *fileSyncBench) writeTopology() error {
	t := *b.topo
	t.Files = []schemas.FileTree{{Name: benchTree, Region: devstack.RegionA, Path: b.src(), AllowDeletes: true,
		Sync: &schemas.FileSyncTarget{Region: devstack.RegionB, Path: b.lbCopy()}}}
	t.Backup.Store.Prefix = "bench-filesync"
	body, err := yaml.Marshal(t)
	if err != nil {
		return err
	}
	body = append([]byte("# Generated by lifeboat-bench-filesync: the stack's topology with the generated tree.\n"), body...)
	if _, err := schemas.ParseTopology(body); err != nil {
		return fmt.Errorf("bench topology is invalid: %w", err)
	}
	b.topo = &t
	return os.WriteFile(filepath.Join(b.dir, "topology.yaml"), body, 0o600)
}

// store opens the benchmark's store (the stack's S3, under its prefix).
func (b *fileSyncBench) store(ctx context.Context) (objstore.Store, error) {
	env := map[string]string{}
	for _, kv := range b.stack.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return objstore.Open(ctx, b.topo.Backup.Store, func(s *schemas.Secret) (string, error) {
		if s == nil || s.Env == "" {
			return "", nil
		}
		return env[s.Env], nil
	})
}

// removeState deletes the sync state of the bench tree: the next full sync
// starts from nothing, as a first sync does.
func (b *fileSyncBench) removeState(ctx context.Context) error {
	store, err := b.store(ctx)
	if err != nil {
		return err
	}
	objs, err := store.List(ctx, schemas.FileSyncPrefix(b.topo.Cluster, benchTree))
	if err != nil {
		return fmt.Errorf("list the bench's objects: %w", err)
	}
	for _, o := range objs {
		if err := store.Delete(ctx, o.Key); err != nil {
			return err
		}
	}
	return nil
}

// round measures, on the current tree: a full sync and rsync from
// nothing; then each of incrementalKinds, each pair after its own change
// of 1 %: an incremental sync and rsync's with the trees' data out of the
// page cache, HotPairs with everything cached, and one that reads the
// whole copy again (--rehash). Lifeboat and rsync swap places every pair,
// so neither always reads a colder cache.
func (b *fileSyncBench) round(ctx context.Context, i int, files []genFile) (syncRound, error) {
	var r syncRound
	pairs := 0 // each pair swaps the order of the one before
	pair := func(lb func() error, rs func() error) error {
		steps := []func() error{lb, rs}
		pairs++
		if (i+pairs)%2 == 0 {
			steps = []func() error{rs, lb}
		}
		for _, s := range steps {
			if err := s(); err != nil {
				return err
			}
		}
		return nil
	}
	full := func() error {
		if err := b.removeState(ctx); err != nil {
			return err
		}
		if err := os.RemoveAll(b.lbCopy()); err != nil {
			return err
		}
		res, secs, err := b.sync(ctx, false)
		r.full, r.sentBytes = secs, res.SentBytes
		if err == nil {
			b.logf("run %d: full sync %.1fs, %d files, %.0f MB sent", i+1, secs, res.Copied, float64(res.SentBytes)/1e6)
		}
		return err
	}
	rsyncFull := func() (err error) {
		if err := os.RemoveAll(b.rsyncCopy()); err != nil {
			return err
		}
		r.rsyncFull, err = b.rsync(ctx)
		b.logf("run %d: rsync full %.1fs", i+1, r.rsyncFull)
		return err
	}
	if err := pair(full, rsyncFull); err != nil {
		return r, err
	}

	for k, kind := range incrementalKinds {
		for range kind.pairs(b.cfg) {
			if err := b.incremental(ctx, i, files, k, pair, &r); err != nil {
				return r, err
			}
		}
	}
	return r, nil
}

// incremental changes the tree, then measures an incremental sync of
// incrementalKinds[k] and rsync's, in the order pair runs them, and adds
// their times to r.
func (b *fileSyncBench) incremental(ctx context.Context, i int, files []genFile, k int,
	pair func(lb, rs func() error) error, r *syncRound) error {
	kind := incrementalKinds[k]
	// Each change of the run its own: one per pair measured so far.
	changes := 0
	for _, times := range r.incr {
		changes += len(times)
	}
	n, bytes, err := b.spec.change(b.src(), files, b.cfg.ChangePercent/100, 100*i+changes)
	if err != nil {
		return err
	}
	r.changedFiles, r.changedBytes = n, bytes
	prepare := func() error {
		if !kind.cold {
			return warmTrees(b.src(), b.lbCopy(), b.rsyncCopy())
		}
		return evictTrees(b.src(), b.lbCopy(), b.rsyncCopy())
	}
	lb := func() error {
		if err := prepare(); err != nil {
			return err
		}
		res, secs, err := b.sync(ctx, kind.rehash)
		if err == nil && res.Copied != n {
			err = fmt.Errorf("the incremental sync copied %d files; %d changed", res.Copied, n)
		}
		r.incr[k] = append(r.incr[k], secs)
		b.logf("run %d: incremental sync (%s) %.2fs, %d files", i+1, kind.name, secs, res.Copied)
		return err
	}
	rs := func() error {
		if err := prepare(); err != nil {
			return err
		}
		secs, err := b.rsync(ctx)
		r.rsyncIncr[k] = append(r.rsyncIncr[k], secs)
		b.logf("run %d: rsync incremental (%s) %.2fs", i+1, kind.name, secs)
		return err
	}
	return pair(lb, rs)
}

// incrementalKinds are the incremental syncs of a round, each after its
// own change of the tree: with the trees' file data out of the page cache
// (as an hourly sync of a large tree finds it), with everything cached,
// and cached with --rehash (Lifeboat reads the whole copy, as rsync
// --checksum always does).
var incrementalKinds = []incrementalKind{
	{name: "cold cache", cold: true},
	{name: "hot cache", repeated: true},
	{name: "hot cache, rehash", rehash: true},
}

type incrementalKind struct {
	name         string
	cold, rehash bool
	// repeated kinds are measured HotPairs times a round.
	repeated bool
}

func (k incrementalKind) pairs(cfg FileSyncConfig) int {
	if k.repeated {
		return cfg.HotPairs
	}
	return 1
}

// warmTrees reads every file of the trees, so their data is in the page
// cache (as far as memory allows).
func warmTrees(roots ...string) error {
	buf := make([]byte, 1<<20)
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
			return err
		})
		if err != nil {
			return fmt.Errorf("read %s into the page cache: %w", root, err)
		}
	}
	return nil
}

// evictTrees drops the file data of the trees from the page cache (the
// directory entries and inodes stay): written back first, then let go with
// posix_fadvise, file by file, so no other program's cache is touched.
func evictTrees(roots ...string) error {
	for _, root := range roots {
		d, err := os.Open(root)
		if err != nil {
			return err
		}
		err = unix.Syncfs(int(d.Fd()))
		d.Close()
		if err != nil {
			return fmt.Errorf("write back %s: %w", root, err)
		}
		err = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		})
		if err != nil {
			return fmt.Errorf("evict %s from the page cache: %w", root, err)
		}
	}
	return nil
}

// sync runs the FileSync workflow on the bench tree and times it, from the
// start request to the result.
func (b *fileSyncBench) sync(ctx context.Context, rehash bool) (schemas.FileSyncTreeResult, float64, error) {
	start := time.Now()
	run, err := b.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: schemas.FileSyncWorkflowID(b.topo.Cluster), TaskQueue: schemas.GlobalTaskQueue,
	}, schemas.FileSyncWorkflow, schemas.FileSyncInput{Cluster: b.topo.Cluster, Tree: benchTree, Rehash: rehash})
	if err != nil {
		return schemas.FileSyncTreeResult{}, 0, err
	}
	var res schemas.FileSyncResult
	if err := run.Get(ctx, &res); err != nil {
		return schemas.FileSyncTreeResult{}, 0, fmt.Errorf("file sync: %w", err)
	}
	secs := time.Since(start).Seconds()
	if len(res.Trees) != 1 {
		return schemas.FileSyncTreeResult{}, secs, fmt.Errorf("file sync synced %d trees, want 1", len(res.Trees))
	}
	return res.Trees[0], secs, nil
}

// rsync runs the reference and times it.
func (b *fileSyncBench) rsync(ctx context.Context) (float64, error) {
	start := time.Now()
	out, err := exec.CommandContext(ctx, "rsync", "-a", "--checksum", b.src()+"/", b.rsyncCopy()+"/").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("rsync: %v: %s", err, out)
	}
	return time.Since(start).Seconds(), nil
}

// summarizeSync turns the rounds into figures; throughputs divide the
// tree's size.
func summarizeSync(rounds []syncRound, size int64) []figure {
	each := func(f func(r syncRound) float64) []float64 {
		out := make([]float64, len(rounds))
		for i, r := range rounds {
			out[i] = f(r)
		}
		return out
	}
	med := func(name string, xs []float64) figure { return figure{name: name, value: median(xs), runs: xs} }
	mbs := func(s float64) float64 { return float64(size) / 1e6 / s }
	// The incremental syncs of kind k, every pair of every round, in order.
	samples := func(of func(r syncRound) []float64) (xs []float64) {
		for _, r := range rounds {
			xs = append(xs, of(r)...)
		}
		return xs
	}
	lbTimes := func(k int) []float64 { return samples(func(r syncRound) []float64 { return r.incr[k] }) }
	rsyncTimes := func(k int) []float64 { return samples(func(r syncRound) []float64 { return r.rsyncIncr[k] }) }
	ratios := func(k int) []float64 {
		lb, rs := lbTimes(k), rsyncTimes(k)
		out := make([]float64, len(lb))
		for j := range lb {
			out[j] = rs[j] / lb[j]
		}
		return out
	}
	incr := med("incremental_sync_s", lbTimes(0))
	rsyncIncr := med("rsync_incremental_s", rsyncTimes(0))
	hot := med("incremental_sync_hot_s", lbTimes(1))
	rsyncHot := med("rsync_incremental_hot_s", rsyncTimes(1))
	return []figure{
		{name: "tree_mb", value: float64(size) / 1e6, note: "1 MB = 10^6 bytes"},
		med("changed_files", each(func(r syncRound) float64 { return float64(r.changedFiles) })),
		med("changed_mb", each(func(r syncRound) float64 { return float64(r.changedBytes) / 1e6 })),
		med("full_sync_s", each(func(r syncRound) float64 { return r.full })),
		med("full_sync_mb_s", each(func(r syncRound) float64 { return mbs(r.full) })),
		med("full_sync_sent_mb", each(func(r syncRound) float64 { return float64(r.sentBytes) / 1e6 })),
		med("rsync_full_s", each(func(r syncRound) float64 { return r.rsyncFull })),
		med("rsync_full_mb_s", each(func(r syncRound) float64 { return mbs(r.rsyncFull) })),
		withNote(incr, "file data of the trees out of the page cache, as an hourly sync finds a large tree"),
		withNote(rsyncIncr, "the same, rsync -a --checksum"),
		paired("incremental_vs_rsync", ratios(0), rsyncIncr, incr),
		withNote(hot, "everything in the page cache"),
		rsyncHot,
		paired("incremental_hot_vs_rsync", ratios(1), rsyncHot, hot),
		withNote(med("incremental_rehash_hot_s", lbTimes(2)), "--rehash: the whole copy read again, as rsync --checksum does"),
		med("rsync_incremental_hot_2_s", rsyncTimes(2)),
	}
}

// withNote gives a figure its note, which says what it measures.
func withNote(f figure, note string) figure {
	if f.note == "" {
		f.note = note
	}
	return f
}

// sameTrees compares two trees entry by entry (type, mode, time, content).
func sameTrees(a, b string) (bool, error) {
	da, err := treediff.Describe(a)
	if err != nil {
		return false, err
	}
	db, err := treediff.Describe(b)
	if err != nil {
		return false, err
	}
	return len(treediff.Diff(da, db)) == 0, nil
}
