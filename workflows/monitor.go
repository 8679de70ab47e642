package workflows

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/policy"
	"github.com/runnerhub/lifeboat/schemas"
)

const (
	// probeMaxWait bounds how long a quiet region's probe runs before it
	// reports anyway: with two regions an idle hour costs about 30 events.
	probeMaxWait = 30 * time.Minute
	// probeHeartbeat is how soon a probe whose worker died is noticed.
	probeHeartbeat = 10 * time.Second
	// probeRestartDelay spaces the restarts of a region probe that fails,
	// so a region without a worker does not spin.
	probeRestartDelay = 5 * time.Second
	// defaultContinueAfter is the history length that makes the monitor
	// continue as new when the server has not suggested it yet.
	defaultContinueAfter = 10000
	// maxEvents is how many HA events the monitor keeps in its state.
	maxEvents = 50
)

// HealthMonitor watches one cluster for ever: one long-lived probe per
// region reports changes of judgement; the monitor keeps each component's
// circuit, judges them in dependency order, starts a Failover when the
// primary fails (signal-with-start, so detections join one run), holds the
// cluster's RTO with a timer and escalates when it passes, rejoins former
// primaries, nudges Sentinel, and answers the `status` query.
func HealthMonitor(ctx workflow.Context, in schemas.MonitorInput) error {
	if in.Cluster == "" {
		return invalidInput("cluster", "required")
	}
	topo, err := describeCluster(ctx, in.Cluster)
	if err != nil {
		return err
	}
	m := newMonitor(ctx, topo, in)
	if err := workflow.SetQueryHandler(ctx, schemas.QueryStatus, func() (schemas.MonitorState, error) {
		return *m.st, nil
	}); err != nil {
		return fmt.Errorf("set status query: %w", err)
	}
	return m.run(ctx)
}

// monitor is the state of one HealthMonitor run.
type monitor struct {
	topo   schemas.Topology
	in     schemas.MonitorInput
	st     *schemas.MonitorState
	logger log.Logger

	probes    map[string]*regionProbe
	rto       workflow.Future
	cancelRTO workflow.CancelFunc
	wake      workflow.Future // re-judge at a deadline (backoff, Sentinel window, rejoin grace)
	wakeBy    time.Time       // when wake fires
	stopWake  workflow.CancelFunc
	rejoins   map[string]workflow.ChildWorkflowFuture
	attr      string
}

type regionProbe struct {
	future workflow.Future
	cancel workflow.CancelFunc
	watch  []string
}

func newMonitor(ctx workflow.Context, topo schemas.Topology, in schemas.MonitorInput) *monitor {
	st := in.State
	if st == nil {
		st = &schemas.MonitorState{Cluster: topo.Cluster, Status: schemas.ClusterStarting, Started: workflow.Now(ctx)}
	}
	st.Runs++
	st.Horizon = schemas.PredictionHorizon.String()
	if st.Components == nil {
		st.Components = map[string]schemas.Observation{}
	}
	if st.Views == nil {
		st.Views = map[string]schemas.Observation{}
	}
	st.Order = policy.JudgeOrder(topo)
	return &monitor{
		topo: topo, in: in, st: st, logger: workflow.GetLogger(ctx),
		probes: map[string]*regionProbe{}, rejoins: map[string]workflow.ChildWorkflowFuture{},
	}
}

