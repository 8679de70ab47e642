package workflows

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/schemas"
)

// failoverHarness records the order of the steps a Failover took.
type failoverHarness struct {
	env   *testsuite.TestWorkflowEnvironment
	mu    sync.Mutex
	calls []string
	// Tests replace these to change what the cluster looks like.
	probe    func(region string) schemas.ProbeRegionResult
	probeErr func(region string) error // nil: every probe answers
	probed   []string                  // the region of each probe, in order
	fence    func() schemas.FenceNodeResult
	// hangFence makes every fence attempt hang until its deadline, which
	// fenceDeadlines records.
	hangFence      bool
	fenceDeadlines []time.Duration
	routing        schemas.ReadRoutingResult
	promote        func()
	released       bool
}

func (h *failoverHarness) called(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, name)
}

func failedPrimaryProbe(region string) schemas.ProbeRegionResult {
	if region == "region-a" {
		return schemas.ProbeRegionResult{Region: region, Nodes: []schemas.NodeHealth{
			{Name: "pg-a1", Kind: schemas.KindPostgres, Region: region, Role: schemas.RoleUnknown, Error: "connection refused"},
			{Name: "pg-a2", Kind: schemas.KindPostgres, Region: region, Role: schemas.RoleReplica, ReceivedLSN: "0/3000200", Timeline: 1},
		}}
	}
	return schemas.ProbeRegionResult{Region: region, Nodes: []schemas.NodeHealth{
		{Name: "pg-b1", Kind: schemas.KindPostgres, Region: region, Role: schemas.RoleReplica, ReceivedLSN: "0/3000300", Timeline: 1},
	}}
}

