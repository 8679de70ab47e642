package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/internal/tclient"
	"github.com/runnerhub/lifeboat/schemas"
)

// Config says what to measure.
type Config struct {
	// Root is the checkout whose local stack runs (make dev).
	Root string
	// Scale is pgbench's scale factor: about 15 MB of database per unit.
	Scale int
	// Runs is how many times each thing is measured; medians are printed.
	Runs int
	// DropData drops the bench database at the end; otherwise it stays for
	// the next run (and is part of every backup of the stack meanwhile).
	DropData bool
	// Logf receives progress messages; nil discards them.
	Logf func(format string, args ...any)
}

// restorePorts is where the restored servers listen: clear of the stack's,
// the integration tests' (15510-15515) and the demo's (15600). The first
// free one is taken.
const (
	restorePortFirst = 15650
	restorePortLast  = 15699
)

// bench is one benchmark run and what it holds open.
type bench struct {
	cfg        Config
	stack      *devstack.Stack
	sharedDir  string // the stack's PostgreSQL shared directory
	dir        string // the benchmark's directory inside it
	pgPassword string
	recipient  string // age recipient of the stack, for the raw pipeline too

	benchClient client.Client // BenchNamespace, the benchmark's workers
	workers     []*worker
}

func (b *bench) logf(format string, args ...any) {
	if b.cfg.Logf != nil {
		b.cfg.Logf(format, args...)
	}
}

// Run measures the database backup and restore against the raw pipeline,
// prints one `name=value` line per figure to out, and leaves nothing of its
// own running: the bench workers are stopped, the restored servers stopped
// and removed, the backups it made deleted.
//
// It never restarts the shared stack: the filesystem-store runs use workers
// of its own in a Temporal namespace of its own (BenchNamespace), with a
// topology that differs from the stack's only in its store; the S3 run uses
// the stack's own workers in the default namespace.
func Run(ctx context.Context, cfg Config, out io.Writer) (err error) {
	if cfg.Scale < 1 || cfg.Runs < 1 {
		return fmt.Errorf("scale (%d) and runs (%d) must be at least 1", cfg.Scale, cfg.Runs)
	}
	began := time.Now()
	stackCfg := devstack.DefaultConfig(cfg.Root)
	cfg.Root = stackCfg.Root
	stack, err := devstack.New(stackCfg)
	if err != nil {
		return err
	}
	b := &bench{cfg: cfg, stack: stack, sharedDir: stackCfg.SharedDir, dir: filepath.Join(stackCfg.SharedDir, "bench")}
	if err := b.checkPrerequisites(); err != nil {
		return err
	}
	if err := b.ensureData(ctx); err != nil {
		return err
	}
	// The stack's namespace, served by its own workers with the S3 store.
	stackClient, err := dial(devstack.Namespace, stack.CodecKeys())
	if err != nil {
		return err
	}
	defer stackClient.Close()
	if err := ensureNamespace(ctx, stackClient, BenchNamespace); err != nil {
		return err
	}
	if b.benchClient, err = dial(BenchNamespace, stack.CodecKeys()); err != nil {
		return err
	}
	defer b.benchClient.Close()
	if err := b.prepareDirs(); err != nil {
		return err
	}
	defer os.RemoveAll(b.dir)
	defer func() { err = errors.Join(err, b.stopWorkers()) }()
	if err := b.startWorkers(ctx); err != nil {
		return err
	}

	var s3Backups []string
	defer func() { err = errors.Join(err, b.deleteS3Backups(context.WithoutCancel(ctx), s3Backups)) }()
	if cfg.DropData {
		defer func() { err = errors.Join(err, b.dropData(context.WithoutCancel(ctx))) }()
	}

	loadBefore := loadAverage()
	var runs []run
	busy := map[string]bool{}
	for _, p := range otherWork() {
		busy[p] = true
	}
	for i := range cfg.Runs {
		r, err := b.round(ctx, i, stackClient, &s3Backups)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		runs = append(runs, r)
		for _, p := range otherWork() {
			busy[p] = true
		}
	}

	header := []string{
		fmt.Sprintf("lifeboat-bench: pgbench scale %d, %d run(s), %d CPU(s), source %s, store %s and the stack's S3 (versitygw), %s",
			cfg.Scale, cfg.Runs, runtime.NumCPU(), sourceNode, b.storeDir(), time.Now().UTC().Format(time.RFC3339)),
		"raw pipeline: pg_basebackup " + strings.Join(rawArgs("…"), " ") + " | zstd -T2 -3 | age -r KEY > file",
		"restore steps (median s): " + stepsText(runs),
		fmt.Sprintf("load average (1 min) before the runs %s, after %s", loadBefore, loadAverage()),
	}
	if len(busy) > 0 {
		header = append(header, "noise: other work ran during the measurements: "+strings.Join(slices.Sorted(maps.Keys(busy)), ", "))
	}
	writeReport(out, summarize(runs), header)
	fmt.Fprintf(out, "# took %.0fs\n", time.Since(began).Seconds())
	return nil
}

