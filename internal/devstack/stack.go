package devstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/runnerhub/lifeboat/internal/codec"
	"github.com/runnerhub/lifeboat/schemas"
)

// Stack is the local stack of one checkout. Its methods may be called from
// several processes at once: Up and Down serialise on a lock file.
//
// State lives in <root>/.dev: the Temporal database (temporal/temporal.db),
// logs (logs/<name>.log), pid files (pids/<name>.pid), secrets (secrets/, mode
// 0600), the generated topology (topology.yaml), an env file for operators
// (env), and Redis, Sentinel, versitygw and file-tree data. PostgreSQL's
// files live in the shared directory instead (see [SharedDirFor]); .dev/pg
// links to it.
type Stack struct {
	cfg    Config
	devDir string // <root>/.dev

	logMu sync.Mutex

	started atomic.Bool // set by Up when it starts a process
	upStart time.Time   // when the running Up began, for progress messages
	pgUser  pgUser      // who PostgreSQL runs as, set by Up
	// newPGSecret is set when Up made the PostgreSQL password just now: a
	// fresh .dev, so no data in the shared directory can be this checkout's.
	newPGSecret bool
}

// New returns the stack described by cfg; it starts nothing.
func New(cfg Config) (*Stack, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Stack{cfg: cfg, devDir: filepath.Join(cfg.Root, ".dev")}, nil
}

// logf passes a progress message to Config.Logf, one call at a time.
func (s *Stack) logf(format string, args ...any) {
	if s.cfg.Logf == nil {
		return
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.cfg.Logf(format, args...)
}

// ready reports a component as ready.
func (s *Stack) ready(name, address, what string) {
	s.logf("%-12s %-22s %s (%.1fs)", name, address, what, time.Since(s.upStart).Seconds())
}

// logPath is the log file of a component that logs under .dev.
func (s *Stack) logPath(name string) string {
	return filepath.Join(s.devDir, "logs", name+".log")
}

// TopologyPath returns the path of the generated topology file.
func (s *Stack) TopologyPath() string { return filepath.Join(s.devDir, "topology.yaml") }

// EnvPath returns the path of the env file operators source.
func (s *Stack) EnvPath() string { return filepath.Join(s.devDir, "env") }

// WebUIURL returns the address of the Temporal Web UI.
func (s *Stack) WebUIURL() string { return "http://" + addr(TemporalUIPort) }

// Env returns the environment a process needs to use the stack, as K=V
// entries; secrets are empty until the first Up has generated them.
func (s *Stack) Env() []string {
	return []string{
		EnvPGPassword + "=" + s.readSecret(secretPGPassword),
		EnvS3AccessKey + "=" + s.readSecret(secretS3AccessKey),
		EnvS3SecretKey + "=" + s.readSecret(secretS3SecretKey),
		EnvTemporalAddr + "=" + TemporalAddress,
		EnvNamespace + "=" + Namespace,
		EnvTopology + "=" + s.TopologyPath(),
		codec.EnvKeys + "=" + s.CodecKeys(),
		EnvPromote + "=true", // one build at a time: see EnvPromote
	}
}

// component is a long-running process of the stack, as Down and Running see it.
type component struct {
	name  string
	exe   string         // executable; its base name identifies the live process
	stop  syscall.Signal // the signal of a clean, prompt shutdown
	wave  int            // Down stops lower waves first
	ports []int          // ports it listens on
}

// components lists every process the stack may run, in start order.
func (s *Stack) components() []component {
	var cs []component
	cs = append(cs, component{"temporal", filepath.Join(s.cfg.BinDir, "temporal"), syscall.SIGTERM, 3,
		[]int{TemporalPort, TemporalUIPort, TemporalHTTPPort, TemporalMetricsPort}})
	cs = append(cs, s.codecServerComponent())
	// The store goes last: PostgreSQL archives its last WAL into it while
	// shutting down.
	for _, srv := range s3Servers {
		cs = append(cs, component{srv.name, filepath.Join(s.cfg.BinDir, "versitygw"), syscall.SIGTERM, 3, []int{srv.port}})
	}
	for _, n := range pgNodes {
		// SIGINT is PostgreSQL's fast shutdown.
		cs = append(cs, component{n.name, filepath.Join(PostgresBinDir, "postgres"), syscall.SIGINT, 2, []int{n.port}})
	}
	for _, n := range redisNodes {
		wave := 2
		if n.sentinel {
			wave = 1 // before the servers, so no sentinel sees the master go and fails over
		}
		cs = append(cs, component{n.name, "redis-server", syscall.SIGTERM, wave, []int{n.port}})
	}
	for _, w := range workerNodes {
		cs = append(cs, component{w.name(), filepath.Join(s.cfg.BinDir, "lifeboat-worker"), syscall.SIGTERM, 0, []int{w.port}})
	}
	return cs
}

// checkPorts returns an error naming every port that a component Up would
// start is denied by another process, so Up fails before starting anything.
func (s *Stack) checkPorts(workers bool) error {
	var errs []error
	for _, c := range s.components() {
		if !workers && strings.HasPrefix(c.name, "worker-") {
			continue
		}
		if s.running(c.name, c.exe) > 0 {
			continue
		}
		for _, p := range c.ports {
			if err := portFree(p); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Running returns the processes of the stack that are alive, per their pid files.
func (s *Stack) Running() []Process {
	var ps []Process
	for _, c := range s.components() {
		if pid := s.running(c.name, c.exe); pid > 0 {
			ps = append(ps, Process{Name: c.name, PID: pid})
		}
	}
	return ps
}

// Down stops every process of the stack, including those an earlier
// invocation started, and removes their pid files. Data is kept.
func (s *Stack) Down(ctx context.Context) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()

	var errs []error
	if err := s.stopRestored(ctx); err != nil {
		errs = append(errs, err)
	}
	for wave := 0; wave <= 3; wave++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, c := range s.components() {
			if c.wave != wave {
				continue
			}
			pidFile := s.pidFile(c.name)
			pid := s.running(c.name, c.exe)
			if pid == 0 {
				_ = os.Remove(pidFile) // stale, or none
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := stopProcess(ctx, pid, c.exe, c.stop, stopTimeout); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("stop %s: %w", c.name, err))
					mu.Unlock()
					return
				}
				// A process whose leader thread has exited may still hold
				// its sockets for a moment; down means the ports are free.
				if err := waitPortsFree(ctx, c.ports, 10*time.Second); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("stop %s: %w", c.name, err))
					mu.Unlock()
					return
				}
				_ = os.Remove(pidFile)
				s.logf("%-12s stopped (pid %d)", c.name, pid)
			}()
		}
		wg.Wait()
	}
	return errors.Join(errs...)
}

