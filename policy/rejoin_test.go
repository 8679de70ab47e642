package policy

import (
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/schemas"
)

func TestCanRejoin_OnlyBehindAHealthyPrimaryInPeace(t *testing.T) {
	primary := schemas.Observation{Name: "a1", Role: schemas.RolePrimary, State: schemas.StateHealthy}
	with := func(p schemas.Observation) map[string]schemas.Observation {
		return map[string]schemas.Observation{"a1": p}
	}
	suspect, replica := primary, primary
	suspect.State, replica.Role = schemas.StateSuspect, schemas.RoleReplica
	tests := []struct {
		name string
		st   schemas.MonitorState
		want bool
	}{
		{"a healthy primary", schemas.MonitorState{Primary: "a1", Components: with(primary)}, true},
		{"no primary", schemas.MonitorState{Components: with(primary)}, false},
		{"a primary not yet seen", schemas.MonitorState{Primary: "a1"}, false},
		{"a suspect primary", schemas.MonitorState{Primary: "a1", Components: with(suspect)}, false},
		{"the routed primary reports itself a replica", schemas.MonitorState{Primary: "a1", Components: with(replica)}, false},
		{"a failover runs", schemas.MonitorState{Primary: "a1", Components: with(primary), Failover: &schemas.ActiveFailover{}}, false},
		{"paused", schemas.MonitorState{Primary: "a1", Components: with(primary), Paused: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CanRejoin(tt.st); got != tt.want {
				t.Errorf("can rejoin %v, want %v", got, tt.want)
			}
		})
	}
}

func TestJudgeRejoin(t *testing.T) {
	primary := schemas.Observation{Name: "a1", Role: schemas.RolePrimary, State: schemas.StateHealthy, Timeline: 3}
	node := func(role, state, err string, timeline int64, ago time.Duration) schemas.Observation {
		return schemas.Observation{Name: "b1", Role: role, State: state, Error: err, Timeline: timeline, Since: monitorNow.Add(-ago)}
	}
	start := RejoinVerdict{Start: true}
	recheck := func(ago, after time.Duration) RejoinVerdict {
		return RejoinVerdict{RecheckAt: monitorNow.Add(-ago).Add(after)}
	}
	tests := []struct {
		name    string
		o       schemas.Observation
		dataDir bool
		after   time.Time
		want    RejoinVerdict
	}{
		{"a streaming replica is left alone", node(schemas.RoleReplica, schemas.StateHealthy, "", 3, time.Hour), true, time.Time{}, RejoinVerdict{}},
		{"a former primary back from the dead", node(schemas.RolePrimary, schemas.StateHealthy, "", 2, 0), false, time.Time{}, start},
		{"a replica not streaming past the grace", node(schemas.RoleReplica, schemas.StateHealthy, "not streaming", 3, RejoinGrace), false, time.Time{}, start},
		{"a replica not streaming within the grace is looked at again", node(schemas.RoleReplica, schemas.StateHealthy, "not streaming", 3, time.Second), false, time.Time{}, recheck(time.Second, RejoinGrace)},
		{"a replica on an older timeline past the grace", node(schemas.RoleReplica, schemas.StateHealthy, "", 2, RejoinGrace), false, time.Time{}, start},
		{"a replica on an older timeline within the grace", node(schemas.RoleReplica, schemas.StateHealthy, "", 2, time.Second), false, time.Time{}, RejoinVerdict{}},
		{"an unknown timeline is not older", node(schemas.RoleReplica, schemas.StateHealthy, "", 0, time.Hour), false, time.Time{}, RejoinVerdict{}},
		{"a node down long enough that its worker can start", node(schemas.RoleUnknown, schemas.StateFailed, "connection refused", 0, DownRejoinAfter), true, time.Time{}, start},
		{"a node down briefly is looked at again", node(schemas.RoleUnknown, schemas.StateFailed, "connection refused", 0, 5*time.Second), true, time.Time{}, recheck(5*time.Second, DownRejoinAfter)},
		{"a node down without a data directory waits for itself", node(schemas.RoleUnknown, schemas.StateFailed, "connection refused", 0, time.Hour), false, time.Time{}, RejoinVerdict{}},
		{"a failed node that last said primary waits for its data directory", node(schemas.RolePrimary, schemas.StateFailed, "connection refused", 2, time.Hour), false, time.Time{}, RejoinVerdict{}},
		{"the back-off of a failed rejoin holds", node(schemas.RolePrimary, schemas.StateHealthy, "", 2, time.Hour), false, monitorNow.Add(time.Minute), RejoinVerdict{RecheckAt: monitorNow.Add(time.Minute)}},
		{"a back-off that has passed", node(schemas.RolePrimary, schemas.StateHealthy, "", 2, time.Hour), false, monitorNow, start},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := JudgeRejoin(tt.o, primary, tt.dataDir, tt.after, monitorNow)
			if got.Start != tt.want.Start || !got.RecheckAt.Equal(tt.want.RecheckAt) {
				t.Errorf("verdict %+v, want %+v", got, tt.want)
			}
		})
	}
}