func (m *monitor) run(ctx workflow.Context) error {
	pause := workflow.GetSignalChannel(ctx, schemas.SignalPause)
	resume := workflow.GetSignalChannel(ctx, schemas.SignalResume)
	done := workflow.GetSignalChannel(ctx, schemas.SignalFailoverDone)
	events := workflow.GetSignalChannel(ctx, schemas.SignalEvent)
	if m.st.Failover != nil {
		m.armRTO(ctx)
	}
	m.judge(ctx)
	for {
		m.startProbes(ctx)
		sel := workflow.NewSelector(ctx)
		for _, region := range sortedKeys(m.probes) {
			p := m.probes[region]
			sel.AddFuture(p.future, func(f workflow.Future) { m.onProbe(ctx, region, f) })
		}
		sel.AddReceive(pause, func(c workflow.ReceiveChannel, _ bool) {
			var req schemas.PauseRequest
			c.Receive(ctx, &req)
			m.onPause(req, true)
		})
		sel.AddReceive(resume, func(c workflow.ReceiveChannel, _ bool) {
			var req schemas.PauseRequest
			c.Receive(ctx, &req)
			m.onPause(req, false)
			m.resync(ctx)
		})
		sel.AddReceive(done, func(c workflow.ReceiveChannel, _ bool) {
			var d schemas.FailoverDone
			c.Receive(ctx, &d)
			m.onFailoverDone(ctx, d)
		})
		sel.AddReceive(events, func(c workflow.ReceiveChannel, _ bool) {
			var e schemas.HAEvent
			c.Receive(ctx, &e)
			m.keep(e)
		})
		if m.rto != nil {
			sel.AddFuture(m.rto, func(f workflow.Future) {
				m.rto = nil
				if err := f.Get(ctx, nil); err == nil {
					m.onRTOBreach(ctx)
				}
			})
		}
		if m.wake != nil {
			sel.AddFuture(m.wake, func(workflow.Future) { m.wake = nil })
		}
		for _, node := range sortedKeys(m.rejoins) {
			f := m.rejoins[node]
			sel.AddFuture(f, func(f workflow.Future) { m.onRejoined(ctx, node, f) })
		}
		sel.Select(ctx)
		if err := ctx.Err(); err != nil {
			return err // cancelled: the probes are cancelled with it
		}
		m.judge(ctx)
		if m.shouldContinue(ctx) {
			return m.continueAsNew(ctx, pause, resume, done)
		}
	}
}

// startProbes starts the probe of every region that has none running, and
// restarts those whose watch list no longer matches the primary.
func (m *monitor) startProbes(ctx workflow.Context) {
	for _, region := range m.topo.RegionNames() {
		watch := policy.WatchFor(m.topo, m.st.Primary, region)
		p := m.probes[region]
		if p != nil && slices.Equal(p.watch, watch) {
			continue
		}
		if p != nil {
			p.cancel()
		}
		m.probes[region] = m.startProbe(ctx, region, watch)
	}
}

