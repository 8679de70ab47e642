package ha

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/policy"
	"github.com/runnerhub/lifeboat/schemas"
)

// MonitorRegion is the HealthMonitor's long-lived probe of one region. It
// checks every node of the region, and the watched nodes of other regions,
// once per interval, heartbeating each round, and returns only when a
// judgement differs from what the monitor knows, or after MaxWait. An idle
// cluster therefore costs the workflow a few events an hour, not one per
// check.
func (p *Probe) MonitorRegion(ctx context.Context, in schemas.MonitorProbeInput) (schemas.MonitorProbeResult, error) {
	region, err := p.checkMonitorInput(in)
	if err != nil {
		return schemas.MonitorProbeResult{}, err
	}
	var extra []schemas.PostgresNode
	for _, name := range in.Watch {
		n, ok := p.Topology.PostgresNode(name)
		if !ok {
			return schemas.MonitorProbeResult{}, activities.InvalidInput("watch", fmt.Sprintf("%q is not a PostgreSQL node of the topology", name))
		}
		if r, _ := p.Topology.NodeRegion(name); r != in.Region {
			extra = append(extra, n)
		}
	}
	checks := p.regionChecks(region, extra)
	cfg := policy.TrackConfig{
		Threshold:   in.Threshold,
		MaxLagBytes: p.Topology.Targets.MaxLag(),
		RPO:         time.Duration(p.Topology.Targets.RPO),
		Timeout:     min(in.Interval, nodeTimeout),
		Horizon:     schemas.PredictionHorizon,
	}
	trackers := map[string]*policy.Tracker{}
	for name, o := range in.Known {
		trackers[name] = policy.NewTracker(o)
	}

	deadline := time.Now().Add(in.MaxWait)
	tick := time.NewTicker(in.Interval)
	defer tick.Stop()
	// A probe that restarts after reporting checks again one interval
	// after the last check it reported started, so the threshold still
	// counts checks an interval apart, and a node whose checks hang for
	// the whole interval is checked back to back.
	wait := time.Until(lastChecked(in.Known).Add(in.Interval))
	beat := heartbeat{probe: p}
	for round := 1; ; round++ {
		if round > 1 {
			select {
			case <-ctx.Done():
				return schemas.MonitorProbeResult{}, ctx.Err()
			case <-tick.C:
			}
		} else if wait > 0 {
			select {
			case <-ctx.Done():
				return schemas.MonitorProbeResult{}, ctx.Err()
			case <-time.After(wait):
			}
			tick.Reset(in.Interval)
		}
		now := time.Now()
		res := schemas.MonitorProbeResult{Region: in.Region, Observations: map[string]schemas.Observation{}, Checks: round}
		nodes := p.checkNodes(ctx, in.Region, checks, cfg.Timeout)
		fillStandbyLag(nodes)
		beat.beat(ctx, region, nodes, now)
		for i := range nodes {
			if nodes[i].Kind == schemas.KindStore {
				nodes[i].Name = schemas.StoreComponent(in.Region)
			}
		}
		for _, h := range nodes {
			t := trackers[h.Name]
			if t == nil {
				t = policy.NewTracker(schemas.Observation{})
				trackers[h.Name] = t
			}
			o := t.Update(h, in.Region, now, cfg)
			res.Observations[h.Name] = o
			known, ok := in.Known[h.Name]
			if !ok || policy.Changed(known, o) {
				res.Changed = append(res.Changed, h.Name)
			}
		}
		slices.Sort(res.Changed)
		states := make(map[string]string, len(res.Observations))
		for name, o := range res.Observations {
			states[name] = o.State
		}
		p.Metrics.ObserveMonitorRound(in.Cluster, in.Region, states, now)
		activity.RecordHeartbeat(ctx, res.Checks)
		if len(res.Changed) > 0 || !time.Now().Before(deadline) {
			return res, nil
		}
	}
}

func (p *Probe) checkMonitorInput(in schemas.MonitorProbeInput) (schemas.Region, error) {
	if in.Cluster != p.Topology.Cluster {
		return schemas.Region{}, activities.UnknownCluster(in.Cluster, p.Topology.Cluster)
	}
	if in.Region != p.Region {
		return schemas.Region{}, activities.InvalidInput("region",
			fmt.Sprintf("%q was sent to the worker of region %q; check the task queue", in.Region, p.Region))
	}
	region, ok := p.Topology.Region(in.Region)
	if !ok {
		return schemas.Region{}, activities.InvalidInput("region", fmt.Sprintf("%q is not in the topology", in.Region))
	}
	switch {
	case in.Interval < schemas.MinProbeInterval:
		return schemas.Region{}, activities.InvalidInput("interval", "must be at least "+schemas.MinProbeInterval.String())
	case in.Threshold < 1:
		return schemas.Region{}, activities.InvalidInput("threshold", "must be at least 1")
	case in.MaxWait < in.Interval:
		return schemas.Region{}, activities.InvalidInput("max_wait", "must be at least the interval")
	}
	return region, nil
}

// fillStandbyLag gives each replica the lag in bytes its primary reports
// for it: only the primary knows how far ahead it is.
func fillStandbyLag(nodes []schemas.NodeHealth) {
	lag := map[string]int64{}
	for _, h := range nodes {
		if h.Role == schemas.RolePrimary {
			for _, s := range h.Standbys {
				lag[s.ApplicationName] = s.ReplayLagBytes
			}
		}
	}
	for i, h := range nodes {
		if b, ok := lag[h.Name]; ok && h.Role == schemas.RoleReplica {
			nodes[i].LagBytes = &b
		}
	}
}

// lastChecked is when the newest of the known judgements' checks started.
func lastChecked(known map[string]schemas.Observation) time.Time {
	var last time.Time
	for _, o := range known {
		if o.Checked.After(last) {
			last = o.Checked
		}
	}
	return last
}