// round measures each thing once. Lifeboat's filesystem backup and the raw
// pipeline swap places every round, so neither always reads a colder cache.
func (b *bench) round(ctx context.Context, i int, stackClient client.Client, s3Backups *[]string) (run, error) {
	var r run
	fs := func() (err error) {
		if err := b.settle(ctx); err != nil {
			return err
		}
		r.fs, err = b.backup(ctx, b.benchClient, "backup-fs", true)
		if err == nil {
			b.logf("run %d: filesystem backup %.1fs, %.0f MB plain, %.0f MB stored, peak %.0f MiB", i+1, r.fs.seconds,
				float64(r.fs.plainBytes)/1e6, float64(r.fs.storedBytes)/1e6, mib(r.fs.peakRSS))
		}
		return err
	}
	raw := func() (err error) {
		if err := b.settle(ctx); err != nil {
			return err
		}
		r.raw, err = b.runRaw(ctx, b.recipient, filepath.Join(b.rawDir(), "base.tar.zst.age"))
		if err == nil {
			b.logf("run %d: raw pipeline %.1fs, %.0f MB tar, %.0f MB stored", i+1, r.raw.seconds,
				float64(r.raw.tarBytes)/1e6, float64(r.raw.storedBytes)/1e6)
		}
		return err
	}
	steps := []func() error{fs, raw}
	if i%2 == 1 {
		steps = []func() error{raw, fs}
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return r, err
		}
	}

	if err := b.settle(ctx); err != nil {
		return r, err
	}
	var err error
	if r.s3, err = b.backup(ctx, stackClient, "backup-s3", false); err != nil {
		return r, err
	}
	*s3Backups = append(*s3Backups, r.s3.manifest.ID)
	b.logf("run %d: S3 backup %.1fs, %.0f MB stored", i+1, r.s3.seconds, float64(r.s3.storedBytes)/1e6)

	port, err := freePort(restorePortFirst, restorePortLast)
	if err != nil {
		return r, err
	}
	if err := b.settle(ctx); err != nil {
		return r, err
	}
	if r.restore, err = b.restore(ctx, r.fs.manifest.ID, port); err != nil {
		return r, err
	}
	b.logf("run %d: restore to a queryable server %.1fs, peak %.0f MiB", i+1, r.restore.seconds, mib(r.restore.peakRSS))
	return r, nil
}

