package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/policy"
	"github.com/runnerhub/lifeboat/schemas"
)

const (
	// fenceWait is how long fencing waits for a worker of the failed node's
	// region; past it the node counts as unreachable and its lease decides.
	fenceWait = 5 * time.Second
	// fenceTimeout bounds one fence attempt: the fence escalates from a
	// stop to SIGKILL within seconds and gives up on a node that does not
	// answer, so an attempt that runs longer has a hung worker, and the
	// lease is the way on.
	fenceTimeout = 10 * time.Second
	// leaseMargin is added to a lease's remaining time before promoting, for
	// clock drift between the guard and the routing store.
	leaseMargin = 500 * time.Millisecond
	// haHeartbeat is how soon a failover's activity whose worker died is
	// retried on another: the workers heartbeat every activity that has a
	// heartbeat timeout (internal/keepalive), so without one an activity
	// lost with its worker waited for its start-to-close timeout.
	haHeartbeat = 5 * time.Second
)

// failoverNonRetryable are the error types a failover step never retries.

// Failover moves a cluster's primary role away from a failed node. It is a
// saga: confirm the failure, take the role away in the routing record (a
// new epoch), fence the old primary, choose and promote a replica, repoint
// the others, publish the new primary, verify a write, record the event.
// Until a replica is promoted every step has a compensation that puts the
// old primary back; after promotion the saga only goes forward. It reports
// its end to the monitor that started it.
func Failover(ctx workflow.Context, in schemas.FailoverInput) (res schemas.FailoverResult, err error) {
	if err := checkFailoverInput(in); err != nil {
		return schemas.FailoverResult{}, err
	}
	start := workflow.Now(ctx)
	res = schemas.FailoverResult{Cluster: in.Cluster, Failed: in.Failed}
	detections := countDetections(ctx)
	defer func() {
		res.Detections = *detections
		notifyMonitor(ctx, in.Monitor, schemas.FailoverDone{
			WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, Epoch: res.Epoch, Promoted: res.Promoted, Error: errText(err),
		})
	}()
	if err := workflow.UpsertTypedSearchAttributes(ctx, clusterAttr.ValueSet(in.Cluster), kindAttr.ValueSet("failover")); err != nil {
		return res, fmt.Errorf("set search attributes: %w", err)
	}
	release, err := acquireSlot(ctx)
	if err != nil {
		return res, err
	}
	defer release()
	topo, err := describeClusterLocal(ctx, in.Cluster)
	if err != nil {
		return res, err
	}
	failedRegion, ok := topo.NodeRegion(in.Failed)
	if _, isPG := topo.PostgresNode(in.Failed); !ok || !isPG {
		return res, invalidInput("failed", fmt.Sprintf("%q is not a PostgreSQL node of cluster %s", in.Failed, in.Cluster))
	}
	f := &failover{ctx: ctx, in: in, topo: topo, failedRegion: failedRegion, steps: stepClock{ctx: ctx, last: start}}
	defer func() {
		res.Steps, res.Took = f.steps.steps, workflow.Now(ctx).Sub(start)
		if err != nil {
			f.compensate()
		}
	}()
	return f.run(&res)
}

// acquireSlot waits for one of the limited failover slots, shown in the
// search attribute LifeboatState while it waits, and returns its release.
func acquireSlot(ctx workflow.Context) (func(), error) {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	if err := workflow.UpsertTypedSearchAttributes(ctx, stateAttr.ValueSet("waiting_for_slot")); err != nil {
		return nil, fmt.Errorf("set search attributes: %w", err)
	}
	var control *ha.Control
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: time.Minute, StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, NonRetryableErrorTypes: nonRetryable},
	})
	if err := workflow.ExecuteLocalActivity(lctx, control.AcquireSlot, schemas.AcquireSlotInput{WorkflowID: id}).Get(ctx, nil); err != nil {
		return nil, wrap(err, "ask for a failover slot")
	}
	workflow.GetSignalChannel(ctx, schemas.SignalSlotGranted).Receive(ctx, nil)
	if err := workflow.UpsertTypedSearchAttributes(ctx, stateAttr.ValueSet("running")); err != nil {
		return nil, fmt.Errorf("set search attributes: %w", err)
	}
	return func() {
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		if err := workflow.SignalExternalWorkflow(dctx, schemas.FailoverSlotsID, "", schemas.SignalReleaseSlot, schemas.SlotRequest{WorkflowID: id}).Get(dctx, nil); err != nil {
			workflow.GetLogger(ctx).Error("failover slot not released", "error", err)
		}
	}, nil
}

