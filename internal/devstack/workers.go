package devstack

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"
)

// workerArgs returns the command line of the worker of region w.
func (s *Stack) workerArgs(w workerNode) []string {
	return []string{
		// The shared copy: the restored servers' restore_command, run as the
		// PostgreSQL user, reads the same file the worker does.
		"--topology", s.sharedTopology(),
		"--lifeboat-bin", s.sharedBin(),
		"--region", w.region,
		"--temporal-address", TemporalAddress,
		"--namespace", Namespace,
		"--listen", addr(w.port),
		"--log-format", "console",
	}
}

// upWorkers starts one worker per region and waits for their /healthz.
func (s *Stack) upWorkers(ctx context.Context, exe string) error {
	errs := make(chan error, len(workerNodes))
	for _, w := range workerNodes {
		go func() { errs <- s.upWorker(ctx, exe, w) }()
	}
	var first error
	for range workerNodes {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *Stack) upWorker(ctx context.Context, exe string, w workerNode) error {
	logPath := s.logPath(w.name())
	pid, err := s.ensure(procSpec{
		name:  w.name(),
		path:  exe,
		args:  s.workerArgs(w),
		env:   append(os.Environ(), s.Env()...),
		dir:   s.cfg.Root,
		log:   logPath,
		ports: []int{w.port},
	})
	if err != nil {
		return err
	}
	err = waitReady(ctx, w.name(), pid, exe, logPath, 30*time.Second, func(ctx context.Context) error {
		return httpOK(ctx, "http://"+addr(w.port)+"/healthz")
	})
	if err != nil {
		return err
	}
	// Ready means polling and, since the stack's environment carries
	// EnvPromote, its build current. A running worker whose binary serves
	// no /version is unversioned.
	build := "unversioned"
	if b, err := ReadWorkerBuild(ctx, addr(w.port)); err == nil && b.Versioning {
		build = "build " + b.BuildID + " current"
	}
	s.ready(w.name(), addr(w.port), "worker, task queue lifeboat-"+w.region+", "+build+", metrics and /healthz on port "+strconv.Itoa(w.port))
	return nil
}

// httpOK GETs url and wants 200.
func httpOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
