package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/schemas"
)

var testTrack = TrackConfig{Threshold: 3, MaxLagBytes: 1 << 20, RPO: time.Minute, Timeout: time.Second, Horizon: time.Minute}

func up(ms float64) schemas.NodeHealth {
	return schemas.NodeHealth{Name: "pg-1", Kind: schemas.KindPostgres, Role: schemas.RolePrimary, Healthy: true, LatencyMS: ms}
}

var down = schemas.NodeHealth{Name: "pg-1", Kind: schemas.KindPostgres, Role: schemas.RoleUnknown, Error: "connection refused"}

// lagging is a replica's check reporting lag bytes behind its primary.
func lagging(lag int64) schemas.NodeHealth {
	return schemas.NodeHealth{Name: "r", Kind: schemas.KindPostgres, Role: schemas.RoleReplica, LatencyMS: 1, LagBytes: &lag}
}

// track folds checks one second apart into a Tracker started from known
// and returns the last judgement.
func track(known schemas.Observation, checks []schemas.NodeHealth) schemas.Observation {
	tr := NewTracker(known)
	now := time.Unix(0, 0)
	var got schemas.Observation
	for _, h := range checks {
		now = now.Add(time.Second)
		got = tr.Update(h, "a", now, testTrack)
	}
	return got
}

func repeat(h schemas.NodeHealth, n int) []schemas.NodeHealth {
	var hs []schemas.NodeHealth
	for range n {
		hs = append(hs, h)
	}
	return hs
}

func TestTracker_StatesAgainstThreshold(t *testing.T) {
	store := func(healthy bool) schemas.NodeHealth {
		return schemas.NodeHealth{Name: "backup-store/a", Kind: schemas.KindStore, Role: schemas.RoleUnknown, Healthy: healthy}
	}
	idle := schemas.NodeHealth{Name: "r", Kind: schemas.KindPostgres, Role: schemas.RoleReplica, Error: "not streaming"}
	tests := []struct {
		name   string
		known  schemas.Observation
		checks []schemas.NodeHealth
		want   string
	}{
		{"one failure is suspect", schemas.Observation{}, []schemas.NodeHealth{up(1), down}, schemas.StateSuspect},
		{"threshold failures in a row is failed", schemas.Observation{}, []schemas.NodeHealth{up(1), down, down, down}, schemas.StateFailed},
		{"a flapping node never reaches the threshold", schemas.Observation{}, []schemas.NodeHealth{down, down, up(1), down, down, up(1), down, down}, schemas.StateSuspect},
		{"a failed node answering is recovering", schemas.Observation{}, []schemas.NodeHealth{down, down, down, up(1), up(1)}, schemas.StateRecovering},
		{"threshold answers in a row close the circuit", schemas.Observation{}, []schemas.NodeHealth{down, down, down, up(1), up(1), up(1)}, schemas.StateHealthy},
		{"a failure while recovering starts counting again", schemas.Observation{}, []schemas.NodeHealth{down, down, down, up(1), down}, schemas.StateSuspect},
		{"a restart keeps the failure count", schemas.Observation{State: schemas.StateSuspect, Failures: 2}, []schemas.NodeHealth{down}, schemas.StateFailed},
		{"an unknown node answering is recovering", schemas.Observation{State: schemas.StateUnknown}, []schemas.NodeHealth{up(1)}, schemas.StateRecovering},
		{"a replica that answers but does not stream is alive", schemas.Observation{}, repeat(idle, 3), schemas.StateHealthy},
		{"a store is judged by its health, not its role", schemas.Observation{}, []schemas.NodeHealth{store(true)}, schemas.StateHealthy},
		{"an unhealthy store fails at the threshold", schemas.Observation{}, repeat(store(false), 3), schemas.StateFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := track(tt.known, tt.checks)
			if got.State != tt.want {
				t.Errorf("state %s, want %s (failures %d, successes %d)", got.State, tt.want, got.Failures, got.Successes)
			}
		})
	}
}

