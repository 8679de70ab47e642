package workflows

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/policy"
	"github.com/runnerhub/lifeboat/schemas"
)

// probeScript plays one region's probe: each call returns the next
// judgement after its delay on the workflow clock; past the end, the probe
// stays quiet for its whole wait.
type probeScript struct {
	mu    sync.Mutex
	steps []probeStep
	calls int
	known []map[string]schemas.Observation
	world map[string]schemas.Observation
	// now is the workflow clock, which stamps when a judgement changed.
	now func() time.Time
}

type probeStep struct {
	after time.Duration
	obs   []schemas.Observation
}

func (p *probeScript) next(in schemas.MonitorProbeInput) (time.Duration, schemas.MonitorProbeResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.known = append(p.known, in.Known)
	if p.world == nil {
		p.world = map[string]schemas.Observation{}
	}
	var after time.Duration = probeMaxWait
	if i := p.calls; i < len(p.steps) {
		after = p.steps[i].after
		for _, o := range p.steps[i].obs {
			o.From = in.Region
			if o.Since.IsZero() && p.now != nil {
				o.Since = p.now()
			}
			p.world[o.Name] = o
		}
	}
	p.calls++
	// Like the real probe: the whole judgement, and what differs from Known.
	res := schemas.MonitorProbeResult{Region: in.Region, Observations: maps.Clone(p.world)}
	for name, o := range p.world {
		if k, ok := in.Known[name]; !ok || k.State != o.State || k.Role != o.Role {
			res.Changed = append(res.Changed, name)
		}
	}
	slices.Sort(res.Changed)
	return after, res
}

func pgObs(name, region, role, state string) schemas.Observation {
	o := schemas.Observation{Name: name, Kind: schemas.KindPostgres, Region: region, Role: role, State: state, Timeline: 1}
	if role == schemas.RolePrimary {
		o.CurrentLSN, o.Synchronous = "0/3000200", []string{"pg-a2"}
	}
	if state == schemas.StateFailed || state == schemas.StateSuspect {
		o.Role, o.Error = "", "connection refused"
		o.Failures = 1
		if state == schemas.StateFailed {
			o.Failures = 3
		}
		o.CurrentLSN, o.Synchronous = "0/3000200", []string{"pg-a2"}
	}
	return o
}

func healthyA() []schemas.Observation {
	return []schemas.Observation{
		pgObs("pg-a1", "region-a", schemas.RolePrimary, schemas.StateHealthy),
		pgObs("pg-a2", "region-a", schemas.RoleReplica, schemas.StateHealthy),
	}
}

func healthyB() []schemas.Observation {
	return []schemas.Observation{
		pgObs("pg-b1", "region-b", schemas.RoleReplica, schemas.StateHealthy),
		pgObs("pg-a1", "region-a", schemas.RolePrimary, schemas.StateHealthy),
	}
}

type monitorHarness struct {
	env        *testsuite.TestWorkflowEnvironment
	a, b       *probeScript
	mu         sync.Mutex
	detections []schemas.StartFailoverInput
	alerts     []schemas.AlertInput
	published  []string
	rejoined   []string
	// rejoinFails is how many Rejoins fail before they succeed.
	rejoinFails int
}