func checkFailoverInput(in schemas.FailoverInput) error {
	switch {
	case in.Cluster == "":
		return invalidInput("cluster", "required")
	case in.Failed == "":
		return invalidInput("failed", "required: the node that lost the primary role")
	case in.Epoch < 1:
		return invalidInput("epoch", "must be at least 1: the epoch of the routing record that names the failed primary")
	}
	if in.LastPrimaryLSN != "" {
		if _, err := schemas.ParseLSN(in.LastPrimaryLSN); err != nil {
			return invalidInput("last_primary_lsn", err.Error())
		}
	}
	return nil
}

// failover is one Failover run: its steps and the compensations registered
// so far, newest last.
type failover struct {
	ctx          workflow.Context
	in           schemas.FailoverInput
	topo         schemas.Topology
	failedRegion string
	steps        stepClock
	undo         []compensation
	// silent are the regions where no worker took the last probe.
	silent []string
}

type compensation struct {
	name string
	run  func(ctx workflow.Context) error
}

func (f *failover) run(res *schemas.FailoverResult) (schemas.FailoverResult, error) {
	ctx := f.ctx
	var routing *ha.Routing
	var nodes *ha.Nodes

	if err := f.confirm(); err != nil {
		return *res, err
	}
	f.steps.mark("confirm")

	var bumped schemas.BumpEpochResult
	if err := workflow.ExecuteLocalActivity(f.local(), routing.BumpEpoch, schemas.BumpEpochInput{
		Cluster: f.in.Cluster, Epoch: f.in.Epoch, Failed: f.in.Failed,
	}).Get(ctx, &bumped); err != nil {
		return *res, wrap(err, "take the primary role from "+f.in.Failed)
	}
	epoch := bumped.Record.Epoch
	res.Epoch = epoch
	f.register("give the primary role back to "+f.in.Failed, func(ctx workflow.Context) error {
		return workflow.ExecuteActivity(f.globalCtx(ctx), routing.PublishPrimary, schemas.PublishPrimaryInput{
			Cluster: f.in.Cluster, Epoch: epoch, Primary: f.in.Failed,
		}).Get(ctx, nil)
	})
	f.steps.mark("epoch")

	// The candidate is chosen while the old primary is fenced: the choice
	// reads the replicas, the fence touches only the old primary.
	fencing := f.startFence(epoch)
	choice, chooseErr := f.choose()
	fenced, waited, err := f.finishFence(fencing, epoch)
	if err != nil {
		return *res, err
	}
	res.Fenced = fenced
	if waited {
		// The replicas moved on while the lease ran out: look again.
		choice, chooseErr = f.choose()
	}
	if chooseErr != nil {
		return *res, chooseErr
	}
	res.Candidate = choice
	f.steps.mark("fence and choose")

	others := f.otherNodes(choice.Node)
	var promoted schemas.PromoteResult
	if err := workflow.ExecuteActivity(f.regional(choice.Region), nodes.Promote, schemas.PromoteInput{
		Cluster: f.in.Cluster, Node: choice.Node, Epoch: epoch, SyncStandbys: f.syncStandbys(others),
	}).Get(ctx, &promoted); err != nil {
		return *res, wrap(err, "promote "+choice.Node)
	}
	// A promoted replica cannot be demoted without a rewind: from here on
	// the saga only goes forward.
	f.undo = nil
	res.Promoted = choice.Node
	f.steps.mark("promote")

	// The others are repointed while the new primary is published: a
	// commit waits for one of them, so neither can wait for the other.
	repointing := f.startRepoint(choice.Node, others)
	publish := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: 10 * time.Minute, StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 5 * time.Second,
			NonRetryableErrorTypes: failoverNonRetryable,
		},
	})
	if err := workflow.ExecuteLocalActivity(publish, routing.PublishPrimary, schemas.PublishPrimaryInput{
		Cluster: f.in.Cluster, Epoch: epoch, Primary: choice.Node,
	}).Get(ctx, nil); err != nil {
		return *res, wrap(err, "publish "+choice.Node)
	}
	f.steps.mark("publish")
	f.finishRepoint(repointing)
	f.steps.mark("repoint")

	var verified schemas.VerifyWriteResult
	if err := workflow.ExecuteActivity(f.regional(choice.Region), nodes.VerifyWrite, schemas.VerifyWriteInput{
		Cluster: f.in.Cluster, Node: choice.Node, Epoch: epoch,
	}).Get(ctx, &verified); err != nil {
		return *res, wrap(err, "verify a write on "+choice.Node)
	}
	res.Verified = verified.LSN
	f.steps.mark("verify")

	now := workflow.Now(ctx)
	event := schemas.HAEvent{
		Cluster: f.in.Cluster, Kind: schemas.EventFailover, WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID,
		From: f.in.Failed, To: choice.Node, Epoch: epoch, Outcome: "succeeded",
		Started: workflow.GetInfo(ctx).WorkflowStartTime, Finished: now, Steps: f.steps.steps,
		Took:   now.Sub(workflow.GetInfo(ctx).WorkflowStartTime),
		Detail: fmt.Sprintf("%s; fenced: %s; %s", choice.Reason, fenced, f.in.Reason),
	}
	if err := workflow.ExecuteActivity(f.global(), routing.RecordEvent, schemas.RecordEventInput{Event: event}).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("record failover event", "error", err)
	}
	f.steps.mark("record")
	return *res, nil
}