func TestTracker_SinceMarksTheLastChangeOfState(t *testing.T) {
	tr := NewTracker(schemas.Observation{})
	start := time.Unix(100, 0)
	for i, tc := range []struct {
		check schemas.NodeHealth
		want  time.Time
	}{
		{up(1), start},                      // first judgement
		{up(1), start},                      // still healthy
		{down, start.Add(2 * time.Second)},  // suspect
		{down, start.Add(2 * time.Second)},  // still suspect
		{down, start.Add(4 * time.Second)},  // failed
		{up(1), start.Add(5 * time.Second)}, // recovering
	} {
		got := tr.Update(tc.check, "a", start.Add(time.Duration(i)*time.Second), testTrack)
		if !got.Since.Equal(tc.want) {
			t.Errorf("check %d (%s): since %v, want %v", i, got.State, got.Since.Unix(), tc.want.Unix())
		}
	}
}

func TestTracker_LatencyAnomalyNeedsARunOfSlowChecks(t *testing.T) {
	checks := func(runs ...any) []schemas.NodeHealth {
		var hs []schemas.NodeHealth
		for i := 0; i < len(runs); i += 2 {
			hs = append(hs, repeat(up(runs[i].(float64)), runs[i+1].(int))...)
		}
		return hs
	}
	tests := []struct {
		name   string
		known  schemas.Observation
		checks []schemas.NodeHealth
		want   bool
	}{
		{"one slow check is not news", schemas.Observation{}, checks(2.0, 30, 200.0, 1), false},
		{"two slow checks are not news", schemas.Observation{}, checks(2.0, 30, 200.0, 2), false},
		{"three slow checks in a row raise the flag", schemas.Observation{}, checks(2.0, 30, 200.0, 3), true},
		{"slow checks before a baseline are not judged", schemas.Observation{}, checks(2.0, 10, 200.0, 5), false},
		{"slow under the floor is no anomaly", schemas.Observation{}, checks(1.0, 30, 15.0, 5), false},
		{"two normal checks keep the flag", schemas.Observation{}, checks(2.0, 30, 200.0, 3, 2.0, 2), true},
		{"three normal checks clear the flag", schemas.Observation{}, checks(2.0, 30, 200.0, 3, 2.0, 3), false},
		{"a restart keeps the baseline", schemas.Observation{State: schemas.StateHealthy, EWMAMS: 2, P95MS: 2}, checks(200.0, 3), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := track(tt.known, tt.checks); got.Anomaly != tt.want {
				t.Errorf("anomaly %v, want %v (latency %.1f ewma %.1f p95 %.1f)", got.Anomaly, tt.want, got.LatencyMS, got.EWMAMS, got.P95MS)
			}
		})
	}
}

func TestTracker_AnomaliesDoNotTeachTheBaseline(t *testing.T) {
	got := track(schemas.Observation{}, append(repeat(up(2), 30), repeat(up(200), 3)...))
	if got.EWMAMS > 3 || got.P95MS > 3 {
		t.Errorf("slow checks taught the baseline: ewma %.1f p95 %.1f", got.EWMAMS, got.P95MS)
	}
}

func TestTracker_ReplicationLagAgainstItsBudget(t *testing.T) {
	seconds := func(s float64) schemas.NodeHealth {
		h := lagging(0)
		h.LagSeconds = &s
		return h
	}
	growing := func(step int64) []schemas.NodeHealth {
		var hs []schemas.NodeHealth
		for i := range trendWindow {
			hs = append(hs, lagging(int64(i)*step))
		}
		return hs
	}
	primary := up(1)
	primary.LagBytes = new(int64)
	*primary.LagBytes = 2 << 20
	tests := []struct {
		name       string
		checks     []schemas.NodeHealth
		overBudget bool
		warning    string // a part of the warning; "" for none
	}{
		// 20 KiB more each second: 1 MiB in about 51 s.
		{"lag growing towards the budget is predicted", growing(20 << 10), false, "predicted to pass the 1048576 byte budget in"},
		{"lag growing too slowly to cross within the horizon is not", growing(1 << 10), false, ""},
		{"steady lag is not predicted", repeat(lagging(512<<10), trendWindow), false, ""},
		{"a trend needs a full window", growing(20 << 10)[:trendWindow-1], false, ""},
		{"lag over the bytes is over budget", []schemas.NodeHealth{lagging(2 << 20)}, true, ""},
		{"lag over the RPO is over budget", []schemas.NodeHealth{seconds(61)}, true, ""},
		{"a primary has no lag budget", []schemas.NodeHealth{primary}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := track(schemas.Observation{}, tt.checks)
			if got.OverBudget != tt.overBudget {
				t.Errorf("over budget %v, want %v (lag %d bytes, %.0fs)", got.OverBudget, tt.overBudget, got.LagBytes, got.LagSeconds)
			}
			if (tt.warning == "") != (got.Warning == "") || !strings.Contains(got.Warning, tt.warning) {
				t.Errorf("warning %q, want one with %q", got.Warning, tt.warning)
			}
		})
	}
}