func newMonitorEnv(t *testing.T, topo schemas.Topology) *monitorHarness {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(HealthMonitor)
	h := &monitorHarness{env: env, a: &probeScript{}, b: &probeScript{}}
	env.RegisterWorkflowWithOptions(func(_ workflow.Context, in schemas.RejoinInput) (schemas.RejoinResult, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.rejoined = append(h.rejoined, in.Node)
		if h.rejoinFails > 0 {
			h.rejoinFails--
			return schemas.RejoinResult{}, temporal.NewNonRetryableApplicationError("the primary it was given is down", "RejoinFailed", nil)
		}
		return schemas.RejoinResult{Cluster: in.Cluster, Node: in.Node, Primary: "pg-a1"}, nil
	}, workflow.RegisterOptions{Name: schemas.RejoinWorkflow})
	env.RegisterActivity(&ha.Cluster{})
	env.RegisterActivity(&ha.Probe{})
	env.RegisterActivity(&ha.Routing{})
	env.RegisterActivity(&ha.Control{})
	h.a.now, h.b.now = env.Now, env.Now
	env.OnActivity("DescribeCluster", mock.Anything, mock.Anything).Return(schemas.DescribeClusterResult{Topology: topo}, nil)
	for _, p := range []struct {
		region string
		s      *probeScript
	}{{"region-a", h.a}, {"region-b", h.b}} {
		env.OnActivity("MonitorRegion", mock.Anything, mock.MatchedBy(func(in schemas.MonitorProbeInput) bool { return in.Region == p.region })).
			AfterFn(func() time.Duration {
				p.s.mu.Lock()
				defer p.s.mu.Unlock()
				if p.s.calls < len(p.s.steps) {
					return p.s.steps[p.s.calls].after
				}
				return probeMaxWait
			}).
			Return(func(_ context.Context, in schemas.MonitorProbeInput) (schemas.MonitorProbeResult, error) {
				_, res := p.s.next(in)
				return res, nil
			})
	}
	env.OnActivity("ReadRouting", mock.Anything, mock.Anything).Return(schemas.ReadRoutingResult{}, nil)
	env.OnActivity("InitRouting", mock.Anything, mock.Anything).Return(func(_ context.Context, in schemas.InitRoutingInput) (schemas.InitRoutingResult, error) {
		return schemas.InitRoutingResult{Record: schemas.RoutingRecord{Cluster: in.Cluster, Epoch: 1, Primary: in.Primary}, Created: true}, nil
	})
	env.OnActivity("StartFailover", mock.Anything, mock.Anything).Return(func(_ context.Context, in schemas.StartFailoverInput) (schemas.StartFailoverResult, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.detections = append(h.detections, in)
		return schemas.StartFailoverResult{WorkflowID: schemas.FailoverWorkflowID(in.Failover.Cluster, in.Failover.Epoch)}, nil
	})
	env.OnActivity("Alert", mock.Anything, mock.Anything).Return(func(_ context.Context, in schemas.AlertInput) (schemas.AlertResult, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.alerts = append(h.alerts, in)
		return schemas.AlertResult{}, nil
	})
	env.OnActivity("RecordEvent", mock.Anything, mock.Anything).Return(schemas.RecordEventResult{}, nil)
	env.OnActivity("PublishRedisMaster", mock.Anything, mock.Anything).Return(func(_ context.Context, in schemas.PublishRedisMasterInput) (schemas.PublishRedisMasterResult, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.published = append(h.published, in.Master)
		return schemas.PublishRedisMasterResult{}, nil
	})
	return h
}

// status queries the monitor at a moment of the workflow clock.
func (h *monitorHarness) statusAt(t *testing.T, at time.Duration, got *schemas.MonitorState) {
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(schemas.QueryStatus)
		if err != nil {
			t.Errorf("query status: %v", err)
			return
		}
		if err := v.Get(got); err != nil {
			t.Errorf("decode status: %v", err)
		}
	}, at)
}

func (h *monitorHarness) run(t *testing.T, until time.Duration) {
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, until)
	h.env.ExecuteWorkflow(HealthMonitor, schemas.MonitorInput{Cluster: "dev"})
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("monitor did not stop when cancelled")
	}
}