func newFailoverEnv(t *testing.T) *failoverHarness {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(Failover)
	env.RegisterActivity(&ha.Cluster{})
	env.RegisterActivity(&ha.Probe{})
	env.RegisterActivity(&ha.Routing{})
	env.RegisterActivity(&ha.Nodes{})
	h := &failoverHarness{env: env, probe: failedPrimaryProbe, promote: func() {},
		fence: func() schemas.FenceNodeResult {
			return schemas.FenceNodeResult{Fenced: true, How: schemas.FencedNotRunning}
		}}
	env.OnActivity("DescribeCluster", mock.Anything, mock.Anything).Return(schemas.DescribeClusterResult{Topology: twoRegions()}, nil)
	env.OnActivity("ProbeRegion", mock.Anything, mock.Anything).Return(func(_ context.Context, in schemas.ProbeRegionInput) (schemas.ProbeRegionResult, error) {
		h.mu.Lock()
		h.probed = append(h.probed, in.Region)
		h.mu.Unlock()
		if h.probeErr != nil {
			if err := h.probeErr(in.Region); err != nil {
				return schemas.ProbeRegionResult{}, err
			}
		}
		return h.probe(in.Region), nil
	})
	// The slot is granted at once and given back at the end.
	env.RegisterActivity(&ha.Control{})
	env.OnActivity("AcquireSlot", mock.Anything, mock.Anything).Return(schemas.AcquireSlotResult{}, nil)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(schemas.SignalSlotGranted, nil) }, 0)
	env.OnSignalExternalWorkflow(mock.Anything, schemas.FailoverSlotsID, "", schemas.SignalReleaseSlot, mock.Anything).Return(
		func(_, _, _, _ string, _ any) error { h.released = true; return nil })
	env.OnActivity("ReadRouting", mock.Anything, mock.Anything).Return(func(context.Context, schemas.ReadRoutingInput) (schemas.ReadRoutingResult, error) {
		return h.routing, nil
	})
	env.OnActivity("ConfirmDown", mock.Anything, mock.Anything).Return(func(context.Context, schemas.ConfirmDownInput) (schemas.ConfirmDownResult, error) {
		h.called("confirm")
		return schemas.ConfirmDownResult{Down: true, Detail: "connection refused"}, nil
	})
	env.OnActivity("BumpEpoch", mock.Anything, mock.Anything).Return(func(_ context.Context, in schemas.BumpEpochInput) (schemas.BumpEpochResult, error) {
		h.called("bump")
		return schemas.BumpEpochResult{Record: schemas.RoutingRecord{Cluster: in.Cluster, Epoch: in.Epoch + 1, Fenced: in.Failed}}, nil
	})
	env.OnActivity("FenceNode", mock.Anything, mock.Anything).Return(func(ctx context.Context, _ schemas.FenceNodeInput) (schemas.FenceNodeResult, error) {
		h.called("fence")
		if h.hangFence {
			// What a hung attempt ends as, at its deadline.
			info := activity.GetInfo(ctx)
			h.mu.Lock()
			h.fenceDeadlines = append(h.fenceDeadlines, info.Deadline.Sub(info.StartedTime))
			h.mu.Unlock()
			return schemas.FenceNodeResult{}, temporal.NewTimeoutError(enums.TIMEOUT_TYPE_START_TO_CLOSE, nil)
		}
		return h.fence(), nil
	})
	env.OnActivity("Promote", mock.Anything, mock.Anything).Return(func(_ context.Context, in schemas.PromoteInput) (schemas.PromoteResult, error) {
		h.called("promote " + in.Node)
		h.promote()
		return schemas.PromoteResult{Timeline: 2, LSN: "0/3000400"}, nil
	})
	env.OnActivity("Repoint", mock.Anything, mock.Anything).Return(func(_ context.Context, in schemas.RepointInput) (schemas.RepointResult, error) {
		h.called("repoint " + in.Node + " to " + in.Primary)
		return schemas.RepointResult{Changed: true}, nil
	})
	env.OnActivity("PublishPrimary", mock.Anything, mock.Anything).Return(func(_ context.Context, in schemas.PublishPrimaryInput) (schemas.PublishPrimaryResult, error) {
		h.called("publish " + in.Primary)
		return schemas.PublishPrimaryResult{Record: schemas.RoutingRecord{Epoch: in.Epoch, Primary: in.Primary}}, nil
	})
	env.OnActivity("VerifyWrite", mock.Anything, mock.Anything).Return(func(context.Context, schemas.VerifyWriteInput) (schemas.VerifyWriteResult, error) {
		h.called("verify")
		return schemas.VerifyWriteResult{LSN: "0/3000500"}, nil
	})
	env.OnActivity("RecordEvent", mock.Anything, mock.Anything).Return(func(context.Context, schemas.RecordEventInput) (schemas.RecordEventResult, error) {
		h.called("record")
		return schemas.RecordEventResult{}, nil
	})
	env.OnActivity("UnfenceNode", mock.Anything, mock.Anything).Return(func(_ context.Context, in schemas.UnfenceNodeInput) (schemas.UnfenceNodeResult, error) {
		h.called("unfence " + in.Node)
		return schemas.UnfenceNodeResult{Writable: true}, nil
	})
	return h
}

var failedA1 = schemas.FailoverInput{Cluster: "dev", Failed: "pg-a1", Epoch: 1, LastPrimaryLSN: "0/3000200", Synchronous: []string{"pg-a2"}}

func TestFailover_PromotesSyncStandbyInOrderAndFencesFirst(t *testing.T) {
	h := newFailoverEnv(t)
	h.env.ExecuteWorkflow(Failover, failedA1)
	var got schemas.FailoverResult
	if err := h.env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	// Repointing and publishing run together; everything else in order.
	assertOrder(t, h.calls, "confirm", "bump", "fence", "promote pg-a2", "publish pg-a2", "verify", "record")
	assertOrder(t, h.calls, "promote pg-a2", "repoint pg-b1 to pg-a2", "verify")
	if len(h.calls) != 8 {
		t.Errorf("steps %v, want 8", h.calls)
	}
	if !h.released {
		t.Error("the failover slot was not released")
	}
	if got.Promoted != "pg-a2" || got.Epoch != 2 || got.Fenced != schemas.FencedNotRunning || got.Verified != "0/3000500" {
		t.Errorf("result %+v", got)
	}
}