func (m *monitor) startProbe(ctx workflow.Context, region string, watch []string) *regionProbe {
	pctx, cancel := workflow.WithCancel(ctx)
	pctx = workflow.WithActivityOptions(pctx, workflow.ActivityOptions{
		TaskQueue:              schemas.RegionTaskQueue(region),
		ScheduleToStartTimeout: regionProbeWait,
		StartToCloseTimeout:    probeMaxWait + time.Minute,
		HeartbeatTimeout:       probeHeartbeat,
		WaitForCancellation:    false,
		// The monitor restarts a failed probe itself, with the newest state.
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	known := map[string]schemas.Observation{}
	for _, name := range sortedKeys(m.st.Components) {
		if o := m.st.Components[name]; o.From == region {
			known[o.Name] = o
		}
	}
	for _, key := range sortedKeys(m.st.Views) {
		if o := m.st.Views[key]; o.From == region {
			known[o.Name] = o
		}
	}
	var probe *ha.Probe
	f := workflow.ExecuteActivity(pctx, probe.MonitorRegion, schemas.MonitorProbeInput{
		Cluster: m.topo.Cluster, Region: region, Watch: watch,
		Interval: m.topo.Monitor.Interval(), Threshold: m.topo.Monitor.Threshold(),
		MaxWait: probeMaxWait, Known: known,
	})
	return &regionProbe{future: f, cancel: cancel, watch: watch}
}

func (m *monitor) onProbe(ctx workflow.Context, region string, f workflow.Future) {
	delete(m.probes, region)
	var res schemas.MonitorProbeResult
	if err := f.Get(ctx, &res); err != nil {
		if temporal.IsCanceledError(err) {
			return
		}
		m.logger.Warn("region probe failed", "region", region, "error", err)
		// Nothing is known from the region now.
		for _, name := range sortedKeys(m.st.Components) {
			if o := m.st.Components[name]; o.From == region {
				m.st.Components[name] = policy.Unprobed(o, "no probe from region "+region+": "+err.Error())
			}
		}
		_ = workflow.Sleep(ctx, probeRestartDelay)
		return
	}
	for _, name := range sortedKeys(res.Observations) {
		o := res.Observations[name]
		if o.Region == o.From || o.Region == "" {
			m.st.Components[name] = o
		} else {
			m.st.Views[o.Key()] = o
		}
	}
	// A failed primary seen by more than one region is a second detection:
	// it joins the running failover.
	if m.st.Primary != "" && slices.Contains(res.Changed, m.st.Primary) {
		if policy.JoinsFailover(*m.st, res.Observations[m.st.Primary]) {
			m.detect(ctx, region, true)
		}
	}
	m.st.Updated = workflow.Now(ctx)
}

// judge looks at every component in dependency order and acts: learn the
// primary, start a failover, rejoin a diverged node, nudge Sentinel, alert.
func (m *monitor) judge(ctx workflow.Context) {
	m.st.Problems, m.st.Warnings = nil, nil
	if m.st.Primary == "" {
		m.learnPrimary(ctx)
	}
	primary, havePrimary := m.st.Components[m.st.Primary]
	primaryFailed := havePrimary && primary.State == schemas.StateFailed
	for _, name := range m.st.Order {
		o, ok := m.st.Components[name]
		if !ok {
			continue
		}
		if o.Warning != "" {
			m.st.Warnings = append(m.st.Warnings, name+": "+o.Warning)
		}
		switch {
		case name == m.st.Primary:
			if primaryFailed {
				m.st.Problems = append(m.st.Problems, fmt.Sprintf("primary %s failed: %s", name, o.Error))
			}
		case policy.Degraded(o, primaryFailed):
			o.State = schemas.StateDegraded
			m.st.Components[name] = o
		default:
			m.judgeComponent(ctx, o)
		}
		if o.OverBudget {
			m.st.Problems = append(m.st.Problems, fmt.Sprintf("%s: replication lag %d bytes, %.1fs over budget", name, o.LagBytes, o.LagSeconds))
		}
		if o.Anomaly {
			m.st.Warnings = append(m.st.Warnings, fmt.Sprintf("%s: latency %.1fms against a baseline of %.1fms (p95 %.1fms)", name, o.LatencyMS, o.EWMAMS, o.P95MS))
		}
	}
	if primaryFailed {
		m.maybeFailover(ctx, primary)
	}
	m.judgeRejoins(ctx)
	m.judgeRedis(ctx)
	m.setStatus(ctx)
}

func (m *monitor) judgeComponent(ctx workflow.Context, o schemas.Observation) {
	why, bad := policy.Fault(o)
	if !bad {
		delete(m.st.Alerted, o.Name)
		return
	}
	m.st.Problems = append(m.st.Problems, fmt.Sprintf("%s %s: %s", o.Kind, o.Name, why))
	if policy.Criticality(m.topo, o) == schemas.CriticalityMinor || m.st.Alerted[o.Name] {
		return
	}
	if m.st.Alerted == nil {
		m.st.Alerted = map[string]bool{}
	}
	m.st.Alerted[o.Name] = true
	m.alert(ctx, "component_failed", "warning", fmt.Sprintf("%s %s in %s is %s: %s", o.Kind, o.Name, o.Region, o.State, why))
}

// learnPrimary adopts the routing record, creating it from the node that
// reports itself primary when there is none.
func (m *monitor) learnPrimary(ctx workflow.Context) {
	var found []string
	for _, name := range sortedKeys(m.st.Components) {
		if o := m.st.Components[name]; o.Kind == schemas.KindPostgres && o.Role == schemas.RolePrimary && o.State == schemas.StateHealthy {
			found = append(found, name)
		}
	}
	slices.Sort(found)
	if m.resync(ctx) {
		return
	}
	if len(found) != 1 {
		return // none yet, or two primaries: nothing to route to safely
	}
	var routing *ha.Routing
	gctx := workflow.WithActivityOptions(ctx, shortActivity(schemas.GlobalTaskQueue))
	var init schemas.InitRoutingResult
	if err := workflow.ExecuteActivity(gctx, routing.InitRouting, schemas.InitRoutingInput{Cluster: m.topo.Cluster, Primary: found[0]}).Get(ctx, &init); err != nil {
		m.logger.Warn("create routing record", "error", err)
		return
	}
	m.st.Primary, m.st.Epoch = init.Record.Primary, init.Record.Epoch
}

// resync adopts the routing record, after someone else (a switchover, a
// failover) may have moved the primary. It says whether a record exists.
func (m *monitor) resync(ctx workflow.Context) bool {
	var routing *ha.Routing
	gctx := workflow.WithActivityOptions(ctx, shortActivity(schemas.GlobalTaskQueue))
	var read schemas.ReadRoutingResult
	if err := workflow.ExecuteActivity(gctx, routing.ReadRouting, schemas.ReadRoutingInput{Cluster: m.topo.Cluster}).Get(ctx, &read); err != nil {
		m.logger.Warn("read routing record", "error", err)
		return false
	}
	if read.Found {
		m.setPrimary(ctx, read.Record.Primary, read.Record.Epoch)
	}
	return read.Found
}

// setPrimary records the routing record's primary and epoch. A newer epoch
// (a failover, whoever ran it and however the monitor learns of it) gives
// each node whose rejoin failed, often because it was aimed at the primary
// that was failing, its chance with the new one at once, not after its
// back-off.
func (m *monitor) setPrimary(ctx workflow.Context, primary string, epoch int64) {
	newer := epoch > m.st.Epoch
	m.st.Primary, m.st.Epoch = primary, epoch
	if !newer || len(m.st.RejoinAfter) == 0 ||
		workflow.GetVersion(ctx, "rejoin-after-failover", workflow.DefaultVersion, 1) != 1 {
		return
	}
	now := workflow.Now(ctx)
	for _, name := range m.st.Order {
		if after, ok := m.st.RejoinAfter[name]; ok && after.Sub(now) > policy.RejoinSettle {
			delete(m.st.RejoinAfter, name)
		}
	}
}

func (m *monitor) maybeFailover(ctx workflow.Context, primary schemas.Observation) {
	now := workflow.Now(ctx)
	criticality := policy.Criticality(m.topo, primary)
	switch policy.JudgeFailover(*m.st, criticality, now) {
	case policy.FailoverPaused:
		m.st.Problems = append(m.st.Problems, "automatic failover is paused")
		return
	case policy.FailoverRunning:
		return
	case policy.FailoverNotCritical:
		m.alert(ctx, "primary_failed", "critical", fmt.Sprintf("primary %s failed; its criticality is %s, so no failover", primary.Name, criticality))
		return
	case policy.FailoverBackingOff:
		m.wakeAt(ctx, m.st.RetryAfter)
		return
	}
	m.st.Failover = &schemas.ActiveFailover{
		WorkflowID: schemas.FailoverWorkflowID(m.topo.Cluster, m.st.Epoch),
		Failed:     primary.Name, Epoch: m.st.Epoch, Started: now,
		Deadline: now.Add(time.Duration(m.topo.Targets.RTO)),
	}
	m.armRTO(ctx)
	m.detect(ctx, primary.From, false)
}

// detect signal-with-starts the failover of the current epoch: the first
// detection starts it, later ones (join) only join it, so that one that
// comes after the failover failed does not start it again.
func (m *monitor) detect(ctx workflow.Context, region string, join bool) {
	f := m.st.Failover
	last := m.st.Components[f.Failed]
	in := schemas.StartFailoverInput{
		Failover: schemas.FailoverInput{
			Cluster: m.topo.Cluster, Failed: f.Failed, Epoch: f.Epoch,
			LastPrimaryLSN: last.CurrentLSN, Synchronous: last.Synchronous,
			ConfirmedBy: policy.ConfirmedBy(*m.st, f.Failed),
			Monitor:     workflow.GetInfo(ctx).WorkflowExecution.ID,
			Reason:      fmt.Sprintf("primary %s failed %d checks in a row: %s", f.Failed, last.Failures, last.Error),
		},
		Detected: schemas.FailoverDetected{Region: region, At: workflow.Now(ctx)},
		JoinOnly: join,
	}
	// A local activity: the failover starts without a task queue round trip.
	var control *ha.Control
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: time.Minute, StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, NonRetryableErrorTypes: nonRetryable},
	})
	var started schemas.StartFailoverResult
	if err := workflow.ExecuteLocalActivity(lctx, control.StartFailover, in).Get(ctx, &started); err != nil {
		m.logger.Error("start failover", "workflow_id", f.WorkflowID, "error", err)
	}
}

