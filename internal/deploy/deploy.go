// Package deploy promotes and describes Lifeboat's Worker Deployments, for
// `lifeboat deploy` and single-build stacks: the build workflows start on
// (schemas.WorkflowDeployment) and each region's (schemas.RegionDeployment).
package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/runnerhub/lifeboat/schemas"
)

// Change is what a promotion did to one deployment.
type Change struct {
	Deployment string
	// Previous is the build that was current before, "" if none was.
	Previous string
	// Current is the build that is current now.
	Current string
}

// Changed reports whether the promotion moved the deployment to another build.
func (c Change) Changed() bool { return c.Previous != c.Current }

// retryEvery is the pause between attempts while a build's workers are not
// yet known to the server.
const retryEvery = 250 * time.Millisecond

// Promote makes build the current version of region's deployment and, when
// workflows is true, of the workflow deployment: new workflows start on that
// build, running ones keep their behaviour (pinned ones stay on their build,
// auto-upgrading ones move at their next task). A version exists once one of
// its workers has polled, so Promote retries while the server does not know
// the build or has seen no poller of it, until ctx is done.
func Promote(ctx context.Context, c client.Client, region, build string, workflows bool) ([]Change, error) {
	if region == "" || build == "" {
		return nil, errors.New("promote: region and build are required")
	}
	names := []string{schemas.RegionDeployment(region)}
	if workflows {
		names = append(names, schemas.WorkflowDeployment)
	}
	changes := make([]Change, 0, len(names))
	for _, name := range names {
		ch, err := setCurrent(ctx, c, name, build)
		if err != nil {
			return changes, err
		}
		changes = append(changes, ch)
	}
	return changes, nil
}

// setCurrent makes build the current version of deployment name.
func setCurrent(ctx context.Context, c client.Client, name, build string) (Change, error) {
	h := c.WorkerDeploymentClient().GetHandle(name)
	for {
		ch, err := trySetCurrent(ctx, h, name, build)
		if err == nil {
			return ch, nil
		}
		if !notYetKnown(err) {
			return Change{}, fmt.Errorf("promote %s to build %s: %w", name, build, err)
		}
		select {
		case <-ctx.Done():
			return Change{}, fmt.Errorf("promote %s to build %s: no worker of that build has polled yet (start them first; `lifeboat deploy status` lists the builds seen): %w", name, build, err)
		case <-time.After(retryEvery):
		}
	}
}

func trySetCurrent(ctx context.Context, h client.WorkerDeploymentHandle, name, build string) (Change, error) {
	d, err := h.Describe(ctx, client.WorkerDeploymentDescribeOptions{})
	if err != nil {
		return Change{}, err
	}
	prev := buildOf(d.Info.RoutingConfig.CurrentVersion)
	if prev == build {
		return Change{Deployment: name, Previous: prev, Current: build}, nil
	}
	if !slices.ContainsFunc(d.Info.VersionSummaries, func(v client.WorkerDeploymentVersionSummary) bool { return v.Version.BuildID == build }) {
		return Change{}, serviceerror.NewNotFoundf("deployment %s has no version %s", name, build)
	}
	if _, err := h.SetCurrentVersion(ctx, client.WorkerDeploymentSetCurrentVersionOptions{
		BuildID: build, ConflictToken: d.ConflictToken,
	}); err != nil {
		return Change{}, err
	}
	return Change{Deployment: name, Previous: prev, Current: build}, nil
}

// notYetKnown reports whether err means the deployment or the build has not
// been seen yet (its workers are starting), or another promotion raced this
// one (the conflict token moved): both pass on a retry.
func notYetKnown(err error) bool {
	var nf *serviceerror.NotFound
	var fp *serviceerror.FailedPrecondition
	return errors.As(err, &nf) || errors.As(err, &fp)
}

func buildOf(v *worker.WorkerDeploymentVersion) string {
	if v == nil {
		return ""
	}
	return v.BuildID
}