func TestHealthMonitor_FailoverAtThresholdAndSecondDetectionJoins(t *testing.T) {
	h := newMonitorEnv(t, twoRegions())
	h.a.steps = []probeStep{
		{0, healthyA()},
		{5 * time.Second, []schemas.Observation{pgObs("pg-a1", "region-a", "", schemas.StateSuspect)}},
		{2 * time.Second, []schemas.Observation{pgObs("pg-a1", "region-a", "", schemas.StateFailed)}},
	}
	h.b.steps = []probeStep{
		{0, healthyB()},
		{8 * time.Second, []schemas.Observation{pgObs("pg-a1", "region-a", "", schemas.StateFailed)}},
	}
	var during, after schemas.MonitorState
	h.statusAt(t, 20*time.Second, &during)
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(schemas.SignalFailoverDone, schemas.FailoverDone{WorkflowID: "failover/dev/1", Epoch: 2, Promoted: "pg-a2"})
	}, 30*time.Second)
	h.statusAt(t, 40*time.Second, &after)
	h.run(t, time.Minute)

	if len(h.detections) != 2 {
		t.Fatalf("%d detections signalled, want 2 (one per region): %+v", len(h.detections), h.detections)
	}
	for _, d := range h.detections {
		if d.Failover.Epoch != 1 || d.Failover.Failed != "pg-a1" || !slices.Equal(d.Failover.Synchronous, []string{"pg-a2"}) ||
			d.Failover.LastPrimaryLSN != "0/3000200" || d.Failover.Monitor == "" {
			t.Errorf("detection %+v: want pg-a1 at epoch 1 with its sync standby and last LSN", d.Failover)
		}
	}
	if h.detections[0].Detected.Region != "region-a" || h.detections[1].Detected.Region != "region-b" {
		t.Errorf("detections from %s then %s, want region-a then region-b", h.detections[0].Detected.Region, h.detections[1].Detected.Region)
	}
	if during.Status != schemas.ClusterFailingOver || during.Failover == nil || during.Failover.WorkflowID != "failover/dev/1" {
		t.Errorf("status during failover %q (%+v), want failing_over for failover/dev/1", during.Status, during.Failover)
	}
	if after.Primary != "pg-a2" || after.Epoch != 2 || after.Failover != nil || len(after.Events) != 1 {
		t.Errorf("after: primary %s epoch %d failover %+v events %d; want pg-a2 at epoch 2 with one event", after.Primary, after.Epoch, after.Failover, len(after.Events))
	}
}

func TestHealthMonitor_FlappingNodeNeverFailsOver(t *testing.T) {
	h := newMonitorEnv(t, twoRegions())
	h.a.steps = []probeStep{{0, healthyA()}}
	for range 5 {
		h.a.steps = append(h.a.steps,
			probeStep{time.Second, []schemas.Observation{pgObs("pg-a1", "region-a", "", schemas.StateSuspect)}},
			probeStep{time.Second, []schemas.Observation{pgObs("pg-a1", "region-a", schemas.RolePrimary, schemas.StateHealthy)}})
	}
	h.b.steps = []probeStep{{0, healthyB()}}
	var got schemas.MonitorState
	h.statusAt(t, 30*time.Second, &got)
	h.run(t, time.Minute)
	if len(h.detections) != 0 {
		t.Errorf("a node that never failed 3 checks in a row started %d failovers", len(h.detections))
	}
	if got.Status != schemas.ClusterHealthy || got.Primary != "pg-a1" {
		t.Errorf("status %q primary %q, want healthy with pg-a1", got.Status, got.Primary)
	}
	if c := got.Components["pg-a1"]; policy.CircuitOf(c.State) != schemas.CircuitClosed {
		t.Errorf("pg-a1 circuit %s, want closed", policy.CircuitOf(c.State))
	}
}

func TestHealthMonitor_RTOBreachEscalates(t *testing.T) {
	topo := twoRegions()
	topo.Targets.RTO = schemas.Duration(30 * time.Second)
	h := newMonitorEnv(t, topo)
	h.a.steps = []probeStep{{0, healthyA()}, {3 * time.Second, []schemas.Observation{pgObs("pg-a1", "region-a", "", schemas.StateFailed)}}}
	h.b.steps = []probeStep{{0, healthyB()}}
	var before, breached schemas.MonitorState
	h.statusAt(t, 20*time.Second, &before)
	h.statusAt(t, 40*time.Second, &breached)
	h.run(t, time.Minute)
	if before.Status != schemas.ClusterFailingOver {
		t.Errorf("status before the RTO %q, want failing_over", before.Status)
	}
	if breached.Status != schemas.ClusterRTOBreached {
		t.Errorf("status after the RTO %q, want rto_breached", breached.Status)
	}
	if !slices.ContainsFunc(h.alerts, func(a schemas.AlertInput) bool { return a.Kind == "rto_breached" && a.Severity == "critical" }) {
		t.Errorf("alerts %+v: want a critical rto_breached alert", h.alerts)
	}
}