func (m *monitor) armRTO(ctx workflow.Context) {
	if m.cancelRTO != nil {
		m.cancelRTO()
	}
	tctx, cancel := workflow.WithCancel(ctx)
	m.cancelRTO = cancel
	m.rto = workflow.NewTimer(tctx, max(m.st.Failover.Deadline.Sub(workflow.Now(ctx)), time.Millisecond))
}

// onRTOBreach escalates a failover that has not reported success in time.
func (m *monitor) onRTOBreach(ctx workflow.Context) {
	f := m.st.Failover
	if f == nil || f.Breached {
		return
	}
	f.Breached = true
	summary := fmt.Sprintf("failover %s has not succeeded within the RTO of %s", f.WorkflowID, time.Duration(m.topo.Targets.RTO))
	m.alert(ctx, "rto_breached", "critical", summary)
	m.event(ctx, schemas.HAEvent{Kind: schemas.EventRTOBreach, WorkflowID: f.WorkflowID, From: f.Failed, Epoch: f.Epoch, Outcome: "escalated", Started: f.Started, Detail: summary})
	if m.topo.Failover.DRPromotion && m.topo.Backup.DRRegion != "" && !f.DRPromoted {
		f.DRPromoted = true
		m.promoteInDR(ctx, f)
	}
}

