package policy

import (
	"slices"
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/schemas"
)

var monitorNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestJudgeFailover(t *testing.T) {
	running := &schemas.ActiveFailover{WorkflowID: "failover/shop/1", Epoch: 1}
	tests := []struct {
		name        string
		st          schemas.MonitorState
		criticality string
		want        FailoverVerdict
	}{
		{"a critical primary fails over", schemas.MonitorState{}, schemas.CriticalityCritical, FailoverStart},
		{"paused, none", schemas.MonitorState{Paused: true}, schemas.CriticalityCritical, FailoverPaused},
		{"paused is said even while one runs", schemas.MonitorState{Paused: true, Failover: running}, schemas.CriticalityCritical, FailoverPaused},
		{"one runs already", schemas.MonitorState{Failover: running}, schemas.CriticalityCritical, FailoverRunning},
		{"a major primary is only alerted", schemas.MonitorState{}, schemas.CriticalityMajor, FailoverNotCritical},
		{"a minor primary is only alerted", schemas.MonitorState{RetryAfter: monitorNow.Add(time.Second)}, schemas.CriticalityMinor, FailoverNotCritical},
		{"within the back-off of a failed one", schemas.MonitorState{RetryAfter: monitorNow.Add(time.Second)}, schemas.CriticalityCritical, FailoverBackingOff},
		{"the back-off ends on time", schemas.MonitorState{RetryAfter: monitorNow}, schemas.CriticalityCritical, FailoverStart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := JudgeFailover(tt.st, tt.criticality, monitorNow); got != tt.want {
				t.Errorf("verdict %s, want %s", got, tt.want)
			}
		})
	}
}

func TestJoinsFailover_AFailedPrimaryOfTheRunningEpoch(t *testing.T) {
	failed := schemas.Observation{Name: "a1", State: schemas.StateFailed}
	tests := []struct {
		name string
		st   schemas.MonitorState
		o    schemas.Observation
		want bool
	}{
		{"a second region sees it failed", schemas.MonitorState{Epoch: 2, Failover: &schemas.ActiveFailover{Epoch: 2}}, failed, true},
		{"no failover runs", schemas.MonitorState{Epoch: 2}, failed, false},
		{"the failover is of an older epoch", schemas.MonitorState{Epoch: 3, Failover: &schemas.ActiveFailover{Epoch: 2}}, failed, false},
		{"suspect is no detection", schemas.MonitorState{Epoch: 2, Failover: &schemas.ActiveFailover{Epoch: 2}}, schemas.Observation{Name: "a1", State: schemas.StateSuspect}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := JoinsFailover(tt.st, tt.o); got != tt.want {
				t.Errorf("joins %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConfirmedBy_EveryRegionThatSawItFailOnce(t *testing.T) {
	obs := func(name, from, state string) schemas.Observation {
		return schemas.Observation{Name: name, Region: "a", From: from, State: state}
	}
	tests := []struct {
		name string
		st   schemas.MonitorState
		want []string
	}{
		{"no region", schemas.MonitorState{Components: map[string]schemas.Observation{"a1": obs("a1", "a", schemas.StateSuspect)}}, nil},
		{"its own region", schemas.MonitorState{Components: map[string]schemas.Observation{"a1": obs("a1", "a", schemas.StateFailed)}}, []string{"a"}},
		{
			"its own and the watching regions, in order",
			schemas.MonitorState{
				Components: map[string]schemas.Observation{"a1": obs("a1", "a", schemas.StateFailed)},
				Views: map[string]schemas.Observation{
					"c/a1": obs("a1", "c", schemas.StateFailed),
					"b/a1": obs("a1", "b", schemas.StateFailed),
					"d/a1": obs("a1", "d", schemas.StateHealthy),
					"b/a2": obs("a2", "b", schemas.StateFailed),
				},
			},
			[]string{"a", "b", "c"},
		},
		{
			"a watching region alone",
			schemas.MonitorState{
				Components: map[string]schemas.Observation{"a1": obs("a1", "a", schemas.StateUnknown)},
				Views:      map[string]schemas.Observation{"b/a1": obs("a1", "b", schemas.StateFailed)},
			},
			[]string{"b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ConfirmedBy(tt.st, "a1"); !slices.Equal(got, tt.want) {
				t.Errorf("confirmed by %v, want %v", got, tt.want)
			}
		})
	}
}