func TestFailover_TwoRegionsConfirmingSkipsTheSecondOpinion(t *testing.T) {
	h := newFailoverEnv(t)
	in := failedA1
	in.ConfirmedBy = []string{"region-a", "region-b"}
	h.env.ExecuteWorkflow(Failover, in)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(h.calls, "confirm") {
		t.Error("asked for a second opinion the probes had given")
	}
}

func TestFailover_DetectionsJoinTheRun(t *testing.T) {
	h := newFailoverEnv(t)
	h.fence = func() schemas.FenceNodeResult { return schemas.FenceNodeResult{How: schemas.FencedNone} }
	h.routing = schemas.ReadRoutingResult{Found: true, LeaseRemaining: 5 * time.Second}
	for _, at := range []time.Duration{0, time.Second} {
		h.env.RegisterDelayedCallback(func() {
			h.env.SignalWorkflow(schemas.SignalFailoverDetected, schemas.FailoverDetected{Region: "region-b"})
		}, at)
	}
	h.env.ExecuteWorkflow(Failover, failedA1)
	var got schemas.FailoverResult
	if err := h.env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if got.Detections != 2 {
		t.Errorf("detections %d, want 2", got.Detections)
	}
}

func TestFailover_UnreachableOldPrimaryWaitsOutItsLease(t *testing.T) {
	h := newFailoverEnv(t)
	h.fence = func() schemas.FenceNodeResult { return schemas.FenceNodeResult{How: schemas.FencedNone} }
	h.routing = schemas.ReadRoutingResult{Found: true, LeaseRemaining: 7 * time.Second}
	var promotedAt time.Time
	h.promote = func() { promotedAt = h.env.Now() }
	start := h.env.Now()
	h.env.ExecuteWorkflow(Failover, failedA1)
	var got schemas.FailoverResult
	if err := h.env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if waited := promotedAt.Sub(start); waited < 7*time.Second {
		t.Errorf("promoted %s after start, before the old primary's lease ran out (7s)", waited)
	}
	if got.Fenced != "lease expired" {
		t.Errorf("fenced %q, want lease expired", got.Fenced)
	}
}

// A region where no worker took the candidate probe (a partition, a
// region down) is not waited for a whole regionProbeWait again when the
// choice is made once more after the old primary's lease.
func TestFailover_ARegionWithoutAWorkerIsWaitedForBrieflyAfterTheLease(t *testing.T) {
	h := newFailoverEnv(t)
	h.fence = func() schemas.FenceNodeResult { return schemas.FenceNodeResult{How: schemas.FencedNone} }
	h.routing = schemas.ReadRoutingResult{Found: true, LeaseRemaining: 5 * time.Second}
	h.probeErr = func(region string) error {
		if region == "region-a" {
			return temporal.NewTimeoutError(enums.TIMEOUT_TYPE_SCHEDULE_TO_START, nil)
		}
		return nil
	}
	h.env.ExecuteWorkflow(Failover, failedA1)
	var got schemas.FailoverResult
	if err := h.env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	// pg-a2, the synchronous standby, was not seen: pg-b1, within the
	// allowed lag, is promoted, as before.
	if got.Promoted != "pg-b1" || got.Fenced != "lease expired" {
		t.Errorf("promoted %q, fenced %q; want pg-b1 after the lease", got.Promoted, got.Fenced)
	}
	if n := countOf(h.probed, "region-a"); n != 2 {
		t.Errorf("region-a probed %d times (%v), want twice: before and after the lease", n, h.probed)
	}
	f := &failover{silent: []string{"region-a"}}
	if f.probeWait("region-a") != fenceWait || f.probeWait("region-b") != regionProbeWait {
		t.Errorf("waits %s and %s, want %s for the silent region, %s for the other", f.probeWait("region-a"), f.probeWait("region-b"), fenceWait, regionProbeWait)
	}
	if noWorkerTook(temporal.NewTimeoutError(enums.TIMEOUT_TYPE_START_TO_CLOSE, nil)) || noWorkerTook(errors.New("refused")) {
		t.Error("noWorkerTook counts a timeout after the start, or another error, as no worker")
	}
}

