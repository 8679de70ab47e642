package activities

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the worker's own Prometheus series, beside the SDK's.
type Metrics struct {
	ProbeLatency *prometheus.HistogramVec
	NodeUp       *prometheus.GaugeVec
	LagBytes     *prometheus.GaugeVec

	// Operations: the series of the alert rules and the dashboard in
	// deployments/, made by addOperations. LagSeconds, WALArchiveLag and
	// WALArchivePending come from the probe, RestoreThroughput from
	// RestoreBase, the targets from the topology (SetTargets).
	LagSeconds        *prometheus.GaugeVec
	WALArchiveLag     *prometheus.GaugeVec
	WALArchivePending *prometheus.GaugeVec
	RestoreThroughput *prometheus.GaugeVec
	TargetRTO         *prometheus.GaugeVec
	TargetRPO         *prometheus.GaugeVec
	TargetMaxLag      *prometheus.GaugeVec
	// ComponentState and MonitorLastRound are the health monitor's: its
	// probe calls ObserveMonitorRound at the end of every round, and the
	// alert LifeboatMonitorNotRunning fires when the timestamp goes stale.
	ComponentState   *prometheus.GaugeVec
	MonitorLastRound *prometheus.GaugeVec
	// Drills, DrillRTO and DrillRPO are set by the drill's report step
	// through ObserveDrill.
	Drills   *prometheus.CounterVec
	DrillRTO *prometheus.GaugeVec
	DrillRPO *prometheus.GaugeVec
	// Alerts counts Routing.Alert calls.
	Alerts *prometheus.CounterVec
	// HAEvents and HAEventSeconds count failovers, switchovers and rejoins
	// as they are recorded in a cluster's history, and their durations.
	HAEvents       *prometheus.CounterVec
	HAEventSeconds *prometheus.HistogramVec
	// GuardFences counts the node guard's fences; GuardRenewals its lease
	// renewals.
	GuardFences   *prometheus.CounterVec
	GuardRenewals *prometheus.CounterVec
}

// NewMetrics creates the series and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		ProbeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lifeboat_probe_latency_seconds",
			Help:    "Time one health probe of a node took, by node kind.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"cluster", "kind"}),
		NodeUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lifeboat_node_up",
			Help: "1 when the last probe found the node healthy, 0 otherwise.",
		}, []string{"cluster", "region", "node", "kind"}),
		LagBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lifeboat_replication_lag_bytes",
			Help: "Bytes of WAL a PostgreSQL standby has yet to replay, as its primary sees it.",
		}, []string{"cluster", "node"}),
	}
	m.Alerts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lifeboat_alerts_total",
		Help: "Alerts raised, by kind and severity.",
	}, []string{"cluster", "kind", "severity"})
	m.HAEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lifeboat_ha_events_total",
		Help: "Failovers, switchovers and rejoins recorded in the history, by outcome.",
	}, []string{"cluster", "kind", "outcome"})
	m.HAEventSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "lifeboat_ha_event_seconds",
		Help:    "Duration of recorded failovers, switchovers and rejoins.",
		Buckets: prometheus.ExponentialBuckets(0.5, 2, 12),
	}, []string{"cluster", "kind"})
	m.GuardFences = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lifeboat_guard_fences_total",
		Help: "Times the node guard fenced its local PostgreSQL node, by reason.",
	}, []string{"cluster", "node", "reason"})
	m.GuardRenewals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lifeboat_guard_lease_renewals_total",
		Help: "Lease renewals of the node guard while its node is the published primary.",
	}, []string{"cluster", "node"})
	reg.MustRegister(m.ProbeLatency, m.NodeUp, m.LagBytes)
	m.addOperations(reg)
	reg.MustRegister(m.Alerts, m.HAEvents, m.HAEventSeconds, m.GuardFences, m.GuardRenewals)
	return m
}
