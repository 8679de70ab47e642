package activities

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the worker's own Prometheus series, beside the SDK's.
type Metrics struct {
	ProbeLatency *prometheus.HistogramVec
	NodeUp       *prometheus.GaugeVec
	LagBytes     *prometheus.GaugeVec
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
	reg.MustRegister(m.ProbeLatency, m.NodeUp, m.LagBytes)
	return m
}
