package policy

import (
	"slices"
	"testing"

	"github.com/runnerhub/lifeboat/schemas"
)

// monitorTopology is candidateTopology with Redis and a sentinel in
// region a, a sentinel in region b, and two criticalities of its own.
func monitorTopology() schemas.Topology {
	topo := candidateTopology()
	a, b := &topo.Regions[0], &topo.Regions[1]
	a.Postgres[1].Criticality = schemas.CriticalityMinor
	a.Redis = []schemas.RedisNode{{Name: "ra1"}}
	a.Sentinels = []schemas.SentinelNode{{Name: "sa1"}}
	b.Sentinels = []schemas.SentinelNode{{Name: "sb1", Criticality: schemas.CriticalityMajor}}
	return topo
}

func TestCircuitOf(t *testing.T) {
	for _, tt := range []struct{ state, want string }{
		{schemas.StateHealthy, schemas.CircuitClosed},
		{schemas.StateSuspect, schemas.CircuitClosed},
		{schemas.StateDegraded, schemas.CircuitClosed},
		{schemas.StateFailed, schemas.CircuitOpen},
		{schemas.StateUnknown, schemas.CircuitOpen},
		{schemas.StateRecovering, schemas.CircuitHalfOpen},
	} {
		if got := CircuitOf(tt.state); got != tt.want {
			t.Errorf("CircuitOf(%s) = %s, want %s", tt.state, got, tt.want)
		}
	}
}

