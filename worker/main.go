// Command lifeboat-worker runs Lifeboat's workflows and the activities of one
// region. It polls the global task queue and its region's queue, serves
// Prometheus metrics and /healthz, and stops gracefully on SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/activities/filesync"
	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/internal/buildid"
	"github.com/runnerhub/lifeboat/internal/deploy"
	"github.com/runnerhub/lifeboat/internal/guard"
	"github.com/runnerhub/lifeboat/internal/keepalive"
	"github.com/runnerhub/lifeboat/internal/tclient"
	"github.com/runnerhub/lifeboat/schemas"
	"github.com/runnerhub/lifeboat/workflows"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type config struct {
	topology    string
	lifeboatBin string
	zstdLevel   int
	zstdThreads int
	// maxFailovers limits the failovers running at once, across clusters.
	maxFailovers int
	region       string
	listen       string
	logFormat    string
	logLevel     string
	temporal     tclient.Options
	guard        bool
	// versioning makes the workers part of Worker Deployments (see
	// schemas.WorkflowDeployment); promote makes this build current at start.
	versioning bool
	promote    bool
}

func main() {
	var cfg config
	fs := flag.NewFlagSet("lifeboat-worker", flag.ExitOnError)
	fs.StringVar(&cfg.topology, "topology", tclient.Env("LIFEBOAT_TOPOLOGY", ""), "topology file (LIFEBOAT_TOPOLOGY)")
	fs.StringVar(&cfg.lifeboatBin, "lifeboat-bin", tclient.Env("LIFEBOAT_BIN", defaultLifeboatBin()), "the lifeboat CLI, runnable by the postgres user, for restore_command (LIFEBOAT_BIN)")
	fs.IntVar(&cfg.zstdLevel, "zstd-level", envInt("LIFEBOAT_ZSTD_LEVEL", 0), "zstd level of backups, 1 to 22; 0 is the default, 3 (LIFEBOAT_ZSTD_LEVEL)")
	// 4 compresses sections of a base backup in parallel: on this project's
	// 2-core reference machine it made the backup keep pace with
	// `pg_basebackup | zstd -T2 -3 | age` (make bench-backup) for about
	// 230 MiB of peak memory; 2 pipelines one compressor in ~60 MiB.
	fs.IntVar(&cfg.zstdThreads, "zstd-threads", envInt("LIFEBOAT_ZSTD_THREADS", 4), "zstd encoder goroutines for base backups (LIFEBOAT_ZSTD_THREADS)")
	fs.IntVar(&cfg.maxFailovers, "max-failovers", envInt("LIFEBOAT_MAX_FAILOVERS", schemas.DefaultMaxFailovers), "failovers that may run at once across all clusters; more wait their turn (LIFEBOAT_MAX_FAILOVERS)")
	fs.StringVar(&cfg.region, "region", tclient.Env("LIFEBOAT_REGION", ""), "region this worker runs in (LIFEBOAT_REGION)")
	fs.StringVar(&cfg.listen, "listen", tclient.Env("LIFEBOAT_LISTEN", "127.0.0.1:9464"), "address of /metrics and /healthz (LIFEBOAT_LISTEN)")
	fs.StringVar(&cfg.logFormat, "log-format", tclient.Env("LIFEBOAT_LOG_FORMAT", "json"), "json or console (LIFEBOAT_LOG_FORMAT)")
	fs.StringVar(&cfg.logLevel, "log-level", tclient.Env("LIFEBOAT_LOG_LEVEL", "info"), "debug, info, warn or error (LIFEBOAT_LOG_LEVEL)")
	fs.BoolVar(&cfg.guard, "guard", tclient.Env("LIFEBOAT_GUARD", "true") != "false", "run a node guard for each PostgreSQL node of the region with a data_dir: it renews the primary's lease and fences a primary that lost it (LIFEBOAT_GUARD)")
	fs.BoolVar(&cfg.versioning, "versioning", tclient.Env("LIFEBOAT_VERSIONING", "true") != "false", "join the Worker Deployments lifeboat and lifeboat-<region> under this binary's build ID; false polls unversioned (LIFEBOAT_VERSIONING)")
	fs.BoolVar(&cfg.promote, "promote", tclient.Env("LIFEBOAT_PROMOTE", "false") == "true", "at start, make this build current in both deployments, as `lifeboat deploy promote` does, and move running workflows pinned to other builds onto it: for stacks that run one build at a time (LIFEBOAT_PROMOTE)")
	cfg.temporal.RegisterFlags(fs)
	_ = fs.Parse(os.Args[1:])

	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "lifeboat-worker:", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	logger, err := newLogger(cfg.logFormat, cfg.logLevel)
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()
	setMemoryLimit(logger)

	if cfg.topology == "" || cfg.region == "" {
		return errors.New("--topology and --region are required")
	}
	// Absolute, since restored servers are told where it is.
	if cfg.topology, err = filepath.Abs(cfg.topology); err != nil {
		return err
	}
	topo, err := schemas.LoadTopology(cfg.topology)
	if err != nil {
		return fmt.Errorf("load topology: %w", err)
	}
	if _, ok := topo.Region(cfg.region); !ok {
		return fmt.Errorf("region %q is not in the topology of cluster %s (regions: %v)", cfg.region, topo.Cluster, topo.RegionNames())
	}
	build, err := buildid.Self(version)
	if err != nil {
		return err
	}
	logger = logger.With(zap.String("cluster", topo.Cluster), zap.String("region", cfg.region), zap.String("version", version), zap.String("build_id", build))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sdkMetrics, closeMetrics, err := sdkMetricsHandler(reg)
	if err != nil {
		return err
	}
	defer func() { _ = closeMetrics() }()

	copts, err := cfg.temporal.ClientOptions()
	if err != nil {
		return err
	}
	copts.Logger = tclient.ZapLogger(logger)
	copts.MetricsHandler = sdkMetrics
	c, err := client.Dial(copts)
	if err != nil {
		return fmt.Errorf("connect to temporal at %s: %w", cfg.temporal.Address, err)
	}
	defer c.Close()

	clients := &activities.Clients{Topology: topo}
	defer clients.Close()
	probe := &ha.Probe{Topology: topo, Region: cfg.region, Clients: clients, Logger: logger, Metrics: activities.NewMetrics(reg)}
	probe.Metrics.SetTargets(topo)

	backupActs := &backup.Backup{Topology: topo, Clients: clients, Logger: logger,
		Level: cfg.zstdLevel, Concurrency: cfg.zstdThreads}
	restore := &backup.Restore{Topology: topo, Clients: clients, Logger: logger,
		LifeboatBin: cfg.lifeboatBin, TopologyPath: cfg.topology, Metrics: probe.Metrics}
	// Every worker reports the cluster's newest backups, read from the store.
	reg.MustRegister(backup.BackupCollector(backupActs))

	// File sync runs where the files are: scans and sends in the tree's
	// region, writes in the copy's. The lag metric covers the copies this
	// region writes.
	fileSync := &filesync.FileSync{Topology: topo, Clients: clients, Logger: logger, Region: cfg.region, Level: cfg.zstdLevel}
	reg.MustRegister(filesync.FileSyncCollector(fileSync))

	// Heartbeats reach the server every 5 s at most, so the Web UI and
	// `lifeboat backup --wait` show progress that moves. Activities given a
	// heartbeat timeout that do not heartbeat themselves (the failover's)
	// are heartbeated by the worker, so one lost with its worker is retried
	// within that timeout.
	// A workflow's next task waits on the sticky queue of the worker that
	// ran its last one for 2 s, not 5, before any worker may take it: a
	// failover whose worker died goes on 3 s sooner.
	opts := worker.Options{WorkerStopTimeout: 30 * time.Second, MaxHeartbeatThrottleInterval: 5 * time.Second,
		StickyScheduleToStartTimeout: 2 * time.Second,
		Interceptors:                 []interceptor.WorkerInterceptor{&keepalive.Interceptor{}}}
	global := worker.New(c, schemas.GlobalTaskQueue, versioned(opts, cfg.versioning, schemas.WorkflowDeployment, build))
	workflows.Register(global)
	global.RegisterActivity(&ha.Cluster{Topology: topo})
	global.RegisterActivity(backupActs)
	global.RegisterActivity(&backup.Retention{Topology: topo, Clients: clients, Logger: logger})
	global.RegisterActivity(restore)
	global.RegisterActivity(&backup.Drill{Restore: restore})
	global.RegisterActivity(fileSync)
	// A region's queue gets what must run beside its nodes: probes, and
	// backups streamed from a node of the region.
	regional := worker.New(c, schemas.RegionTaskQueue(cfg.region), versioned(opts, cfg.versioning, schemas.RegionDeployment(cfg.region), build))
	regional.RegisterActivity(probe)
	regional.RegisterActivity(backupActs)
	regional.RegisterActivity(restore)
	regional.RegisterActivity(&backup.Drill{Restore: restore})
	regional.RegisterActivity(fileSync)
	// High availability: the routing record and starting failovers from any
	// worker; fencing, promoting and rejoining beside the nodes.
	global.RegisterActivity(&ha.Routing{Topology: topo, Clients: clients, Logger: logger, Metrics: probe.Metrics})
	global.RegisterActivity(&ha.Control{Client: c, MaxFailovers: cfg.maxFailovers})
	// The availability level's evidence: stores, schedule and monitor.
	global.RegisterActivity(&backup.Evidence{Topology: topo, Clients: clients, Temporal: c, Logger: logger})
	regional.RegisterActivity(&ha.Nodes{Topology: topo, Region: cfg.region, Clients: clients, Logger: logger, PGBin: topo.Failover.PGBin})

	var ready atomic.Bool
	srv, err := serve(cfg.listen, reg, &ready, buildInfo{Version: version, BuildID: build, Versioning: cfg.versioning})
	if err != nil {
		return err
	}
	for _, w := range []worker.Worker{global, regional} {
		if err := w.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		defer w.Stop()
	}
	if cfg.versioning && cfg.promote {
		pctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		changes, err := deploy.Promote(pctx, c, cfg.region, build, true)
		cancel()
		if err != nil {
			return err
		}
		for _, ch := range changes {
			if ch.Changed() {
				logger.Info("promoted", zap.String("deployment", ch.Deployment), zap.String("previous", ch.Previous))
			}
		}
		// One build at a time: the old build's workers are gone for good.
		actx, cancel := context.WithTimeout(context.Background(), time.Minute)
		moved, err := deploy.Adopt(actx, c, build)
		cancel()
		if err != nil {
			return err
		}
		if len(moved) > 0 {
			logger.Warn("moved workflows pinned to older builds onto this one", zap.Strings("workflow_ids", moved))
		}
	}
	ready.Store(true)
	logger.Info("worker started", zap.String("listen", cfg.listen), zap.Bool("payload_codec", cfg.temporal.CodecKeys != ""),
		zap.Strings("task_queues", []string{schemas.GlobalTaskQueue, schemas.RegionTaskQueue(cfg.region)}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var guards sync.WaitGroup
	defer guards.Wait()
	if cfg.guard {
		for _, g := range guard.ForRegion(topo, cfg.region, clients, probe.Metrics, logger) {
			guards.Go(func() { g.Run(ctx) })
		}
	}
	<-ctx.Done()
	logger.Info("stopping: finishing running tasks")
	ready.Store(false)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// envInt reads an integer LIFEBOAT_* variable, or def.
func envInt(name string, def int) int {
	v, err := strconv.Atoi(tclient.Env(name, ""))
	if err != nil {
		return def
	}
	return v
}

// defaultLifeboatBin is the lifeboat CLI installed beside this binary.
func defaultLifeboatBin() string {
	exe, err := os.Executable()
	if err != nil {
		return "lifeboat"
	}
	return filepath.Join(filepath.Dir(exe), "lifeboat")
}

// versioned returns opts with Worker Versioning on, as build of deployment.
// Behaviours are declared per workflow at registration (workflows.Register).
func versioned(opts worker.Options, on bool, deployment, build string) worker.Options {
	if on {
		opts.DeploymentOptions = worker.DeploymentOptions{
			UseVersioning: true,
			Version:       worker.WorkerDeploymentVersion{DeploymentName: deployment, BuildID: build},
		}
	}
	return opts
}

// buildInfo is what /version says: which build this worker runs, so the
// local stack and tests promote the build that is actually running.
type buildInfo struct {
	Version    string `json:"version"`
	BuildID    string `json:"build_id"`
	Versioning bool   `json:"versioning"`
}

// serve exposes /metrics, /version and /healthz; healthz is 200 only while
// the workers poll (and, with --promote, once their build is current).
// With LIFEBOAT_PPROF=1 it serves Go's CPU and heap profiles too.
func serve(addr string, reg *prometheus.Registry, ready *atomic.Bool, info buildInfo) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/version", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(info)
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	if os.Getenv("LIFEBOAT_PPROF") == "1" {
		// Profiles for whoever can reach the metrics port: off unless asked for.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

// sdkMetricsHandler reports the SDK's metrics into the same registry.
func sdkMetricsHandler(reg *prometheus.Registry) (client.MetricsHandler, func() error, error) {
	reporter, err := tallyprom.Configuration{TimerType: "histogram"}.NewReporter(tallyprom.ConfigurationOptions{Registry: reg})
	if err != nil {
		return nil, nil, fmt.Errorf("metrics reporter: %w", err)
	}
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, time.Second)
	return sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)), closer.Close, nil
}

func newLogger(format, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	var zc zap.Config
	switch format {
	case "json":
		zc = zap.NewProductionConfig()
	case "console":
		zc = zap.NewDevelopmentConfig()
	default:
		return nil, fmt.Errorf("log format %q: want json or console", format)
	}
	zc.Level = zap.NewAtomicLevelAt(lvl)
	return zc.Build()
}

// defaultMemoryLimit is the worker's soft memory limit unless GOMEMLIMIT
// says otherwise. A base backup's live memory is its zstd encoders and the
// upload's parts (about 120 MiB with the defaults); without a limit the
// garbage of one backup after another raised the peak past 250 MiB on the
// reference machine (make bench-backup), with one the collector works
// harder instead as the heap nears it.
const defaultMemoryLimit = 192 << 20

func setMemoryLimit(logger *zap.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return // the runtime has read it
	}
	debug.SetMemoryLimit(defaultMemoryLimit)
	logger.Debug("soft memory limit", zap.Int64("bytes", defaultMemoryLimit))
}
