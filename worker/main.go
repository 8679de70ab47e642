// Command lifeboat-worker runs Lifeboat's workflows and the activities of one
// region. It polls the global task queue and its region's queue, serves
// Prometheus metrics and /healthz, and stops gracefully on SIGTERM.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/activities/filesync"
	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/internal/buildid"
	"github.com/runnerhub/lifeboat/internal/guard"
	"github.com/runnerhub/lifeboat/internal/keepalive"
	"github.com/runnerhub/lifeboat/schemas"
	"github.com/runnerhub/lifeboat/workflows"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := run(parseFlags(os.Args[1:])); err != nil {
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
	c, err := dial(cfg.temporal, logger, sdkMetrics)
	if err != nil {
		return fmt.Errorf("connect to temporal at %s: %w", cfg.temporal.Address, err)
	}
	defer c.Close()

	clients := &activities.Clients{Topology: topo}
	defer clients.Close()
	deps := activities.Deps{Topology: topo, TopologyPath: cfg.topology, Region: cfg.region, Clients: clients, Logger: logger,
		Metrics: activities.NewMetrics(reg), Prometheus: reg, Temporal: c,
		ZstdLevel: cfg.zstdLevel, ZstdThreads: cfg.zstdThreads, LifeboatBin: cfg.lifeboatBin, MaxFailovers: cfg.maxFailovers}
	deps.Metrics.SetTargets(topo)

	// Heartbeats reach the server every 5 s at most, so progress in the Web
	// UI moves; activities given a heartbeat timeout that do not heartbeat
	// themselves are heartbeated by the worker (keepalive), so one lost with
	// its worker is retried within that timeout. A workflow's next task
	// waits 2 s, not 5, on the sticky queue of a worker that may be gone.
	opts := worker.Options{WorkerStopTimeout: 30 * time.Second, MaxHeartbeatThrottleInterval: 5 * time.Second,
		StickyScheduleToStartTimeout: 2 * time.Second,
		Interceptors:                 []interceptor.WorkerInterceptor{&keepalive.Interceptor{}}}
	global := worker.New(c, schemas.GlobalTaskQueue, versioned(opts, cfg.versioning, schemas.WorkflowDeployment, build))
	regional := worker.New(c, schemas.RegionTaskQueue(cfg.region), versioned(opts, cfg.versioning, schemas.RegionDeployment(cfg.region), build))
	workflows.Register(global)
	queues := activities.Queues{Global: global, Regional: regional}
	ha.Register(queues, deps)
	backup.Register(queues, deps)
	filesync.Register(queues, deps)

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
		if err = promote(c, cfg.region, build, logger); err != nil {
			return err
		}
	}
	ready.Store(true)
	logger.Info("worker started", zap.String("listen", cfg.listen), zap.Bool("payload_codec", cfg.temporal.CodecKeys != ""),
		zap.Strings("task_queues", []string{schemas.GlobalTaskQueue, schemas.RegionTaskQueue(cfg.region)}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var guards sync.WaitGroup // node guards for the region's PostgreSQL nodes
	defer guards.Wait()
	if cfg.guard {
		for _, g := range guard.ForRegion(topo, cfg.region, clients, guard.PromCounters{Fences: deps.Metrics.GuardFences, Renewals: deps.Metrics.GuardRenewals}, logger) {
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
