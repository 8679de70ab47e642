package activities

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/runnerhub/lifeboat/internal/promtest"
	"github.com/runnerhub/lifeboat/schemas"
)

func TestMetrics_TargetsMonitorRoundAndDrill(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	m.SetTargets(&schemas.Topology{Cluster: "dev", Targets: schemas.Targets{RTO: schemas.Duration(2 * time.Minute), RPO: schemas.Duration(30 * time.Second)}})
	m.ObserveMonitorRound("dev", "region-a", map[string]string{"pg-a1": schemas.StateSuspect}, time.Unix(1700000000, 0))
	m.ObserveDrill("dev", false, 90*time.Second, 12*time.Second)
	got := promtest.Gather(t, promtest.Multi{m.TargetRTO, m.TargetRPO, m.TargetMaxLag, m.ComponentState, m.MonitorLastRound, m.Drills, m.DrillRTO, m.DrillRPO, m.HAEvents})
	for k, v := range map[string]float64{
		"lifeboat_target_rto_seconds{cluster=dev}":                                   120,
		"lifeboat_target_rpo_seconds{cluster=dev}":                                   30,
		"lifeboat_target_max_lag_bytes{cluster=dev}":                                 float64(schemas.DefaultMaxLagBytes),
		"lifeboat_component_state{cluster=dev,component=pg-a1,state=suspect}":        1,
		"lifeboat_component_state{cluster=dev,component=pg-a1,state=healthy}":        0,
		"lifeboat_monitor_last_round_timestamp_seconds{cluster=dev,region=region-a}": 1700000000,
		"lifeboat_drills_total{cluster=dev,result=failed}":                           1,
		"lifeboat_drills_total{cluster=dev,result=passed}":                           0,
		"lifeboat_drill_rto_seconds{cluster=dev}":                                    90,
		"lifeboat_drill_rpo_seconds{cluster=dev}":                                    12,
		"lifeboat_ha_events_total{cluster=dev,kind=rto_breach,outcome=escalated}":    0,
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if n := len(ComponentStates); got["lifeboat_component_state{cluster=dev,component=pg-a1,state=failed}"] != 0 || n < 4 {
		t.Errorf("states: %v", ComponentStates)
	}
	var nilM *Metrics // activities without metrics call these too
	nilM.ObserveDrill("dev", true, 0, 0)
	nilM.ObserveMonitorRound("dev", "r", nil, time.Now())
	nilM.SetTargets(&schemas.Topology{})
}