// lock takes the stack's lock file, waiting while another Up or Down holds it.
func (s *Stack) lock(ctx context.Context) (unlock func(), err error) {
	if err := os.MkdirAll(s.devDir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(s.devDir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for said := false; ; {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		if !said {
			s.logf("waiting for another lifeboat-dev holding %s", f.Name())
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// Up starts what is not running, initialises what does not exist and waits
// until everything is ready. started reports whether it started anything.
// On error, what it started keeps running: call Down to stop it.
func (s *Stack) Up(ctx context.Context, opts Options) (started bool, err error) {
	if err := CheckDeps(s.cfg.BinDir); err != nil {
		return false, err
	}
	worker := filepath.Join(s.cfg.BinDir, "lifeboat-worker")
	if opts.Workers {
		if _, err := os.Stat(worker); err != nil {
			return false, fmt.Errorf("workers requested but %s is missing: build it with `make build` (or go build -o %s ./worker), or start without workers", worker, worker)
		}
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return false, err
	}
	defer unlock()
	s.started.Store(false)
	s.upStart = time.Now()

	if err := s.checkPorts(opts.Workers); err != nil {
		return false, err
	}
	if err := s.prepareDevDir(); err != nil {
		return false, err
	}
	if s.pgUser, err = postgresUser(); err != nil {
		return false, err
	}
	if err := s.prepareShared(s.pgUser); err != nil {
		return false, fmt.Errorf("postgres: %w", err)
	}
	if err := s.prepareArchiving(s.pgUser); err != nil {
		return false, fmt.Errorf("wal archiving: %w", err)
	}

	// The store comes first, so PostgreSQL's first archive_command finds
	// it; the other three systems are independent and start side by side.
	if err := s.upS3(ctx); err != nil {
		return s.started.Load(), fmt.Errorf("s3: %w", err)
	}
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"postgres", s.upPostgres},
		{"redis", s.upRedis},
		{"temporal", s.upTemporal},
		{"codec server", s.upCodecServer},
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(steps))
	var wg sync.WaitGroup
	for i, st := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := st.run(ctx); err != nil {
				errs[i] = fmt.Errorf("%s: %w", st.name, err)
				cancel() // the others stop waiting
			}
		}()
	}
	wg.Wait()
	if err := firstCause(errs); err != nil {
		return s.started.Load(), fmt.Errorf("%w\n(what started is still running: `lifeboat-dev down` stops it; logs in %s)", err, filepath.Join(s.devDir, "logs"))
	}
	if opts.Workers {
		if err := s.upWorkers(ctx, worker); err != nil {
			return s.started.Load(), err
		}
	}
	return s.started.Load(), nil
}

// firstCause returns the errors that are not mere cancellations caused by
// another step's failure, joined; or the first error if all are.
func firstCause(errs []error) error {
	var causes []error
	var first error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if first == nil {
			first = err
		}
		if !errors.Is(err, context.Canceled) {
			causes = append(causes, err)
		}
	}
	if len(causes) > 0 {
		return errors.Join(causes...)
	}
	return first
}

