package devstack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// EnvPromote tells a worker to make its own build current in its Worker
// Deployments once it polls (`lifeboat-worker --promote`). The stack runs
// one build at a time, so each worker it starts — and every worker started
// with its environment, such as the benchmarks' — promotes itself: new
// workflows and the region's activities go to the build just started,
// running auto-upgrading ones (the monitor, the failover slots) move to it
// at their next task, and pinned ones of an older build are moved onto it
// (deploy.Adopt), since that build's workers are gone.
const EnvPromote = "LIFEBOAT_PROMOTE"

// WorkerBuild is what a worker's /version says about the build it runs.
type WorkerBuild struct {
	Version    string `json:"version"`
	BuildID    string `json:"build_id"`
	Versioning bool   `json:"versioning"`
}

// ReadWorkerBuild asks the worker listening on address (host:port) which
// build it runs.
func ReadWorkerBuild(ctx context.Context, address string) (WorkerBuild, error) {
	var b WorkerBuild
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+address+"/version", nil)
	if err != nil {
		return b, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return b, fmt.Errorf("worker build: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("worker build: GET %s: %s", req.URL, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		return b, fmt.Errorf("worker build: %w", err)
	}
	return b, nil
}
