package devstack

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// The reliability suite kills one process of the stack at a time (a
// worker, the Temporal server) while it moves PostgreSQL roles, and holds
// the stack's lock meanwhile so that no Up starts a node it fenced. These
// start the one process again, each as Up does, without taking the lock:
// call them only while holding it.

// StartWorker starts the worker of region unless it runs, and waits for
// its /healthz. A worker killed just now may hold its port for a moment.
func (s *Stack) StartWorker(ctx context.Context, region string) error {
	s.upStart = time.Now()
	for _, w := range workerNodes {
		if w.region == region {
			exe := filepath.Join(s.cfg.BinDir, "lifeboat-worker")
			if s.running(w.name(), exe) == 0 {
				if err := waitPortsFree(ctx, []int{w.port}, 10*time.Second); err != nil {
					return err
				}
			}
			return s.upWorker(ctx, exe, w)
		}
	}
	return fmt.Errorf("the stack has no worker of region %q", region)
}

// StartTemporal starts the Temporal dev server unless it runs, on the same
// database file, and waits until it serves.
func (s *Stack) StartTemporal(ctx context.Context) error {
	s.upStart = time.Now()
	if s.running("temporal", filepath.Join(s.cfg.BinDir, "temporal")) == 0 {
		ports := []int{TemporalPort, TemporalUIPort, TemporalHTTPPort, TemporalMetricsPort}
		if err := waitPortsFree(ctx, ports, 30*time.Second); err != nil {
			return err
		}
	}
	return s.upTemporal(ctx)
}