// checkPrerequisites checks the tools and the running stack, and reads the
// stack's secrets and age recipient.
func (b *bench) checkPrerequisites() error {
	var missing []string
	for _, tool := range []string{"zstd", "age"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the raw pipeline needs %s: apt-get install -y %s", strings.Join(missing, " and "), strings.Join(missing, " "))
	}
	running := map[string]bool{}
	for _, p := range b.stack.Running() {
		running[p.Name] = true
	}
	for _, name := range []string{"temporal", "versitygw", "pg-a1", sourceNode, "worker-" + devstack.RegionA, "worker-" + devstack.RegionB} {
		if !running[name] {
			return fmt.Errorf("%s of the local stack is not running: start the stack with `make dev`", name)
		}
	}
	for _, kv := range b.stack.Env() {
		if v, ok := strings.CutPrefix(kv, devstack.EnvPGPassword+"="); ok {
			b.pgPassword = v
		}
	}
	if b.pgPassword == "" {
		return errors.New("the stack's PostgreSQL password is missing from .dev/secrets: start the stack with `make dev`")
	}
	topo, err := schemas.LoadTopology(b.stack.TopologyPath())
	if err != nil {
		return fmt.Errorf("the stack's topology: %w", err)
	}
	b.recipient = topo.Backup.Recipients[0]
	if _, err := os.Stat(filepath.Join(b.sharedDir, "bin", "lifeboat")); err != nil {
		return fmt.Errorf("restored servers need the shared copy of the CLI: %w (start the stack with `make dev`)", err)
	}
	return nil
}

// freePort returns the first port from first to last that nothing listens on.
func freePort(first, last int) (int, error) {
	for p := first; p <= last; p++ {
		ln, err := net.Listen("tcp", net.JoinHostPort(devstack.Host, strconv.Itoa(p)))
		if err == nil {
			ln.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port from %d to %d for a restored server", first, last)
}

// dial connects to a namespace of the stack's Temporal server, sealing
// payloads with codecKeys when the stack has them (its workers, and the
// bench's, which share its environment, expect them); the SDK's warnings
// go to stderr.
func dial(namespace, codecKeys string) (client.Client, error) {
	opts, err := tclient.Options{Address: devstack.TemporalAddress, Namespace: namespace, CodecKeys: codecKeys}.ClientOptions()
	if err != nil {
		return nil, err
	}
	opts.Logger = tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	c, err := client.Dial(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to temporal at %s: %w", devstack.TemporalAddress, err)
	}
	return c, nil
}

// deleteS3Backups removes the backups the benchmark made in the stack's S3
// store, manifest first, so they take no space and never become the
// stack's "latest".
func (b *bench) deleteS3Backups(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	topo, err := schemas.LoadTopology(b.stack.TopologyPath())
	if err != nil {
		return err
	}
	env := map[string]string{}
	for _, kv := range b.stack.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	store, err := objstore.Open(ctx, topo.Backup.Store, func(s *schemas.Secret) (string, error) {
		if s == nil || s.Env == "" {
			return "", nil
		}
		return env[s.Env], nil
	})
	if err != nil {
		return fmt.Errorf("open the stack's store: %w", err)
	}
	var errs []error
	for _, id := range ids {
		for _, key := range []string{schemas.ManifestKey(devstack.Cluster, id), schemas.BackupDataKey(devstack.Cluster, id)} {
			if err := store.Delete(ctx, key); err != nil {
				errs = append(errs, fmt.Errorf("delete bench backup %s: %w", key, err))
			}
		}
	}
	return errors.Join(errs...)
}

// dropData drops the bench database.
func (b *bench) dropData(ctx context.Context) error {
	conn, err := b.connect(ctx, devstack.PGA1Port, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+Database+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", Database, err)
	}
	b.logf("database %s dropped", Database)
	return nil
}

// otherWork names the processes that compete with the measurements for the
// CPU and disk: test binaries and pgbench. It is sampled between rounds, so
// it may miss short ones.
func otherWork() []string {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var found []string
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			continue
		}
		arg0, _, _ := bytes.Cut(b, []byte{0})
		exe := filepath.Base(string(arg0))
		if strings.HasSuffix(exe, ".test") || exe == "pgbench" {
			found = append(found, exe)
		}
	}
	return found
}

// loadAverage is the one-minute load average, a hint of how busy the host was.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b))[0]
}

// stepsText is the median duration of each restore step.
func stepsText(runs []run) string {
	var names []string
	seconds := map[string][]float64{}
	for _, r := range runs {
		for _, s := range r.restore.steps {
			if _, ok := seconds[s.Name]; !ok {
				names = append(names, s.Name)
			}
			seconds[s.Name] = append(seconds[s.Name], s.Seconds)
		}
	}
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %s", n, format(median(seconds[n])))
	}
	return strings.Join(parts, ", ")
}