// promoteInDR cancels the stuck failover and starts one restricted to the
// DR region. A Failover adopts a node it already promoted, so a cancelled
// run that got that far is not doubled.
func (m *monitor) promoteInDR(ctx workflow.Context, f *schemas.ActiveFailover) {
	_ = workflow.RequestCancelExternalWorkflow(ctx, f.WorkflowID, "").Get(ctx, nil)
	last := m.st.Components[f.Failed]
	in := schemas.StartFailoverInput{
		Failover: schemas.FailoverInput{
			Cluster: m.topo.Cluster, Failed: f.Failed, Epoch: f.Epoch, LastPrimaryLSN: last.CurrentLSN,
			OnlyRegion: m.topo.Backup.DRRegion, Force: true, Monitor: workflow.GetInfo(ctx).WorkflowExecution.ID,
			Reason: "RTO breached: promoting in the DR region " + m.topo.Backup.DRRegion,
		},
		Detected: schemas.FailoverDetected{Region: m.topo.Backup.DRRegion, At: workflow.Now(ctx)},
	}
	var control *ha.Control
	gctx := workflow.WithActivityOptions(ctx, recoveryActivity(schemas.GlobalTaskQueue))
	var started schemas.StartFailoverResult
	if err := workflow.ExecuteActivity(gctx, control.StartDRFailover, in).Get(ctx, &started); err != nil {
		m.logger.Error("start DR failover", "error", err)
		return
	}
	f.WorkflowID = started.WorkflowID
}

