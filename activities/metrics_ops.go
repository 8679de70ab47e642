package activities

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/runnerhub/lifeboat/schemas"
)

// Outcomes of a drill, the result label of lifeboat_drills_total.
const (
	DrillPassed = "passed"
	DrillFailed = "failed"
)

// ComponentStates are the values of the state label of
// lifeboat_component_state, the monitor's judgements of a component.
var ComponentStates = []string{
	schemas.StateHealthy, schemas.StateSuspect, schemas.StateFailed, schemas.StateRecovering,
	schemas.StateDegraded, schemas.StateUnknown,
}

// addOperations creates the series operators alert on beside the probe's
// (deployments/prometheus/alerts.yaml, deployments/grafana/lifeboat.json)
// and registers them with reg. Failovers, switchovers and RTO breaches are
// counted as HA events (lifeboat_ha_events_total, lifeboat_ha_event_seconds).
func (m *Metrics) addOperations(reg prometheus.Registerer) {
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	m.LagSeconds = gauge("lifeboat_replication_lag_seconds",
		"Age of the last transaction a PostgreSQL standby replayed while it has WAL left to replay (0 when caught up), as the standby sees it.",
		"cluster", "node")
	m.WALArchiveLag = gauge("lifeboat_wal_archive_lag_seconds",
		"How long the oldest finished WAL segment of a primary has waited for archive_command (0 when none waits): the archive's recovery point.",
		"cluster", "node")
	m.WALArchivePending = gauge("lifeboat_wal_archive_pending_segments",
		"Finished WAL segments of a primary not archived yet.",
		"cluster", "node")
	m.ComponentState = gauge("lifeboat_component_state",
		"1 for the monitor's current judgement of a component (healthy, suspect, failed, recovering, degraded, unknown), 0 for the others.",
		"cluster", "component", "state")
	m.MonitorLastRound = gauge("lifeboat_monitor_last_round_timestamp_seconds",
		"Unix time the health monitor's probe of a region last finished a round of checks.",
		"cluster", "region")
	m.Drills = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lifeboat_drills_total",
		Help: "Disaster-recovery drills finished, by result (passed or failed against the cluster's RTO and RPO)."},
		[]string{"cluster", "result"})
	m.DrillRTO = gauge("lifeboat_drill_rto_seconds",
		"Recovery time the newest drill achieved: from its start to a verified, usable restore.",
		"cluster")
	m.DrillRPO = gauge("lifeboat_drill_rpo_seconds",
		"Recovery point the newest drill achieved: the age of the newest commit it recovered.",
		"cluster")
	m.RestoreThroughput = gauge("lifeboat_restore_throughput_bytes_per_second",
		"Plain bytes of the newest base restore this worker ran over its duration (download, decrypt, decompress, unpack, verify).",
		"cluster")
	m.TargetRTO = gauge("lifeboat_target_rto_seconds",
		"The cluster's recovery time objective (targets.rto of the topology).",
		"cluster")
	m.TargetRPO = gauge("lifeboat_target_rpo_seconds",
		"The cluster's recovery point objective (targets.rpo of the topology).",
		"cluster")
	m.TargetMaxLag = gauge("lifeboat_target_max_lag_bytes",
		"Replication lag beyond which a replica is not promoted without force (targets.max_lag_bytes, by default 16 MiB).",
		"cluster")
	reg.MustRegister(m.LagSeconds, m.WALArchiveLag, m.WALArchivePending, m.ComponentState, m.MonitorLastRound,
		m.Drills, m.DrillRTO, m.DrillRPO, m.RestoreThroughput, m.TargetRTO, m.TargetRPO, m.TargetMaxLag)
}

// SetTargets publishes the topology's objectives, which alerts compare
// lags against, and starts the counters of its cluster at zero so that
// rate() and increase() see their first event.
func (m *Metrics) SetTargets(topo *schemas.Topology) {
	if m == nil {
		return
	}
	c := topo.Cluster
	m.TargetRTO.WithLabelValues(c).Set(time.Duration(topo.Targets.RTO).Seconds())
	m.TargetRPO.WithLabelValues(c).Set(time.Duration(topo.Targets.RPO).Seconds())
	if lag := topo.Targets.MaxLag(); lag > 0 {
		m.TargetMaxLag.WithLabelValues(c).Set(float64(lag))
	}
	for _, r := range []string{DrillPassed, DrillFailed} {
		m.Drills.WithLabelValues(c, r)
	}
	// The HA events the alert rules count with increase(), from zero.
	m.HAEvents.WithLabelValues(c, schemas.EventFailover, "succeeded")
	m.HAEvents.WithLabelValues(c, schemas.EventFailover, "failed")
	m.HAEvents.WithLabelValues(c, schemas.EventRTOBreach, "escalated")
}

// ObserveMonitorRound records a round of the health monitor's probe of a
// region: the state of each component it judged (by component name) and
// the time the round ended.
func (m *Metrics) ObserveMonitorRound(cluster, region string, states map[string]string, at time.Time) {
	if m == nil {
		return
	}
	for component, state := range states {
		for _, s := range ComponentStates {
			v := 0.0
			if s == state {
				v = 1
			}
			m.ComponentState.WithLabelValues(cluster, component, s).Set(v)
		}
	}
	m.MonitorLastRound.WithLabelValues(cluster, region).Set(float64(at.UnixMilli()) / 1000)
}

// ObserveDrill records a finished drill and what it achieved.
func (m *Metrics) ObserveDrill(cluster string, passed bool, rto, rpo time.Duration) {
	if m == nil {
		return
	}
	result := DrillFailed
	if passed {
		result = DrillPassed
	}
	m.Drills.WithLabelValues(cluster, result).Inc()
	m.DrillRTO.WithLabelValues(cluster).Set(rto.Seconds())
	m.DrillRPO.WithLabelValues(cluster).Set(rpo.Seconds())
}

// ObserveRestore records a finished base restore of plain bytes.
func (m *Metrics) ObserveRestore(cluster string, plain int64, took time.Duration) {
	if m == nil || took <= 0 {
		return
	}
	m.RestoreThroughput.WithLabelValues(cluster).Set(float64(plain) / took.Seconds())
}

// ObserveNodeLag records a probed node's replication lag and, on a
// primary, its WAL archive backlog; a series whose node changed role is
// removed rather than left at its last value.
func (m *Metrics) ObserveNodeLag(cluster string, h schemas.NodeHealth) {
	if m == nil {
		return
	}
	if h.LagSeconds != nil {
		m.LagSeconds.WithLabelValues(cluster, h.Name).Set(*h.LagSeconds)
	} else {
		m.LagSeconds.DeleteLabelValues(cluster, h.Name)
	}
	if a := h.WALArchive; a != nil && a.Error == "" {
		m.WALArchiveLag.WithLabelValues(cluster, h.Name).Set(a.OldestSeconds)
		m.WALArchivePending.WithLabelValues(cluster, h.Name).Set(float64(a.Pending))
	} else {
		m.WALArchiveLag.DeleteLabelValues(cluster, h.Name)
		m.WALArchivePending.DeleteLabelValues(cluster, h.Name)
	}
}