func TestHealthMonitor_PauseHoldsFailoverUntilResume(t *testing.T) {
	h := newMonitorEnv(t, twoRegions())
	h.a.steps = []probeStep{{0, healthyA()}, {10 * time.Second, []schemas.Observation{pgObs("pg-a1", "region-a", "", schemas.StateFailed)}}}
	h.b.steps = []probeStep{{0, healthyB()}}
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(schemas.SignalPause, schemas.PauseRequest{Owner: schemas.OwnerOperator, Reason: "maintenance"})
	}, 5*time.Second)
	var paused schemas.MonitorState
	h.statusAt(t, 20*time.Second, &paused)
	h.env.RegisterDelayedCallback(func() {
		if len(h.detections) != 0 {
			t.Errorf("a paused monitor started a failover")
		}
		h.env.SignalWorkflow(schemas.SignalResume, schemas.PauseRequest{Owner: schemas.OwnerOperator})
	}, 30*time.Second)
	h.run(t, time.Minute)
	if paused.Status != schemas.ClusterPaused || paused.PausedBy[schemas.OwnerOperator] != "maintenance" {
		t.Errorf("status %q paused by %v, want paused by the operator", paused.Status, paused.PausedBy)
	}
	if len(h.detections) != 1 {
		t.Errorf("%d failovers after resume, want 1", len(h.detections))
	}
}

func TestHealthMonitor_ContinueAsNewKeepsState(t *testing.T) {
	h := newMonitorEnv(t, twoRegions())
	h.a.steps = []probeStep{{0, healthyA()}, {5 * time.Second, []schemas.Observation{pgObs("pg-a2", "region-a", schemas.RoleReplica, schemas.StateSuspect)}}}
	h.b.steps = []probeStep{{0, healthyB()}}
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(schemas.SignalPause, schemas.PauseRequest{Owner: schemas.OwnerOperator})
	}, 2*time.Second)
	h.env.RegisterDelayedCallback(func() { h.env.SetContinueAsNewSuggested(true) }, 3*time.Second)
	h.env.ExecuteWorkflow(HealthMonitor, schemas.MonitorInput{Cluster: "dev"})
	err := h.env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if !errorsAs(err, &can) {
		t.Fatalf("monitor ended with %v, want continue-as-new", err)
	}
	var next schemas.MonitorInput
	if err := decodeContinueInput(can, &next); err != nil {
		t.Fatal(err)
	}
	st := next.State
	if st == nil || st.Primary != "pg-a1" || st.Epoch != 1 || !st.Paused || st.Runs != 1 || st.Components["pg-a2"].State != schemas.StateSuspect {
		t.Fatalf("carried state %+v: want primary pg-a1, epoch 1, paused, pg-a2 suspect", st)
	}
	// The next run resumes from it: its probes are told what was known.
	h2 := newMonitorEnv(t, twoRegions())
	h2.env.RegisterDelayedCallback(h2.env.CancelWorkflow, probeMaxWait+time.Minute)
	h2.env.ExecuteWorkflow(HealthMonitor, next)
	if len(h2.a.known) == 0 || h2.a.known[0]["pg-a1"].Role != schemas.RolePrimary {
		t.Errorf("the continued run's probe was not given the known state: %+v", h2.a.known)
	}
}