func (m *monitor) onFailoverDone(ctx workflow.Context, d schemas.FailoverDone) {
	f := m.st.Failover
	if f == nil && d.Error == "" && d.Epoch > m.st.Epoch {
		// A failover the monitor did not start (an operator's): adopt it.
		now := workflow.Now(ctx)
		f = &schemas.ActiveFailover{WorkflowID: d.WorkflowID, Failed: m.st.Primary, Started: now}
	}
	if f == nil || (d.WorkflowID != f.WorkflowID && d.Epoch != f.Epoch) {
		return // a stale run's report
	}
	if m.cancelRTO != nil {
		m.cancelRTO()
		m.cancelRTO, m.rto = nil, nil
	}
	m.st.Failover = nil
	now := workflow.Now(ctx)
	if d.Error != "" {
		m.st.RetryAfter = now.Add(policy.FailoverBackoff)
		m.alert(ctx, "failover_failed", "critical", fmt.Sprintf("failover %s failed: %s", d.WorkflowID, d.Error))
		m.resync(ctx)
		return
	}
	m.st.Failures++
	m.setPrimary(ctx, d.Promoted, d.Epoch)
	m.event(ctx, schemas.HAEvent{Kind: schemas.EventFailover, WorkflowID: d.WorkflowID, From: f.Failed, To: d.Promoted,
		Epoch: d.Epoch, Outcome: "succeeded", Started: f.Started, Finished: now, Took: now.Sub(f.Started)})
}

// judgeRejoins starts a Rejoin for every PostgreSQL node that answers but
// does not follow the primary: a former primary back from the dead, or a
// replica on an old timeline.
func (m *monitor) judgeRejoins(ctx workflow.Context) {
	if !policy.CanRejoin(*m.st) {
		return
	}
	primary := m.st.Components[m.st.Primary]
	now := workflow.Now(ctx)
	for _, name := range m.st.Order {
		o, ok := m.st.Components[name]
		if !ok || o.Kind != schemas.KindPostgres || name == m.st.Primary {
			continue
		}
		if m.st.Rejoining[name] != "" {
			// A rejoin started by an earlier run is done once the node streams.
			if _, mine := m.rejoins[name]; !mine && o.Role == schemas.RoleReplica && o.Error == "" {
				delete(m.st.Rejoining, name)
			}
			continue
		}
		node, _ := m.topo.PostgresNode(name)
		v := policy.JudgeRejoin(o, primary, node.DataDir != "", m.st.RejoinAfter[name], now)
		if !v.Start {
			if !v.RecheckAt.IsZero() {
				m.wakeAt(ctx, v.RecheckAt)
			}
			continue
		}
		id := schemas.RejoinWorkflowID(m.topo.Cluster, name)
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID: id,
			TaskQueue:  schemas.GlobalTaskQueue,
			// A rejoin outlives a monitor that continues as new.
			ParentClosePolicy: enums.PARENT_CLOSE_POLICY_ABANDON,
		})
		if m.st.Rejoining == nil {
			m.st.Rejoining = map[string]string{}
		}
		m.st.Rejoining[name] = id
		m.rejoins[name] = workflow.ExecuteChildWorkflow(cctx, schemas.RejoinWorkflow, schemas.RejoinInput{Cluster: m.topo.Cluster, Node: name})
	}
}

func (m *monitor) onRejoined(ctx workflow.Context, node string, f workflow.Future) {
	delete(m.rejoins, node)
	delete(m.st.Rejoining, node)
	var res schemas.RejoinResult
	if m.st.RejoinAfter == nil {
		m.st.RejoinAfter = map[string]time.Time{}
	}
	if err := f.Get(ctx, &res); err != nil {
		m.st.RejoinAfter[node] = workflow.Now(ctx).Add(policy.RejoinBackoff)
		m.alert(ctx, "rejoin_failed", "warning", fmt.Sprintf("%s cannot rejoin the cluster (next try in %s): %v", node, policy.RejoinBackoff, err))
		return
	}
	// The probes need a moment to see the node streaming: judging it on
	// what they said before the rejoin would rejoin it again.
	m.st.RejoinAfter[node] = workflow.Now(ctx).Add(policy.RejoinSettle)
	now := workflow.Now(ctx)
	m.event(ctx, schemas.HAEvent{Kind: schemas.EventRejoin, From: node, To: res.Primary, Epoch: m.st.Epoch,
		Outcome: "succeeded", Started: now, Finished: now, Detail: res.Detail})
}

