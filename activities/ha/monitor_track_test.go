package ha

import (
	"strings"
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/schemas"
)

var testTrack = trackConfig{threshold: 3, maxLagBytes: 1 << 20, rpo: time.Minute, timeout: time.Second, horizon: time.Minute}

func up(ms float64) schemas.NodeHealth {
	return schemas.NodeHealth{Name: "pg-1", Kind: schemas.KindPostgres, Role: schemas.RolePrimary, Healthy: true, LatencyMS: ms}
}

var down = schemas.NodeHealth{Name: "pg-1", Kind: schemas.KindPostgres, Role: schemas.RoleUnknown, Error: "connection refused"}

func TestTracker_StatesAgainstThreshold(t *testing.T) {
	tests := []struct {
		name   string
		checks []schemas.NodeHealth
		want   string
	}{
		{"one failure is suspect", []schemas.NodeHealth{up(1), down}, schemas.StateSuspect},
		{"threshold failures in a row is failed", []schemas.NodeHealth{up(1), down, down, down}, schemas.StateFailed},
		{"a flapping node never reaches the threshold", []schemas.NodeHealth{down, down, up(1), down, down, up(1), down, down}, schemas.StateSuspect},
		{"a failed node answering is recovering", []schemas.NodeHealth{down, down, down, up(1), up(1)}, schemas.StateRecovering},
		{"threshold answers in a row close the circuit", []schemas.NodeHealth{down, down, down, up(1), up(1), up(1)}, schemas.StateHealthy},
		{"a failure while recovering starts counting again", []schemas.NodeHealth{down, down, down, up(1), down}, schemas.StateSuspect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker(schemas.Observation{})
			now := time.Unix(0, 0)
			var got schemas.Observation
			for _, h := range tt.checks {
				now = now.Add(time.Second)
				got = tr.update(h, "a", now, testTrack)
			}
			if got.State != tt.want {
				t.Errorf("state %s, want %s (failures %d, successes %d)", got.State, tt.want, got.Failures, got.Successes)
			}
		})
	}
}

func TestTracker_RestartKeepsFailureCount(t *testing.T) {
	tr := newTracker(schemas.Observation{State: schemas.StateSuspect, Failures: 2})
	if got := tr.update(down, "a", time.Unix(1, 0), testTrack); got.State != schemas.StateFailed {
		t.Errorf("state %s after the third failure, want failed", got.State)
	}
}

func TestTracker_LatencyAnomalyNeedsARunOfSlowChecks(t *testing.T) {
	tr := newTracker(schemas.Observation{})
	now := time.Unix(0, 0)
	step := func(ms float64) schemas.Observation {
		now = now.Add(time.Second)
		return tr.update(up(ms), "a", now, testTrack)
	}
	for range 30 {
		step(2)
	}
	if o := step(200); o.Anomaly {
		t.Fatal("one slow check raised an anomaly")
	}
	step(200)
	o := step(200)
	if !o.Anomaly {
		t.Fatalf("three slow checks in a row raised no anomaly: ewma %.1f p95 %.1f", o.EWMAMS, o.P95MS)
	}
	if o.EWMAMS > 3 {
		t.Errorf("slow checks taught the baseline: ewma %.1f", o.EWMAMS)
	}
	for range 3 {
		o = step(2)
	}
	if o.Anomaly {
		t.Error("three normal checks did not clear the anomaly")
	}
}

func TestTracker_PredictsLagBeforeBudget(t *testing.T) {
	tr := newTracker(schemas.Observation{})
	now := time.Unix(0, 0)
	var o schemas.Observation
	for i := range trendWindow {
		now = now.Add(time.Second)
		lag := int64(i) * 20 << 10 // 20 KiB more each second: 1 MiB in ~51 s
		o = tr.update(schemas.NodeHealth{Name: "r", Kind: schemas.KindPostgres, Role: schemas.RoleReplica, LatencyMS: 1, LagBytes: &lag}, "a", now, testTrack)
	}
	if o.OverBudget {
		t.Fatal("over budget before the budget")
	}
	if !strings.Contains(o.Warning, "predicted to pass the 1048576 byte budget in") {
		t.Errorf("warning %q", o.Warning)
	}
}

func TestChanged_IgnoresDriftAndSeesFlags(t *testing.T) {
	base := schemas.Observation{State: schemas.StateHealthy, Role: schemas.RoleReplica, LagBytes: 10, LatencyMS: 1}
	drift := base
	drift.LagBytes, drift.LatencyMS, drift.EWMAMS = 5000, 3, 2
	if changed(base, drift) {
		t.Error("lag and latency drift counted as a change")
	}
	for name, mutate := range map[string]func(*schemas.Observation){
		"state":       func(o *schemas.Observation) { o.State = schemas.StateSuspect },
		"over budget": func(o *schemas.Observation) { o.OverBudget = true },
		"warning":     func(o *schemas.Observation) { o.Warning = "soon" },
		"upstream":    func(o *schemas.Observation) { o.Upstream = "10.0.0.2:5432" },
		"anomaly":     func(o *schemas.Observation) { o.Anomaly = true },
	} {
		o := base
		mutate(&o)
		if !changed(base, o) {
			t.Errorf("%s change not seen", name)
		}
	}
}