func countOf(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

func TestFailover_NoCandidateUndoesTheFenceAndEpoch(t *testing.T) {
	h := newFailoverEnv(t)
	h.probe = func(region string) schemas.ProbeRegionResult {
		r := failedPrimaryProbe(region)
		for i := range r.Nodes {
			r.Nodes[i].ReceivedLSN = "0/1000000" // 32 MiB behind
		}
		return r
	}
	h.env.ExecuteWorkflow(Failover, failedA1)
	var appErr *temporal.ApplicationError
	if err := h.env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != schemas.ErrNoCandidate {
		t.Fatalf("error %v, want NoCandidate", err)
	}
	want := []string{"confirm", "bump", "fence", "publish pg-a1", "unfence pg-a1", "publish pg-a1"}
	if !slices.Equal(h.calls, want) {
		t.Errorf("steps\n got %v\nwant %v (compensations newest first; the role back before the fence comes off)", h.calls, want)
	}
}

func TestFailover_ForcePromotesALaggingReplica(t *testing.T) {
	h := newFailoverEnv(t)
	h.probe = func(region string) schemas.ProbeRegionResult {
		r := failedPrimaryProbe(region)
		for i := range r.Nodes {
			r.Nodes[i].ReceivedLSN = "0/1000000" // 32 MiB behind
		}
		return r
	}
	in := failedA1
	in.Force = true
	h.env.ExecuteWorkflow(Failover, in)
	var got schemas.FailoverResult
	if err := h.env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if got.Candidate.LossBytes != 0x2000200 {
		t.Errorf("loss estimate %d, want %d", got.Candidate.LossBytes, 0x2000200)
	}
}

func TestFailover_AdoptsANodeAnEarlierAttemptPromoted(t *testing.T) {
	h := newFailoverEnv(t)
	h.probe = func(region string) schemas.ProbeRegionResult {
		r := failedPrimaryProbe(region)
		if region == "region-b" {
			r.Nodes[0].Role = schemas.RolePrimary
		}
		return r
	}
	h.env.ExecuteWorkflow(Failover, failedA1)
	var got schemas.FailoverResult
	if err := h.env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if got.Promoted != "pg-b1" {
		t.Errorf("promoted %s, want pg-b1, the primary an earlier attempt made", got.Promoted)
	}
}

func TestFailover_RejectsBadInputNamingTheField(t *testing.T) {
	tests := []struct {
		change func(*schemas.FailoverInput)
		field  string
	}{
		{func(in *schemas.FailoverInput) { in.Cluster = "" }, "cluster"},
		{func(in *schemas.FailoverInput) { in.Failed = "" }, "failed"},
		{func(in *schemas.FailoverInput) { in.Epoch = 0 }, "epoch"},
		{func(in *schemas.FailoverInput) { in.LastPrimaryLSN = "nope" }, "last_primary_lsn"},
		{func(in *schemas.FailoverInput) { in.Failed = "redis-a1" }, "failed"},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			h := newFailoverEnv(t)
			in := failedA1
			tt.change(&in)
			h.env.ExecuteWorkflow(Failover, in)
			assertInvalidInput(t, h.env.GetWorkflowError(), tt.field)
		})
	}
}