// judgeRedis follows Sentinel: when the sentinels agree on a new master the
// change is recorded; when the master failed and the sentinels still name
// it after the window, they are asked to fail over.
func (m *monitor) judgeRedis(ctx workflow.Context) {
	if m.topo.Redis == nil {
		return
	}
	masters := policy.SentinelMasters(m.st.Components)
	if len(masters) != 1 {
		if len(masters) > 1 {
			m.st.Problems = append(m.st.Problems, fmt.Sprintf("sentinels disagree on the Redis master: %v", masters))
		}
		return
	}
	master := sortedKeys(masters)[0]
	now := workflow.Now(ctx)
	if master != m.st.RedisMaster {
		if m.st.RedisMaster != "" {
			m.event(ctx, schemas.HAEvent{Kind: schemas.EventRedis, From: m.st.RedisMaster, To: master, Outcome: "succeeded", Started: m.st.RedisMasterSince, Finished: now, Detail: "Sentinel replaced the Redis master"})
		}
		m.st.RedisMaster, m.st.RedisMasterSince = master, now
		m.publishRedis(ctx, master)
	}
	for _, name := range sortedKeys(m.st.Components) {
		o := m.st.Components[name]
		if o.Kind != schemas.KindRedis || o.State != schemas.StateFailed || !m.redisNodeIs(o.Name, master) {
			continue
		}
		due := o.Since.Add(m.topo.Failover.SentinelWindowOrDefault())
		if now.Before(due) {
			m.wakeAt(ctx, due)
			return
		}
		key := "sentinel-failover:" + master
		if m.st.Alerted[key] {
			return
		}
		if m.st.Alerted == nil {
			m.st.Alerted = map[string]bool{}
		}
		m.st.Alerted[key] = true
		var routing *ha.Routing
		gctx := workflow.WithActivityOptions(ctx, recoveryActivity(schemas.GlobalTaskQueue))
		var res schemas.SentinelFailoverResult
		err := workflow.ExecuteActivity(gctx, routing.SentinelFailover, schemas.SentinelFailoverInput{Cluster: m.topo.Cluster}).Get(ctx, &res)
		detail := fmt.Sprintf("Redis master %s failed and Sentinel had not acted within %s: asked %s to fail over", o.Name, m.topo.Failover.SentinelWindowOrDefault(), res.Sentinel)
		if err != nil {
			detail = fmt.Sprintf("Redis master %s failed and no sentinel accepted a failover: %v", o.Name, err)
		}
		m.alert(ctx, "redis_master_failed", "critical", detail)
		return
	}
}

func (m *monitor) redisNodeIs(name, addr string) bool {
	for _, r := range m.topo.Regions {
		for _, n := range r.Redis {
			if n.Name == name {
				return n.Addr == addr
			}
		}
	}
	return false
}

func (m *monitor) publishRedis(ctx workflow.Context, master string) {
	var routing *ha.Routing
	gctx := workflow.WithActivityOptions(ctx, recoveryActivity(schemas.GlobalTaskQueue))
	if err := workflow.ExecuteActivity(gctx, routing.PublishRedisMaster, schemas.PublishRedisMasterInput{Cluster: m.topo.Cluster, Master: master}).Get(ctx, nil); err != nil {
		m.logger.Warn("publish redis master", "error", err)
	}
}

// recoveryActivity is shortActivity for the monitor's recovery actions
// (a DR failover, a Sentinel failover, the Redis routing): one lost with
// its worker is tried again within seconds, not minutes.
func recoveryActivity(queue string) workflow.ActivityOptions {
	o := shortActivity(queue)
	o.HeartbeatTimeout = haHeartbeat
	return o
}

// wakeAt makes the monitor judge again at t, or sooner. From version 1 on,
// a wake-up sooner than the pending one replaces it: the first asked for
// may be far off (a failed rejoin's 10-minute back-off) and a later one
// near (a stray replica's 10 s grace), which waited for the far one before.
func (m *monitor) wakeAt(ctx workflow.Context, t time.Time) {
	if m.wake != nil {
		if !t.Before(m.wakeBy) ||
			workflow.GetVersion(ctx, "monitor-earliest-wake", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			return
		}
		m.stopWake()
	}
	now := workflow.Now(ctx)
	d := max(t.Sub(now), time.Second)
	wctx, cancel := workflow.WithCancel(ctx)
	m.wake, m.wakeBy, m.stopWake = workflow.NewTimer(wctx, d), now.Add(d), cancel
}

