package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/runnerhub/lifeboat/internal/deploy"
	"github.com/runnerhub/lifeboat/internal/tclient"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newLogger builds the worker's zap logger.
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
// upload's parts; without a limit the garbage of one backup after another
// piles up on top of them, with one the collector works harder instead as
// the heap nears it.
const defaultMemoryLimit = 192 << 20

func setMemoryLimit(logger *zap.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return // the runtime has read it
	}
	debug.SetMemoryLimit(defaultMemoryLimit)
	logger.Debug("soft memory limit", zap.Int64("bytes", defaultMemoryLimit))
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

// promote makes build current in both of the region's deployments, as
// `lifeboat deploy promote` does, and moves running workflows pinned to
// older builds onto it: one build at a time, the old build's workers are
// gone for good.
func promote(c client.Client, region, build string, logger *zap.Logger) error {
	pctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	changes, err := deploy.Promote(pctx, c, region, build, true)
	cancel()
	if err != nil {
		return err
	}
	for _, ch := range changes {
		if ch.Changed() {
			logger.Info("promoted", zap.String("deployment", ch.Deployment), zap.String("previous", ch.Previous))
		}
	}
	actx, cancel := context.WithTimeout(context.Background(), time.Minute)
	moved, err := deploy.Adopt(actx, c, build)
	cancel()
	if err != nil {
		return err
	}
	if len(moved) > 0 {
		logger.Warn("moved workflows pinned to older builds onto this one", zap.Strings("workflow_ids", moved))
	}
	return nil
}

// dial connects to Temporal, logging through logger and reporting the
// SDK's metrics to metrics.
func dial(o tclient.Options, logger *zap.Logger, metrics client.MetricsHandler) (client.Client, error) {
	copts, err := o.ClientOptions()
	if err != nil {
		return nil, err
	}
	copts.Logger = tclient.ZapLogger(logger)
	copts.MetricsHandler = metrics
	return client.Dial(copts)
}