// Adopt moves every running workflow pinned to another build of the
// workflow deployment onto build, pinned there (a versioning override), and
// returns their IDs. It is for a stack that runs one build at a time (the
// local stack, a benchmark): there a restart with new code removes the old
// build's workers for good, and its pinned workflows would wait for them
// for ever, as a scheduled backup would then block the schedule's later
// runs. Never for a fleet whose old builds drain: that is what pinning is for.
func Adopt(ctx context.Context, c client.Client, build string) ([]string, error) {
	target := worker.WorkerDeploymentVersion{DeploymentName: schemas.WorkflowDeployment, BuildID: build}
	query := fmt.Sprintf("ExecutionStatus = 'Running' AND TemporalWorkerDeployment = '%s' AND TemporalWorkflowVersioningBehavior = 'Pinned'", schemas.WorkflowDeployment)
	var moved []string
	var token []byte
	for {
		page, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			return moved, fmt.Errorf("list pinned workflows: %w", err)
		}
		for _, e := range page.GetExecutions() {
			id, run := e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId()
			d, err := c.DescribeWorkflowExecution(ctx, id, run)
			if err != nil {
				return moved, fmt.Errorf("describe %s: %w", id, err)
			}
			v := d.GetWorkflowExecutionInfo().GetVersioningInfo()
			on := v.GetDeploymentVersion().GetBuildId()
			if o := v.GetVersioningOverride(); o != nil {
				on = o.GetPinned().GetVersion().GetBuildId()
			}
			if on == build || d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				continue
			}
			if _, err := c.UpdateWorkflowExecutionOptions(ctx, client.UpdateWorkflowExecutionOptionsRequest{
				WorkflowId: id, RunId: run,
				WorkflowExecutionOptionsChanges: client.WorkflowExecutionOptionsChanges{
					VersioningOverride: &client.VersioningOverrideChange{Value: &client.PinnedVersioningOverride{Version: target}},
				},
			}); err != nil {
				return moved, fmt.Errorf("move %s from build %s to %s: %w", id, on, build, err)
			}
			moved = append(moved, id)
		}
		if token = page.GetNextPageToken(); len(token) == 0 {
			return moved, nil
		}
	}
}

// Deployment is one Worker Deployment as `lifeboat deploy status` shows it.
type Deployment struct {
	Name     string    `json:"name"`
	Current  string    `json:"current,omitempty"`
	Ramping  string    `json:"ramping,omitempty"`
	Versions []Version `json:"versions"`
}

// Version is one build of a deployment, newest first.
type Version struct {
	BuildID   string    `json:"build_id"`
	CreatedAt time.Time `json:"created_at"`
	// State is current, ramping, draining (pinned workflows still run on
	// it), drained (its workers may stop) or inactive (never current).
	State string `json:"state"`
}

// Status describes the deployments of region (its own and the workflow
// deployment) or, when region is empty, every Lifeboat deployment.
func Status(ctx context.Context, c client.Client, region string) ([]Deployment, error) {
	names := []string{schemas.WorkflowDeployment}
	if region != "" {
		names = append(names, schemas.RegionDeployment(region))
	} else {
		it, err := c.WorkerDeploymentClient().List(ctx, client.WorkerDeploymentListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list deployments: %w", err)
		}
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				return nil, fmt.Errorf("list deployments: %w", err)
			}
			if strings.HasPrefix(e.Name, schemas.RegionTaskQueuePrefix) {
				names = append(names, e.Name)
			}
		}
		slices.Sort(names[1:])
	}
	out := make([]Deployment, 0, len(names))
	for _, name := range names {
		d, err := c.WorkerDeploymentClient().GetHandle(name).Describe(ctx, client.WorkerDeploymentDescribeOptions{})
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			out = append(out, Deployment{Name: name, Versions: []Version{}})
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("describe deployment %s: %w", name, err)
		}
		out = append(out, describe(d.Info))
	}
	return out, nil
}

// describe turns the server's view of a deployment into a Deployment.
func describe(info client.WorkerDeploymentInfo) Deployment {
	d := Deployment{
		Name:    info.Name,
		Current: buildOf(info.RoutingConfig.CurrentVersion),
		Ramping: buildOf(info.RoutingConfig.RampingVersion),
	}
	for _, v := range info.VersionSummaries {
		state := "inactive"
		switch {
		case v.Version.BuildID == d.Current:
			state = "current"
		case v.Version.BuildID == d.Ramping:
			state = "ramping"
		case v.DrainageStatus == client.WorkerDeploymentVersionDrainageStatusDraining:
			state = "draining"
		case v.DrainageStatus == client.WorkerDeploymentVersionDrainageStatusDrained:
			state = "drained"
		}
		d.Versions = append(d.Versions, Version{BuildID: v.Version.BuildID, CreatedAt: v.CreateTime.UTC(), State: state})
	}
	slices.SortStableFunc(d.Versions, func(a, b Version) int { return b.CreatedAt.Compare(a.CreatedAt) })
	if d.Versions == nil {
		d.Versions = []Version{}
	}
	return d
}