func (m *monitor) onPause(req schemas.PauseRequest, on bool) {
	owner := req.Owner
	if owner == "" {
		owner = schemas.OwnerOperator
	}
	if on {
		if m.st.PausedBy == nil {
			m.st.PausedBy = map[string]string{}
		}
		m.st.PausedBy[owner] = req.Reason
	} else {
		delete(m.st.PausedBy, owner)
	}
	m.st.Paused = len(m.st.PausedBy) > 0
}

func (m *monitor) setStatus(ctx workflow.Context) {
	status := policy.ClusterStatus(*m.st)
	m.st.Status = status
	if status == m.attr {
		return
	}
	m.attr = status
	if err := workflow.UpsertTypedSearchAttributes(ctx, clusterAttr.ValueSet(m.topo.Cluster), kindAttr.ValueSet("monitor"), stateAttr.ValueSet(status)); err != nil {
		m.logger.Warn("set search attributes", "error", err)
	}
}

func (m *monitor) alert(ctx workflow.Context, kind, severity, summary string) {
	var routing *ha.Routing
	gctx := workflow.WithActivityOptions(ctx, shortActivity(schemas.GlobalTaskQueue))
	var res schemas.AlertResult
	if err := workflow.ExecuteActivity(gctx, routing.Alert, schemas.AlertInput{Cluster: m.topo.Cluster, Kind: kind, Severity: severity, Summary: summary}).Get(ctx, &res); err != nil {
		m.logger.Error("alert not delivered", "kind", kind, "summary", summary, "error", err)
	}
}

// event keeps an HA event in the monitor's state (for `lifeboat history`)
// and in the routing store's history.
func (m *monitor) event(ctx workflow.Context, e schemas.HAEvent) {
	e.Cluster = m.topo.Cluster
	m.keep(e)
	var routing *ha.Routing
	gctx := workflow.WithActivityOptions(ctx, shortActivity(schemas.GlobalTaskQueue))
	if err := workflow.ExecuteActivity(gctx, routing.RecordEvent, schemas.RecordEventInput{Event: e}).Get(ctx, nil); err != nil {
		m.logger.Warn("record event", "kind", e.Kind, "error", err)
	}
}

// keep adds an event to the monitor's history, keeping the newest.
func (m *monitor) keep(e schemas.HAEvent) {
	m.st.Events = append(m.st.Events, e)
	if len(m.st.Events) > maxEvents {
		m.st.Events = m.st.Events[len(m.st.Events)-maxEvents:]
	}
}

func (m *monitor) shouldContinue(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	limit := m.in.ContinueAfter
	if limit <= 0 {
		limit = defaultContinueAfter
	}
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() >= limit
}

// continueAsNew hands the state to a fresh run: running probes are
// cancelled (the next run restarts them from the state), and signals that
// arrived meanwhile are applied first so none is lost.
func (m *monitor) continueAsNew(ctx workflow.Context, pause, resume, done workflow.ReceiveChannel) error {
	for _, region := range sortedKeys(m.probes) {
		m.probes[region].cancel()
	}
	for {
		var req schemas.PauseRequest
		var d schemas.FailoverDone
		switch {
		case pause.ReceiveAsync(&req):
			m.onPause(req, true)
		case resume.ReceiveAsync(&req):
			m.onPause(req, false)
		case done.ReceiveAsync(&d):
			m.onFailoverDone(ctx, d)
		default:
			m.logger.Info("continuing as new", "history_length", workflow.GetInfo(ctx).GetCurrentHistoryLength())
			return workflow.NewContinueAsNewError(ctx, schemas.HealthMonitorWorkflow, schemas.MonitorInput{
				Cluster: m.topo.Cluster, State: m.st, ContinueAfter: m.in.ContinueAfter,
			})
		}
	}
}

// sortedKeys returns a map's keys in order: workflow code must not depend on
// Go's random map order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m)) //workflowcheck:ignore
}
