package policy

import (
	"maps"
	"slices"

	"github.com/runnerhub/lifeboat/schemas"
)

// CircuitOf maps a component state to its circuit.
func CircuitOf(state string) string {
	switch state {
	case schemas.StateFailed, schemas.StateUnknown:
		return schemas.CircuitOpen
	case schemas.StateRecovering:
		return schemas.CircuitHalfOpen
	}
	return schemas.CircuitClosed
}

// JudgeOrder is the order a monitor judges components in: a component
// after what it depends on (replicas after the primary, Redis replicas
// after the master, the stores last), so a dependent's failure is not
// blamed on it.
func JudgeOrder(topo schemas.Topology) []string {
	var pg, redis, sentinels []string
	for _, r := range topo.Regions {
		for _, n := range r.Postgres {
			pg = append(pg, n.Name)
		}
		for _, n := range r.Redis {
			redis = append(redis, n.Name)
		}
		for _, n := range r.Sentinels {
			sentinels = append(sentinels, n.Name)
		}
	}
	order := append(pg, redis...)
	order = append(order, sentinels...)
	for _, r := range topo.RegionNames() {
		order = append(order, schemas.StoreComponent(r))
	}
	return order
}

// WatchFor lists the nodes of other regions that region's probe checks
// besides its own: the primary, so that its failure is confirmed from a
// second region.
func WatchFor(topo schemas.Topology, primary, region string) []string {
	if primary == "" {
		return nil
	}
	if r, _ := topo.NodeRegion(primary); r == region {
		return nil
	}
	return []string{primary}
}

// Unprobed is a component's judgement once the probe of the region that
// judges it is lost, for why: unknown, which opens its circuit but does not
// fail it. A failed component stays failed.
func Unprobed(o schemas.Observation, why string) schemas.Observation {
	if o.State != schemas.StateFailed {
		o.State, o.Error = schemas.StateUnknown, why
	}
	return o
}

// Criticality is how much a component's failure matters: what the topology
// gives it, else critical for PostgreSQL, major for Redis and the store,
// minor for sentinels.
func Criticality(topo schemas.Topology, o schemas.Observation) string {
	if c := topo.NodeCriticality(o.Name); c != "" {
		return c
	}
	switch o.Kind {
	case schemas.KindPostgres:
		return schemas.CriticalityCritical
	case schemas.KindSentinel:
		return schemas.CriticalityMinor
	}
	return schemas.CriticalityMajor
}

// Fault says whether a component other than the primary is a problem, and
// why: it failed, or it is a PostgreSQL node that answers but reports an
// error (a replica that does not stream). A suspect component is not a
// problem until it reaches the threshold.
func Fault(o schemas.Observation) (why string, bad bool) {
	bad = o.State == schemas.StateFailed || (o.Kind == schemas.KindPostgres && o.Error != "" && o.State == schemas.StateHealthy)
	if !bad {
		return "", false
	}
	if o.Error != "" {
		return o.Error, true
	}
	return o.State, true
}

// Degraded says whether a PostgreSQL node is degraded rather than at
// fault: its own checks pass, and the error it reports is the loss of the
// failed primary it streams from.
func Degraded(o schemas.Observation, primaryFailed bool) bool {
	return primaryFailed && o.Kind == schemas.KindPostgres && o.Error != "" && o.State != schemas.StateFailed
}

// SentinelMasters counts, by address, the Redis masters that healthy
// sentinels name: one key means they agree.
func SentinelMasters(components map[string]schemas.Observation) map[string]int {
	masters := map[string]int{}
	for _, name := range sortedKeys(components) {
		if o := components[name]; o.Kind == schemas.KindSentinel && o.State == schemas.StateHealthy && o.SentinelMaster != "" {
			masters[o.SentinelMaster]++
		}
	}
	return masters
}

// ClusterStatus is the status a monitor in state st reports: paused, an
// RTO breached, failing over, starting, without a primary, degraded while
// it sees problems, else healthy; the first that holds.
func ClusterStatus(st schemas.MonitorState) string {
	switch {
	case st.Paused:
		return schemas.ClusterPaused
	case st.Failover != nil && st.Failover.Breached:
		return schemas.ClusterRTOBreached
	case st.Failover != nil:
		return schemas.ClusterFailingOver
	case st.Primary == "" && len(st.Components) == 0:
		return schemas.ClusterStarting
	case st.Primary == "":
		return schemas.ClusterNoPrimary
	case len(st.Problems) > 0:
		return schemas.ClusterDegraded
	}
	return schemas.ClusterHealthy
}

// sortedKeys returns a map's keys in order: rules called from workflows
// must not depend on Go's random map order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m)) //workflowcheck:ignore (sorted)
}