func TestTracker_PredictsALatencyTimeout(t *testing.T) {
	var checks []schemas.NodeHealth
	for i := range trendWindow {
		checks = append(checks, up(float64(100+20*i))) // 20 ms more each second
	}
	got := track(schemas.Observation{}, checks)
	if !strings.Contains(got.Warning, "predicted to pass the 1000ms timeout in") {
		t.Errorf("warning %q", got.Warning)
	}
}

func TestTracker_ReportsTheSynchronousStandbys(t *testing.T) {
	h := up(1)
	h.Standbys = []schemas.StandbyStat{
		{ApplicationName: "pg-2", SyncState: "sync"},
		{ApplicationName: "pg-3", SyncState: "async"},
		{ApplicationName: "pg-4", SyncState: "quorum"},
	}
	got := track(schemas.Observation{Synchronous: []string{"pg-9"}}, []schemas.NodeHealth{h})
	if strings.Join(got.Synchronous, ",") != "pg-2,pg-4" {
		t.Errorf("synchronous %v, want [pg-2 pg-4]", got.Synchronous)
	}
}

func TestCrossing(t *testing.T) {
	line := func(start, slope float64, n int) []sample {
		var s []sample
		for i := range n {
			s = append(s, sample{time.Unix(int64(i), 0), start + slope*float64(i)})
		}
		return s
	}
	tests := []struct {
		name    string
		samples []sample
		limit   float64
		want    time.Duration
		ok      bool
	}{
		{"a rising line crosses where it meets the limit", line(0, 1, trendWindow), 59, 30 * time.Second, true},
		{"a crossing beyond the horizon is not told", line(0, 1, trendWindow), 100, 0, false},
		{"a flat line never crosses", line(10, 0, trendWindow), 59, 0, false},
		{"a falling line never crosses", line(50, -1, trendWindow), 59, 0, false},
		{"a limit already passed is not predicted", line(0, 1, trendWindow), 20, 0, false},
		{"too few samples say nothing", line(0, 1, trendWindow-1), 59, 0, false},
		{"no limit says nothing", line(0, 1, trendWindow), 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := crossing(tt.samples, tt.limit, time.Minute)
			if ok != tt.ok || got.Round(time.Millisecond) != tt.want {
				t.Errorf("crossing %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestChanged_IgnoresDriftAndSeesFlags(t *testing.T) {
	base := schemas.Observation{State: schemas.StateHealthy, Role: schemas.RoleReplica, LagBytes: 10, LatencyMS: 1, Warning: "soon"}
	tests := []struct {
		name   string
		mutate func(*schemas.Observation)
		want   bool
	}{
		{"lag and latency drift", func(o *schemas.Observation) { o.LagBytes, o.LatencyMS, o.EWMAMS, o.P95MS = 5000, 3, 2, 4 }, false},
		{"a warning reworded", func(o *schemas.Observation) { o.Warning = "sooner" }, false},
		{"failure counts", func(o *schemas.Observation) { o.Failures, o.Successes = 1, 2 }, false},
		{"state", func(o *schemas.Observation) { o.State = schemas.StateSuspect }, true},
		{"role", func(o *schemas.Observation) { o.Role = schemas.RolePrimary }, true},
		{"anomaly", func(o *schemas.Observation) { o.Anomaly = true }, true},
		{"over budget", func(o *schemas.Observation) { o.OverBudget = true }, true},
		{"warning cleared", func(o *schemas.Observation) { o.Warning = "" }, true},
		{"sentinel master", func(o *schemas.Observation) { o.SentinelMaster = "10.0.0.3:6379" }, true},
		{"upstream", func(o *schemas.Observation) { o.Upstream = "10.0.0.2:5432" }, true},
		{"timeline", func(o *schemas.Observation) { o.Timeline = 2 }, true},
		{"synchronous standbys", func(o *schemas.Observation) { o.Synchronous = []string{"pg-2"} }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := base
			tt.mutate(&cur)
			if got := Changed(base, cur); got != tt.want {
				t.Errorf("Changed %v, want %v", got, tt.want)
			}
		})
	}
}