func TestSwitchover_StopsCleanlyWaitsForReplayAndPublishesBeforeRejoining(t *testing.T) {
	h := newFailoverEnv(t)
	h.env.RegisterWorkflow(Switchover)
	h.routing = schemas.ReadRoutingResult{Found: true, Record: schemas.RoutingRecord{Cluster: "dev", Epoch: 4, Primary: "pg-a1"}}
	h.probe = func(region string) schemas.ProbeRegionResult {
		r := failedPrimaryProbe(region)
		for i := range r.Nodes {
			if r.Nodes[i].Role == schemas.RoleReplica {
				r.Nodes[i].Streaming = true
			}
		}
		return r
	}
	h.fence = func() schemas.FenceNodeResult {
		return schemas.FenceNodeResult{Fenced: true, How: schemas.FencedStopped, StopLSN: "0/3000300"}
	}
	h.env.OnActivity("WaitCaughtUp", mock.Anything, schemas.WaitCaughtUpInput{Cluster: "dev", Node: "pg-a2", LSN: "0/3000300"}).
		Return(func(context.Context, schemas.WaitCaughtUpInput) (schemas.WaitCaughtUpResult, error) {
			h.called("caught up")
			return schemas.WaitCaughtUpResult{ReplayedLSN: "0/3000300"}, nil
		})
	h.env.OnActivity("RejoinNode", mock.Anything, mock.Anything).Return(func(_ context.Context, in schemas.RejoinNodeInput) (schemas.RejoinNodeResult, error) {
		h.called("rejoin " + in.Node + " to " + in.Primary)
		return schemas.RejoinNodeResult{}, nil
	})
	var pauses []string
	h.env.OnSignalExternalWorkflow(mock.Anything, "monitor/dev", "", mock.Anything, mock.Anything).Return(
		func(_, _, _, signal string, _ any) error {
			pauses = append(pauses, signal)
			return nil
		})
	timeouts := heartbeatTimeouts(h.env)
	h.env.ExecuteWorkflow(Switchover, schemas.SwitchoverInput{Cluster: "dev", Candidate: "pg-a2"})
	var got schemas.SwitchoverResult
	if err := h.env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	// A worker's death costs seconds, as in a failover.
	checkHeartbeatTimeouts(t, timeouts(), []string{"ReadRouting", "BumpEpoch", "FenceNode", "Promote", "Repoint", "PublishPrimary", "VerifyWrite", "RecordEvent"},
		"WaitCaughtUp", "RejoinNode")
	assertOrder(t, h.calls, "bump", "fence", "caught up", "promote pg-a2", "repoint pg-b1 to pg-a2", "publish pg-a2", "verify", "rejoin pg-a1 to pg-a2", "record")
	if got.From != "pg-a1" || got.To != "pg-a2" || got.Epoch != 5 || !got.Rejoined || got.StopLSN != "0/3000300" {
		t.Errorf("result %+v", got)
	}
	if !slices.Equal(pauses, []string{schemas.SignalPause, schemas.SignalEvent, schemas.SignalResume}) {
		t.Errorf("monitor signals %v, want pause, the event, resume", pauses)
	}
}

// assertOrder checks that each step was called, in this order.
func assertOrder(t *testing.T, calls []string, steps ...string) {
	t.Helper()
	last := -1
	for _, step := range steps {
		i := slices.Index(calls, step)
		if i < 0 || i < last {
			t.Errorf("steps %v: want %v in this order", calls, steps)
			return
		}
		last = i
	}
}

// A fence that hangs (its worker stuck on a frozen node) is given up on at
// its deadline, twice at most, and the failover goes on by the lease: the
// fence is never the slowest step.
func TestFailover_AHungFenceIsGivenUpOnAtItsDeadline(t *testing.T) {
	h := newFailoverEnv(t)
	h.hangFence = true
	h.routing = schemas.ReadRoutingResult{Found: true, LeaseRemaining: time.Second}
	var promotedAt time.Time
	h.promote = func() { promotedAt = h.env.Now() }
	start := h.env.Now()
	h.env.ExecuteWorkflow(Failover, failedA1)
	var got schemas.FailoverResult
	if err := h.env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if got.Fenced != "lease expired" || got.Promoted != "pg-a2" {
		t.Errorf("fenced %q, promoted %q; want pg-a2 after the lease", got.Fenced, got.Promoted)
	}
	if n := countOf(h.calls, "fence"); n != 2 {
		t.Errorf("fence attempts %d, want 2", n)
	}
	for _, d := range h.fenceDeadlines {
		if d <= 0 || d.Round(time.Second) > fenceTimeout {
			t.Errorf("a fence attempt may run %s, want at most %s", d, fenceTimeout)
		}
	}
	if took := promotedAt.Sub(start); took > 2*fenceTimeout+5*time.Second {
		t.Errorf("promoted %s after the start, want within two fence deadlines (%s each) and the lease", took, fenceTimeout)
	}
}