func TestJudgeOrder_DependentsAfterWhatTheyDependOn(t *testing.T) {
	got := JudgeOrder(monitorTopology())
	want := []string{"a1", "a2", "a3", "b1", "b2", "ra1", "sa1", "sb1", "backup-store/a", "backup-store/b"}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestWatchFor_ThePrimaryFromEveryOtherRegion(t *testing.T) {
	topo := monitorTopology()
	tests := []struct {
		name            string
		primary, region string
		want            []string
	}{
		{"no primary, nothing to watch", "", "b", nil},
		{"the primary's own region checks it anyway", "a1", "a", nil},
		{"another region watches the primary", "a1", "b", []string{"a1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WatchFor(topo, tt.primary, tt.region); !slices.Equal(got, tt.want) {
				t.Errorf("watch %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUnprobed_UnknownButNeverLessThanFailed(t *testing.T) {
	tests := []struct {
		state     string
		wantState string
		wantError string
	}{
		{schemas.StateHealthy, schemas.StateUnknown, "no probe"},
		{schemas.StateSuspect, schemas.StateUnknown, "no probe"},
		{schemas.StateRecovering, schemas.StateUnknown, "no probe"},
		{schemas.StateFailed, schemas.StateFailed, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			got := Unprobed(schemas.Observation{Name: "a1", State: tt.state, Error: "connection refused"}, "no probe")
			if got.State != tt.wantState || got.Error != tt.wantError {
				t.Errorf("%s (%q), want %s (%q)", got.State, got.Error, tt.wantState, tt.wantError)
			}
		})
	}
}

func TestCriticality_TheTopologysElseByKind(t *testing.T) {
	topo := monitorTopology()
	tests := []struct {
		name string
		o    schemas.Observation
		want string
	}{
		{"PostgreSQL is critical", schemas.Observation{Name: "a1", Kind: schemas.KindPostgres}, schemas.CriticalityCritical},
		{"Redis is major", schemas.Observation{Name: "ra1", Kind: schemas.KindRedis}, schemas.CriticalityMajor},
		{"the store is major", schemas.Observation{Name: "backup-store/a", Kind: schemas.KindStore}, schemas.CriticalityMajor},
		{"a sentinel is minor", schemas.Observation{Name: "sa1", Kind: schemas.KindSentinel}, schemas.CriticalityMinor},
		{"the topology lowers a node", schemas.Observation{Name: "a2", Kind: schemas.KindPostgres}, schemas.CriticalityMinor},
		{"the topology raises a node", schemas.Observation{Name: "sb1", Kind: schemas.KindSentinel}, schemas.CriticalityMajor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Criticality(topo, tt.o); got != tt.want {
				t.Errorf("criticality %s, want %s", got, tt.want)
			}
		})
	}
}

func TestFault_FailedOrAnErrorDespiteAnswering(t *testing.T) {
	tests := []struct {
		name    string
		o       schemas.Observation
		wantWhy string
		wantBad bool
	}{
		{"healthy", schemas.Observation{Kind: schemas.KindPostgres, State: schemas.StateHealthy}, "", false},
		{"suspect is not yet news", schemas.Observation{Kind: schemas.KindPostgres, State: schemas.StateSuspect, Error: "timeout"}, "", false},
		{"failed says its error", schemas.Observation{Kind: schemas.KindRedis, State: schemas.StateFailed, Error: "connection refused"}, "connection refused", true},
		{"failed without an error says its state", schemas.Observation{Kind: schemas.KindStore, State: schemas.StateFailed}, schemas.StateFailed, true},
		{"a replica answering but not streaming", schemas.Observation{Kind: schemas.KindPostgres, State: schemas.StateHealthy, Error: "not streaming"}, "not streaming", true},
		{"Redis answering with an error is not", schemas.Observation{Kind: schemas.KindRedis, State: schemas.StateHealthy, Error: "loading"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			why, bad := Fault(tt.o)
			if why != tt.wantWhy || bad != tt.wantBad {
				t.Errorf("Fault = %q, %v; want %q, %v", why, bad, tt.wantWhy, tt.wantBad)
			}
		})
	}
}

func TestDegraded_OnlyByAFailedPrimary(t *testing.T) {
	streamless := schemas.Observation{Kind: schemas.KindPostgres, State: schemas.StateHealthy, Error: "not streaming"}
	failed := streamless
	failed.State = schemas.StateFailed
	redis := streamless
	redis.Kind = schemas.KindRedis
	tests := []struct {
		name          string
		o             schemas.Observation
		primaryFailed bool
		want          bool
	}{
		{"a replica that lost its failed primary", streamless, true, true},
		{"a replica not streaming from a live primary is at fault", streamless, false, false},
		{"a replica without an error", schemas.Observation{Kind: schemas.KindPostgres, State: schemas.StateHealthy}, true, false},
		{"a failed replica is failed", failed, true, false},
		{"Redis does not stream from the primary", redis, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Degraded(tt.o, tt.primaryFailed); got != tt.want {
				t.Errorf("degraded %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSentinelMasters_CountsHealthySentinels(t *testing.T) {
	sentinel := func(state, master string) schemas.Observation {
		return schemas.Observation{Kind: schemas.KindSentinel, State: state, SentinelMaster: master}
	}
	got := SentinelMasters(map[string]schemas.Observation{
		"s1": sentinel(schemas.StateHealthy, "10.0.0.1:6379"),
		"s2": sentinel(schemas.StateHealthy, "10.0.0.1:6379"),
		"s3": sentinel(schemas.StateHealthy, "10.0.0.2:6379"),
		"s4": sentinel(schemas.StateFailed, "10.0.0.3:6379"),
		"s5": sentinel(schemas.StateHealthy, ""),
		"r1": {Kind: schemas.KindRedis, State: schemas.StateHealthy, SentinelMaster: "10.0.0.4:6379"},
	})
	want := map[string]int{"10.0.0.1:6379": 2, "10.0.0.2:6379": 1}
	if len(got) != len(want) || got["10.0.0.1:6379"] != 2 || got["10.0.0.2:6379"] != 1 {
		t.Errorf("masters %v, want %v", got, want)
	}
}

func TestClusterStatus_FirstThatHolds(t *testing.T) {
	components := map[string]schemas.Observation{"a1": {Name: "a1"}}
	tests := []struct {
		name string
		st   schemas.MonitorState
		want string
	}{
		{"nothing seen yet", schemas.MonitorState{}, schemas.ClusterStarting},
		{"seen but no primary", schemas.MonitorState{Components: components}, schemas.ClusterNoPrimary},
		{"a primary and no problem", schemas.MonitorState{Primary: "a1", Components: components}, schemas.ClusterHealthy},
		{"a problem", schemas.MonitorState{Primary: "a1", Components: components, Problems: []string{"b1 lags"}}, schemas.ClusterDegraded},
		{"failing over", schemas.MonitorState{Primary: "a1", Failover: &schemas.ActiveFailover{}, Problems: []string{"a1 failed"}}, schemas.ClusterFailingOver},
		{"the RTO passed", schemas.MonitorState{Primary: "a1", Failover: &schemas.ActiveFailover{Breached: true}}, schemas.ClusterRTOBreached},
		{"paused wins over everything", schemas.MonitorState{Paused: true, Failover: &schemas.ActiveFailover{Breached: true}}, schemas.ClusterPaused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClusterStatus(tt.st); got != tt.want {
				t.Errorf("status %s, want %s", got, tt.want)
			}
		})
	}
}