func TestHealthMonitor_RejectsMissingCluster(t *testing.T) {
	h := newMonitorEnv(t, twoRegions())
	h.env.ExecuteWorkflow(HealthMonitor, schemas.MonitorInput{})
	assertInvalidInput(t, h.env.GetWorkflowError(), "cluster")
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func decodeContinueInput(can *workflow.ContinueAsNewError, out any) error {
	return converter.GetDefaultDataConverter().FromPayloads(can.Input, out)
}

// assertInvalidInput checks that err is a non-retryable InvalidInput error
// naming field.
func assertInvalidInput(t *testing.T, err error, field string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != schemas.ErrInvalidInput || !appErr.NonRetryable() || !strings.Contains(err.Error(), field+":") {
		t.Errorf("error = %v, want a non-retryable InvalidInput naming %s", err, field)
	}
}

func redisObs(name, region, role, state, master string) schemas.Observation {
	kind := schemas.KindRedis
	if role == schemas.RoleSentinel {
		kind = schemas.KindSentinel
	}
	return schemas.Observation{Name: name, Kind: kind, Region: region, Role: role, State: state, SentinelMaster: master}
}

func TestHealthMonitor_NudgesSentinelAfterItsWindowAndFollowsTheNewMaster(t *testing.T) {
	h := newMonitorEnv(t, twoRegions())
	const oldMaster, newMaster = "127.0.0.1:16379", "127.0.0.1:16380"
	sentinels := func(master string) []schemas.Observation {
		return []schemas.Observation{redisObs("sentinel-a1", "region-a", schemas.RoleSentinel, schemas.StateHealthy, master)}
	}
	h.a.steps = []probeStep{
		{0, append(healthyA(), append(sentinels(oldMaster), redisObs("redis-a1", "region-a", schemas.RoleMaster, schemas.StateHealthy, ""))...)},
		{5 * time.Second, []schemas.Observation{redisObs("redis-a1", "region-a", "", schemas.StateFailed, "")}},
		{2 * time.Minute, sentinels(newMaster)},
	}
	h.b.steps = []probeStep{{0, healthyB()}}
	var nudges int
	h.env.OnActivity("SentinelFailover", mock.Anything, mock.Anything).Return(func(context.Context, schemas.SentinelFailoverInput) (schemas.SentinelFailoverResult, error) {
		nudges++
		return schemas.SentinelFailoverResult{Sentinel: "sentinel-a1"}, nil
	})
	var before, after schemas.MonitorState
	h.statusAt(t, 20*time.Second, &before)
	h.statusAt(t, 3*time.Minute, &after)
	timeouts := heartbeatTimeouts(h.env)
	h.run(t, 4*time.Minute)

	// The monitor's recovery actions, like a failover's, are retried within
	// seconds of their worker's death.
	for _, name := range []string{"SentinelFailover", "PublishRedisMaster"} {
		if got := timeouts()[name]; got != haHeartbeat {
			t.Errorf("%s: heartbeat timeout %s (negative: none, start-to-close), want %s", name, got, haHeartbeat)
		}
	}
	if nudges != 1 {
		t.Errorf("SENTINEL FAILOVER asked %d times, want once, after the 30 s window", nudges)
	}
	if !slices.Equal(h.published, []string{oldMaster, newMaster}) {
		t.Errorf("published masters %v, want the old then the new", h.published)
	}
	if before.RedisMaster != oldMaster || after.RedisMaster != newMaster {
		t.Errorf("redis master %s then %s, want %s then %s", before.RedisMaster, after.RedisMaster, oldMaster, newMaster)
	}
	if !slices.ContainsFunc(after.Events, func(e schemas.HAEvent) bool { return e.Kind == schemas.EventRedis && e.To == newMaster }) {
		t.Errorf("events %+v: want the Redis failover recorded", after.Events)
	}
}

// newDownA2Env is a monitor whose replica pg-a2, which its worker can
// start (it has a data directory), goes down 5 s in; the first
// rejoinFails rejoins fail.
func newDownA2Env(t *testing.T, rejoinFails int) *monitorHarness {
	topo := twoRegions()
	topo.Regions[0].Postgres[1].DataDir = "/srv/pg-a2"
	h := newMonitorEnv(t, topo)
	h.rejoinFails = rejoinFails
	h.a.steps = []probeStep{{0, healthyA()}, {5 * time.Second, []schemas.Observation{pgObs("pg-a2", "region-a", "", schemas.StateFailed)}}}
	return h
}

func TestHealthMonitor_RejoinsADownReplicaItsWorkerCanStart(t *testing.T) {
	h := newDownA2Env(t, 0)
	h.b.steps = []probeStep{{0, healthyB()}}
	var early []string
	h.env.RegisterDelayedCallback(func() { early = slices.Clone(h.rejoined) }, 20*time.Second)
	h.run(t, 80*time.Second)
	if len(early) != 0 {
		t.Errorf("rejoined %v before the node had been down 30 s", early)
	}
	if !slices.Equal(h.rejoined, []string{"pg-a2"}) {
		t.Errorf("rejoined %v, want pg-a2 once", h.rejoined)
	}
}

func TestHealthMonitor_AFailedRejoinTriesAgainOnceAFailoverNamesANewPrimary(t *testing.T) {
	h := newDownA2Env(t, 1)
	h.b.steps = []probeStep{{0, healthyB()}}
	var beforeFailover []string
	h.env.RegisterDelayedCallback(func() {
		h.mu.Lock()
		beforeFailover = slices.Clone(h.rejoined)
		h.mu.Unlock()
		// An operator's failover: the monitor adopts it, epoch 2.
		h.env.SignalWorkflow(schemas.SignalFailoverDone, schemas.FailoverDone{WorkflowID: "failover/dev/2", Epoch: 2, Promoted: "pg-a1"})
	}, 90*time.Second)
	h.run(t, 4*time.Minute)
	if !slices.Equal(beforeFailover, []string{"pg-a2"}) {
		t.Fatalf("before the failover: rejoined %v, want pg-a2 once (and failed)", beforeFailover)
	}
	// Without the failover the next try would wait out the 10-minute
	// back-off. (The script's pg-a2 stays down, so it is tried again each
	// time its rejoin has had a minute to settle.)
	if len(h.rejoined) < 2 || slices.ContainsFunc(h.rejoined, func(n string) bool { return n != "pg-a2" }) {
		t.Errorf("rejoined %v, want pg-a2 again soon after the failover", h.rejoined)
	}
	alerted := false
	for _, a := range h.alerts {
		alerted = alerted || a.Kind == "rejoin_failed"
	}
	if !alerted {
		t.Error("the failed rejoin raised no rejoin_failed alert")
	}
}

// A wake-up the monitor needs sooner than one it already waits for is not
// held back by it: here a failed rejoin's 10-minute back-off must not
// delay another node's rejoin past its grace.
func TestHealthMonitor_ALongWaitDoesNotHoldBackASoonerOne(t *testing.T) {
	h := newDownA2Env(t, 1)
	stray := pgObs("pg-b1", "region-b", schemas.RoleReplica, schemas.StateHealthy)
	stray.Error = "not streaming from a primary"
	h.b.steps = []probeStep{{0, healthyB()}, {90 * time.Second, []schemas.Observation{stray}}}
	var before []string
	h.env.RegisterDelayedCallback(func() {
		h.mu.Lock()
		before = slices.Clone(h.rejoined)
		h.mu.Unlock()
	}, 89*time.Second)
	h.run(t, 3*time.Minute)
	if !slices.Equal(before, []string{"pg-a2"}) {
		t.Fatalf("before pg-b1 strayed: rejoined %v, want pg-a2 once (and failed, backing off 10 minutes)", before)
	}
	if len(h.rejoined) < 2 || h.rejoined[1] != "pg-b1" {
		t.Errorf("rejoined %v, want pg-b1 next, within its grace of straying, not after pg-a2's back-off", h.rejoined)
	}
}