// confirm asks a second region whether the primary is down, unless probes
// of two regions saw it fail already. An operator's force skips it.
func (f *failover) confirm() error {
	if len(f.in.ConfirmedBy) >= 2 || f.in.Force {
		return nil
	}
	region := f.failedRegion
	for _, r := range f.topo.RegionNames() {
		if r != f.failedRegion && !slices.Contains(f.in.ConfirmedBy, r) {
			region = r
			break
		}
	}
	var nodes *ha.Nodes
	var res schemas.ConfirmDownResult
	ctx := workflow.WithActivityOptions(f.ctx, workflow.ActivityOptions{
		TaskQueue: schemas.RegionTaskQueue(region), ScheduleToStartTimeout: fenceWait, StartToCloseTimeout: 30 * time.Second,
		HeartbeatTimeout: haHeartbeat,
		RetryPolicy:      &temporal.RetryPolicy{MaximumAttempts: 2, NonRetryableErrorTypes: failoverNonRetryable},
	})
	if err := workflow.ExecuteActivity(ctx, nodes.ConfirmDown, schemas.ConfirmDownInput{Cluster: f.in.Cluster, Node: f.in.Failed}).Get(f.ctx, &res); err != nil {
		// No second opinion to be had: the first region's judgement stands.
		workflow.GetLogger(f.ctx).Warn("no second opinion on the failure", "region", region, "error", err)
		return nil
	}
	if !res.Down {
		return failure(schemas.ErrNotConfirmed,
			fmt.Sprintf("%s answers from %s (%s): not failing over; use force if it must go", f.in.Failed, region, res.Detail), nil)
	}
	return nil
}

// startFence starts stopping the old primary from taking writes, on its
// region's worker; a region without a live worker is waited for briefly.
func (f *failover) startFence(epoch int64) workflow.Future {
	var nodes *ha.Nodes
	ctx := workflow.WithActivityOptions(f.ctx, workflow.ActivityOptions{
		TaskQueue: schemas.RegionTaskQueue(f.failedRegion), ScheduleToStartTimeout: fenceWait, StartToCloseTimeout: fenceTimeout,
		HeartbeatTimeout: haHeartbeat,
		RetryPolicy:      &temporal.RetryPolicy{InitialInterval: 500 * time.Millisecond, MaximumAttempts: 2, NonRetryableErrorTypes: failoverNonRetryable},
	})
	return workflow.ExecuteActivity(ctx, nodes.FenceNode, schemas.FenceNodeInput{Cluster: f.in.Cluster, Node: f.in.Failed, Epoch: epoch})
}