// prepareDevDir creates .dev and its fixed contents: directories, secrets,
// the topology and the env file.
func (s *Stack) prepareDevDir() error {
	for _, d := range []string{"logs", "pids", "temporal", "redis", "sentinel", "s3", "s3-b", filepath.Join("files", "uploads")} {
		if err := os.MkdirAll(filepath.Join(s.devDir, d), 0o755); err != nil {
			return err
		}
	}
	if err := s.ensureSecrets(); err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	if err := s.ensureCodecKey(); err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	recipient, err := s.ageRecipient()
	if err != nil {
		return fmt.Errorf("age identity: %w", err)
	}
	b, err := renderTopology(buildTopology(s.devDir, s.cfg.SharedDir, s.sharedIdentity(), recipient))
	if err != nil {
		return err
	}
	// Check the bytes the workers will load, schema and rules both.
	if _, err := schemas.ParseTopology(b); err != nil {
		return fmt.Errorf("generated topology is invalid: %w", err)
	}
	if err := writeFileAtomic(s.TopologyPath(), b, 0o644); err != nil {
		return fmt.Errorf("write topology: %w", err)
	}
	env := append(s.Env(),
		// For the temporal CLI itself.
		"TEMPORAL_ADDRESS="+TemporalAddress,
		"TEMPORAL_NAMESPACE="+Namespace,
	)
	if s.codecOn() {
		env = append(env, "TEMPORAL_CODEC_ENDPOINT="+CodecEndpoint)
	}
	if err := writeFileAtomic(s.EnvPath(), renderEnvFile(env), 0o600); err != nil {
		return fmt.Errorf("write env file: %w", err)
	}
	return nil
}

// ensure starts p unless the process its pid file names is alive, and
// returns the PID.
func (s *Stack) ensure(p procSpec) (int, error) {
	if pid := s.running(p.name, p.path); pid > 0 {
		if readPID(s.pidFile(p.name)) != pid { // found through postmaster.pid
			if err := writePID(s.pidFile(p.name), pid); err != nil {
				return 0, err
			}
		}
		return pid, nil
	}
	pid, err := s.startDetached(p)
	if err != nil {
		return 0, err
	}
	s.started.Store(true)
	s.logf("%-12s started (pid %d), log %s", p.name, pid, p.log)
	return pid, nil
}

// waitReady calls check until it succeeds, the process pid dies or timeout
// passes; the errors carry the end of the process's log.
func waitReady(ctx context.Context, name string, pid int, exe, logPath string, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
		err := check(cctx)
		ccancel()
		if err == nil {
			return nil
		}
		if pid > 0 && !procAlive(pid, exe) {
			return fmt.Errorf("%s exited while starting (last check: %v); end of %s:\n%s", name, err, logPath, indent(tail(logPath, 20)))
		}
		select {
		case <-ctx.Done():
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return ctx.Err()
			}
			return fmt.Errorf("%s not ready after %s: %v; end of %s:\n%s", name, timeout, err, logPath, indent(tail(logPath, 20)))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }
