package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/schemas"
)

// catchUpWait bounds how long a switchover waits for the candidate to
// replay everything the old primary wrote before it stopped.
const catchUpWait = 2 * time.Minute

// Switchover hands the primary role to a chosen replica without losing a
// write: pause the monitor, take the role away in the routing record, stop
// the old primary cleanly (its standbys receive every record before it
// stops), wait until the candidate has replayed up to the stop, promote
// it, repoint the others, publish, verify a write, make the old primary a
// replica of the new one, and resume the monitor. Until the promotion, a failure
// puts the old primary back.
func Switchover(ctx workflow.Context, in schemas.SwitchoverInput) (res schemas.SwitchoverResult, err error) {
	switch {
	case in.Cluster == "":
		return res, invalidInput("cluster", "required")
	case in.Candidate == "":
		return res, invalidInput("candidate", "required: the replica to promote")
	}
	start := workflow.Now(ctx)
	res = schemas.SwitchoverResult{Cluster: in.Cluster, To: in.Candidate}
	if err := workflow.UpsertTypedSearchAttributes(ctx, clusterAttr.ValueSet(in.Cluster), kindAttr.ValueSet("switchover")); err != nil {
		return res, fmt.Errorf("set search attributes: %w", err)
	}
	topo, err := describeCluster(ctx, in.Cluster)
	if err != nil {
		return res, err
	}
	candRegion, _ := topo.NodeRegion(in.Candidate)
	if _, ok := topo.PostgresNode(in.Candidate); !ok {
		return res, invalidInput("candidate", fmt.Sprintf("%q is not a PostgreSQL node of cluster %s", in.Candidate, in.Cluster))
	}

	var routing *ha.Routing
	var nodes *ha.Nodes
	f := &failover{ctx: ctx, in: schemas.FailoverInput{Cluster: in.Cluster}, topo: topo, steps: stepClock{ctx: ctx, last: start}}
	var read schemas.ReadRoutingResult
	if err := workflow.ExecuteActivity(f.global(), routing.ReadRouting, schemas.ReadRoutingInput{Cluster: in.Cluster}).Get(ctx, &read); err != nil {
		return res, wrap(err, "read the routing record")
	}
	if !read.Found || read.Record.Primary == "" {
		return res, invalidInput("cluster", "has no published primary: start its HealthMonitor first, or wait for the running failover")
	}
	old := read.Record.Primary
	if old == in.Candidate {
		return res, invalidInput("candidate", in.Candidate+" is the primary already")
	}
	res.From = old
	f.in.Failed, f.in.Epoch = old, read.Record.Epoch
	f.failedRegion, _ = topo.NodeRegion(old)
	if err := f.checkCandidateStreams(in.Candidate, old); err != nil {
		return res, err
	}

	owner := workflow.GetInfo(ctx).WorkflowExecution.ID
	monitor := schemas.MonitorWorkflowID(in.Cluster)
	signalMonitor(ctx, monitor, schemas.SignalPause, schemas.PauseRequest{Owner: owner, Reason: "switchover to " + in.Candidate})
	defer func() {
		res.Steps, res.Took = f.steps.steps, workflow.Now(ctx).Sub(start)
		if err != nil {
			f.compensate()
		}
		signalMonitor(ctx, monitor, schemas.SignalResume, schemas.PauseRequest{Owner: owner})
	}()
	f.steps.mark("check")

	var bumped schemas.BumpEpochResult
	if err := workflow.ExecuteActivity(f.global(), routing.BumpEpoch, schemas.BumpEpochInput{
		Cluster: in.Cluster, Epoch: read.Record.Epoch, Failed: old,
	}).Get(ctx, &bumped); err != nil {
		return res, wrap(err, "take the primary role from "+old)
	}
	epoch := bumped.Record.Epoch
	res.Epoch = epoch
	f.register("give the primary role back to "+old, func(ctx workflow.Context) error {
		return workflow.ExecuteActivity(f.globalCtx(ctx), routing.PublishPrimary, schemas.PublishPrimaryInput{
			Cluster: in.Cluster, Epoch: epoch, Primary: old,
		}).Get(ctx, nil)
	})
	f.steps.mark("epoch")

	var fenced schemas.FenceNodeResult
	if err := workflow.ExecuteActivity(f.regional(f.failedRegion), nodes.FenceNode, schemas.FenceNodeInput{
		Cluster: in.Cluster, Node: old, Epoch: epoch, Clean: true,
	}).Get(ctx, &fenced); err != nil {
		return res, wrap(err, "stop "+old+" cleanly")
	}
	f.register("give the role back to "+old+" and restart it", func(ctx workflow.Context) error {
		if err := workflow.ExecuteActivity(f.globalCtx(ctx), routing.PublishPrimary, schemas.PublishPrimaryInput{
			Cluster: in.Cluster, Epoch: epoch, Primary: old,
		}).Get(ctx, nil); err != nil {
			return err
		}
		return workflow.ExecuteActivity(f.regionalCtx(ctx, f.failedRegion), nodes.UnfenceNode, schemas.UnfenceNodeInput{
			Cluster: in.Cluster, Node: old, How: fenced.How,
		}).Get(ctx, nil)
	})
	if !fenced.Fenced || fenced.StopLSN == "" {
		return res, failure(schemas.ErrNotConfirmed,
			fmt.Sprintf("%s could not be stopped cleanly (%s: %s); nothing was promoted", old, fenced.How, fenced.Detail), nil)
	}
	res.StopLSN = fenced.StopLSN
	f.steps.mark("stop")

	cctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue: schemas.RegionTaskQueue(candRegion), StartToCloseTimeout: catchUpWait, HeartbeatTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	if err := workflow.ExecuteActivity(cctx, nodes.WaitCaughtUp, schemas.WaitCaughtUpInput{
		Cluster: in.Cluster, Node: in.Candidate, LSN: fenced.StopLSN,
	}).Get(ctx, nil); err != nil {
		return res, wrap(err, in.Candidate+" did not replay up to "+fenced.StopLSN)
	}
	f.steps.mark("catch up")

	others := f.otherNodes(in.Candidate)
	if err := workflow.ExecuteActivity(f.regional(candRegion), nodes.Promote, schemas.PromoteInput{
		Cluster: in.Cluster, Node: in.Candidate, Epoch: epoch, SyncStandbys: others,
	}).Get(ctx, nil); err != nil {
		return res, wrap(err, "promote "+in.Candidate)
	}
	f.undo = nil
	f.steps.mark("promote")

	f.in.Failed = old
	f.repoint(in.Candidate, others)
	f.steps.mark("repoint")

	if err := workflow.ExecuteActivity(f.global(), routing.PublishPrimary, schemas.PublishPrimaryInput{
		Cluster: in.Cluster, Epoch: epoch, Primary: in.Candidate,
	}).Get(ctx, nil); err != nil {
		return res, wrap(err, "publish "+in.Candidate)
	}
	f.steps.mark("publish")

	if err := workflow.ExecuteActivity(f.regional(candRegion), nodes.VerifyWrite, schemas.VerifyWriteInput{
		Cluster: in.Cluster, Node: in.Candidate, Epoch: epoch,
	}).Get(ctx, nil); err != nil {
		return res, wrap(err, "verify a write on "+in.Candidate)
	}
	f.steps.mark("verify")

	// Clients write to the new primary already; the old one follows it
	// now, and if it cannot yet, the monitor rejoins it later.
	rctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue: schemas.RegionTaskQueue(f.failedRegion), StartToCloseTimeout: 5 * time.Minute, HeartbeatTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 2, NonRetryableErrorTypes: failoverNonRetryable},
	})
	if err := workflow.ExecuteActivity(rctx, nodes.RejoinNode, schemas.RejoinNodeInput{
		Cluster: in.Cluster, Node: old, Primary: in.Candidate,
	}).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("old primary not rejoined; the monitor will retry", "node", old, "error", err)
	} else {
		res.Rejoined = true
	}
	f.steps.mark("rejoin")

	now := workflow.Now(ctx)
	event := schemas.HAEvent{
		Cluster: in.Cluster, Kind: schemas.EventSwitchover, WorkflowID: owner, From: old, To: in.Candidate,
		Epoch: epoch, Outcome: "succeeded", Started: start, Finished: now, Steps: f.steps.steps, Took: now.Sub(start),
		Detail: "clean stop at " + fenced.StopLSN,
	}
	if err := workflow.ExecuteActivity(f.global(), routing.RecordEvent, schemas.RecordEventInput{Event: event}).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("record switchover event", "error", err)
	}
	signalMonitor(ctx, monitor, schemas.SignalEvent, event)
	return res, nil
}

// checkCandidateStreams refuses a candidate that is not a healthy replica
// streaming from the primary: it could not catch up.
func (f *failover) checkCandidateStreams(candidate, primary string) error {
	for _, r := range probeCluster(f.ctx, f.topo) {
		for _, h := range r.Nodes {
			if h.Name != candidate {
				continue
			}
			if h.Role != schemas.RoleReplica || !h.Streaming {
				return invalidInput("candidate", fmt.Sprintf("%s is not a streaming replica (role %s: %s)", candidate, h.Role, h.Error))
			}
			return nil
		}
	}
	return invalidInput("candidate", candidate+" was not found by any region's probe")
}

// signalMonitor sends a signal to a cluster's monitor; a cluster without a
// running monitor is not an error.
func signalMonitor(ctx workflow.Context, monitor, signal string, arg any) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if err := workflow.SignalExternalWorkflow(dctx, monitor, "", signal, arg).Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Info("monitor not signalled", "monitor", monitor, "signal", signal, "error", err)
	}
}

// Rejoin makes a former primary, or a replica on an old timeline, follow
// the published primary, rewinding it with pg_rewind when it diverged.
func Rejoin(ctx workflow.Context, in schemas.RejoinInput) (schemas.RejoinResult, error) {
	switch {
	case in.Cluster == "":
		return schemas.RejoinResult{}, invalidInput("cluster", "required")
	case in.Node == "":
		return schemas.RejoinResult{}, invalidInput("node", "required")
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, clusterAttr.ValueSet(in.Cluster), kindAttr.ValueSet("rejoin")); err != nil {
		return schemas.RejoinResult{}, fmt.Errorf("set search attributes: %w", err)
	}
	topo, err := describeCluster(ctx, in.Cluster)
	if err != nil {
		return schemas.RejoinResult{}, err
	}
	region, ok := topo.NodeRegion(in.Node)
	if _, isPG := topo.PostgresNode(in.Node); !ok || !isPG {
		return schemas.RejoinResult{}, invalidInput("node", fmt.Sprintf("%q is not a PostgreSQL node of cluster %s", in.Node, in.Cluster))
	}
	var routing *ha.Routing
	var nodes *ha.Nodes
	gctx := workflow.WithActivityOptions(ctx, haActivity(schemas.GlobalTaskQueue))
	var read schemas.ReadRoutingResult
	if err := workflow.ExecuteActivity(gctx, routing.ReadRouting, schemas.ReadRoutingInput{Cluster: in.Cluster}).Get(ctx, &read); err != nil {
		return schemas.RejoinResult{}, wrap(err, "read the routing record")
	}
	if !read.Found || read.Record.Primary == "" {
		return schemas.RejoinResult{}, failure(schemas.ErrCannotRejoin, "no published primary to follow", nil)
	}
	if read.Record.Primary == in.Node {
		return schemas.RejoinResult{}, invalidInput("node", in.Node+" is the published primary")
	}
	rctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue: schemas.RegionTaskQueue(region), StartToCloseTimeout: 10 * time.Minute, HeartbeatTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, MaximumAttempts: 3, NonRetryableErrorTypes: failoverNonRetryable},
	})
	var done schemas.RejoinNodeResult
	if err := workflow.ExecuteActivity(rctx, nodes.RejoinNode, schemas.RejoinNodeInput{
		Cluster: in.Cluster, Node: in.Node, Primary: read.Record.Primary,
	}).Get(ctx, &done); err != nil {
		return schemas.RejoinResult{}, wrap(err, "rejoin "+in.Node)
	}
	return schemas.RejoinResult{Cluster: in.Cluster, Node: in.Node, Primary: read.Record.Primary, Rewound: done.Rewound, Detail: done.Detail}, nil
}