// finishFence waits for the fence. Where neither the old primary's region
// worker nor SQL reached it, its guard's lease decides: the workflow waits
// until the lease has run out, after which the guard has stopped it.
// waited says whether it waited for the lease.
func (f *failover) finishFence(fencing workflow.Future, epoch int64) (how string, waited bool, err error) {
	var nodes *ha.Nodes
	var routing *ha.Routing
	var fenced schemas.FenceNodeResult
	if err := fencing.Get(f.ctx, &fenced); err == nil && fenced.Fenced {
		// The role goes back before the fence comes off: a node restarted
		// while the record still says it was fenced is fenced again by its
		// guard.
		f.register("give the role back to "+f.in.Failed+" and unfence it", func(ctx workflow.Context) error {
			if err := workflow.ExecuteActivity(f.globalCtx(ctx), routing.PublishPrimary, schemas.PublishPrimaryInput{
				Cluster: f.in.Cluster, Epoch: epoch, Primary: f.in.Failed,
			}).Get(ctx, nil); err != nil {
				return err
			}
			return workflow.ExecuteActivity(f.regionalCtx(ctx, f.failedRegion), nodes.UnfenceNode, schemas.UnfenceNodeInput{
				Cluster: f.in.Cluster, Node: f.in.Failed, How: fenced.How,
			}).Get(ctx, nil)
		})
		return fenced.How, false, nil
	}
	var read schemas.ReadRoutingResult
	if err := workflow.ExecuteLocalActivity(f.local(), routing.ReadRouting, schemas.ReadRoutingInput{Cluster: f.in.Cluster}).Get(f.ctx, &read); err != nil {
		return "", false, wrap(err, "read the lease of "+f.in.Failed)
	}
	// The lease key belongs to the node that held the role; with none
	// readable, wait out a whole lease.
	wait := f.topo.Failover.LeaseOrDefault()
	if read.Found {
		wait = read.LeaseRemaining
	}
	if wait > 0 {
		if err := workflow.Sleep(f.ctx, wait+leaseMargin); err != nil {
			return "", false, err
		}
	}
	return "lease expired", true, nil
}

// choose probes every region and picks the replica to promote. A node
// other than the failed one that is already a primary is adopted: it was
// promoted by an earlier attempt, and promoting another would make two.
func (f *failover) choose() (schemas.CandidateChoice, error) {
	var health []schemas.NodeHealth
	results, silent := probeRegions(f.ctx, f.topo, f.probeWait)
	f.silent = silent
	for _, r := range results {
		health = append(health, r.Nodes...)
	}
	for _, h := range health {
		if h.Kind == schemas.KindPostgres && h.Name != f.in.Failed && h.Role == schemas.RolePrimary {
			return schemas.CandidateChoice{Node: h.Name, Region: h.Region, Received: h.CurrentLSN, Reason: "already promoted by an earlier attempt"}, nil
		}
	}
	prefer := f.failedRegion
	if f.in.OnlyRegion != "" {
		prefer = f.in.OnlyRegion
	}
	choice, err := policy.ChooseCandidate(f.topo, health, policy.CandidateRules{
		Failed: f.in.Failed, LastPrimaryLSN: f.in.LastPrimaryLSN, Synchronous: f.in.Synchronous,
		MaxLagBytes: f.topo.Targets.MaxLag(), PreferRegion: prefer, OnlyRegion: f.in.OnlyRegion, Force: f.in.Force,
	})
	if err != nil {
		return choice, failure(schemas.ErrNoCandidate, err.Error(), nil, choice)
	}
	return choice, nil
}

// probeWait is how long a candidate probe waits for a worker of region: a
// region where none took the last probe (a partition, a region down) is
// given only fenceWait when the choice is made again after the lease, as
// the fence gives it, rather than another regionProbeWait.
func (f *failover) probeWait(region string) time.Duration {
	if slices.Contains(f.silent, region) {
		return fenceWait
	}
	return regionProbeWait
}

// otherNodes lists the PostgreSQL nodes other than the candidate: the new
// primary's standbys, any one of which must acknowledge each commit.
// syncStandbys is who the new primary waits for: any one of the other
// nodes, so a commit is on two nodes whichever replica answers. From
// version 1 on, when the only other node is the failed primary (a cluster
// of two), none: no standby could acknowledge a commit until it rejoins,
// and a primary that cannot commit is no failover. Like Patroni's
// non-strict synchronous mode, availability comes first when no standby
// is left; the rejoined node streams asynchronously.
func (f *failover) syncStandbys(others []string) []string {
	if workflow.GetVersion(f.ctx, "failover-sync-without-failed", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return others
	}
	if len(others) == 1 && others[0] == f.in.Failed {
		return nil
	}
	return others
}

func (f *failover) otherNodes(candidate string) []string {
	var out []string
	for _, r := range f.topo.Regions {
		for _, n := range r.Postgres {
			if n.Name != candidate {
				out = append(out, n.Name)
			}
		}
	}
	return out
}

// startRepoint makes every other reachable replica stream from the new
// primary, concurrently.
func (f *failover) startRepoint(primary string, others []string) map[string]workflow.Future {
	var nodes *ha.Nodes
	futures := map[string]workflow.Future{}
	for _, n := range others {
		if n == f.in.Failed {
			continue
		}
		region, _ := f.topo.NodeRegion(n)
		ctx := workflow.WithActivityOptions(f.ctx, workflow.ActivityOptions{
			TaskQueue: schemas.RegionTaskQueue(region), ScheduleToStartTimeout: fenceWait, StartToCloseTimeout: 30 * time.Second,
			HeartbeatTimeout: haHeartbeat,
			RetryPolicy:      &temporal.RetryPolicy{MaximumAttempts: 2, NonRetryableErrorTypes: failoverNonRetryable},
		})
		futures[n] = workflow.ExecuteActivity(ctx, nodes.Repoint, schemas.RepointInput{Cluster: f.in.Cluster, Node: n, Primary: primary})
	}
	return futures
}

// finishRepoint waits for the repoints. A replica that cannot be repointed
// now is left to the monitor, which rejoins it; it does not fail the
// failover.
func (f *failover) finishRepoint(futures map[string]workflow.Future) {
	for _, n := range sortedKeys(futures) {
		if err := futures[n].Get(f.ctx, nil); err != nil {
			workflow.GetLogger(f.ctx).Warn("replica not repointed; the monitor will rejoin it", "node", n, "error", err)
		}
	}
}

// repoint repoints the others and waits.
func (f *failover) repoint(primary string, others []string) {
	f.finishRepoint(f.startRepoint(primary, others))
}

func (f *failover) register(name string, run func(workflow.Context) error) {
	f.undo = append(f.undo, compensation{name: name, run: run})
}

// compensate undoes the registered steps, newest first, in a context that a
// cancellation of the failover does not cancel.
func (f *failover) compensate() {
	ctx, _ := workflow.NewDisconnectedContext(f.ctx)
	for i := len(f.undo) - 1; i >= 0; i-- {
		c := f.undo[i]
		if err := c.run(ctx); err != nil {
			workflow.GetLogger(ctx).Error("compensation failed", "step", c.name, "error", err)
		}
	}
	f.undo = nil
}

func (f *failover) global() workflow.Context { return f.globalCtx(f.ctx) }

// local runs a short routing-store step in the workflow's own worker: no
// round trip through a task queue, which a failover counts in.
func (f *failover) local() workflow.Context {
	return workflow.WithLocalActivityOptions(f.ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: time.Minute, StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 5 * time.Second,
			NonRetryableErrorTypes: failoverNonRetryable,
		},
	})
}

func (f *failover) globalCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, haActivity(schemas.GlobalTaskQueue))
}

func (f *failover) regional(region string) workflow.Context { return f.regionalCtx(f.ctx, region) }

func (f *failover) regionalCtx(ctx workflow.Context, region string) workflow.Context {
	return workflow.WithActivityOptions(ctx, haActivity(schemas.RegionTaskQueue(region)))
}

// haActivity retries fast, and soon after its worker died: a failover
// counts in seconds.
func haActivity(queue string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:           queue,
		StartToCloseTimeout: 2 * time.Minute,
		HeartbeatTimeout:    haHeartbeat,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 5 * time.Second,
			MaximumAttempts: 10, NonRetryableErrorTypes: failoverNonRetryable,
		},
	}
}

// countDetections counts the detection signals that reached this run.
func countDetections(ctx workflow.Context) *int {
	n := new(int)
	ch := workflow.GetSignalChannel(ctx, schemas.SignalFailoverDetected)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var d schemas.FailoverDetected
			ch.Receive(ctx, &d)
			*n++
			workflow.GetLogger(ctx).Info("failure detected", "region", d.Region, "detections", *n)
		}
	})
	return n
}

// notifyMonitor tells the monitor that started a run how it ended, even when
// the run was cancelled.
func notifyMonitor(ctx workflow.Context, monitor string, done schemas.FailoverDone) {
	if monitor == "" {
		return
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if err := workflow.SignalExternalWorkflow(dctx, monitor, "", schemas.SignalFailoverDone, done).Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("tell the monitor", "monitor", monitor, "error", err)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
