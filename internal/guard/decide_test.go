package guard

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDecide_FencesOnlyAWritableNodeThatLostThePrimaryRole(t *testing.T) {
	const lease, interval = 10 * time.Second, 2 * time.Second
	down := errors.New("connection refused")
	primary := Observation{Running: true, InRecoveryKnown: true, InRecovery: false}
	standby := Observation{Running: true, InRecoveryKnown: true, InRecovery: true}
	with := func(local Observation, o Observation) Observation {
		o.Running, o.RunningErr, o.InRecoveryKnown, o.InRecovery = local.Running, local.RunningErr, local.InRecoveryKnown, local.InRecovery
		return o
	}
	tests := []struct {
		name      string
		obs       Observation
		wantFence bool
		wantCode  string
	}{
		{"no routing record", Observation{Reachable: true, Record: RecordNone, SinceRenewal: -1}, false, "no-record"},
		{"published primary renews", with(primary, Observation{Reachable: true, Record: RecordPrimary, Primary: "a1", SinceRenewal: 2 * time.Second}), false, "renewed"},
		{"published primary silent for a moment", Observation{Reachable: true, Record: RecordPrimary, Primary: "a1", ProbeErr: down, SinceAnswer: lease - interval - time.Millisecond}, false, "not-renewed"},
		{"published primary silent for lease minus interval", Observation{Reachable: true, Record: RecordPrimary, Primary: "a1", ProbeErr: down, SinceAnswer: lease - interval}, true, "unresponsive"},
		{"published primary silent long ago", Observation{Reachable: true, Record: RecordPrimary, Primary: "a1", ProbeErr: down, SinceAnswer: time.Minute}, true, "unresponsive"},
		{"another primary, local primary", with(primary, Observation{Reachable: true, Record: RecordOther, Primary: "a2", Epoch: 2}), true, "superseded"},
		{"another primary, local standby", with(standby, Observation{Reachable: true, Record: RecordOther, Primary: "a1"}), false, "standby"},
		{"this node fenced, no primary yet", with(primary, Observation{Reachable: true, Record: RecordOther, Fenced: "a1", Epoch: 2}), true, "superseded"},
		{"another primary, local stopped", Observation{Reachable: true, Record: RecordOther, Primary: "a2"}, false, "standby"},
		{"another primary, local role unknown", Observation{Reachable: true, Record: RecordOther, Primary: "a2", Running: true}, true, "superseded"},
		{"another primary, postmaster state unknown", Observation{Reachable: true, Record: RecordOther, Primary: "a2", RunningErr: down}, true, "superseded"},
		{"another node fenced, failover running", with(primary, Observation{Reachable: true, Record: RecordUnassigned, Fenced: "b1"}), false, "unassigned"},
		{"store lost, never primary", with(primary, Observation{StoreErr: down, SinceRenewal: -1}), false, "not-primary"},
		{"store lost, lease still running", with(primary, Observation{StoreErr: down, SinceRenewal: lease - interval - time.Millisecond}), false, "lease-running"},
		{"store lost for lease minus interval", with(primary, Observation{StoreErr: down, SinceRenewal: lease - interval}), true, "lease-lost"},
		{"store lost long ago", with(primary, Observation{StoreErr: down, SinceRenewal: time.Minute}), true, "lease-lost"},
		{"store lost, node already standby", with(standby, Observation{StoreErr: down, SinceRenewal: time.Minute}), false, "standby"},
		{"store lost, node stopped", Observation{StoreErr: down, SinceRenewal: time.Minute}, false, "standby"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(tc.obs, lease, interval)
			if got.Fence != tc.wantFence || got.ReasonCode != tc.wantCode {
				t.Errorf("Decide = fence %v (%s: %s), want fence %v (%s)", got.Fence, got.ReasonCode, got.Reason, tc.wantFence, tc.wantCode)
			}
		})
	}
}

func TestObservation_AsksTheLocalNodeOnlyWhenTheDecisionDependsOnIt(t *testing.T) {
	tests := []struct {
		obs  Observation
		want bool
	}{
		{Observation{Reachable: true, Record: RecordNone}, false},
		{Observation{Reachable: true, Record: RecordPrimary}, false},
		{Observation{Reachable: true, Record: RecordUnassigned}, false},
		{Observation{Reachable: true, Record: RecordOther}, true},
		{Observation{SinceRenewal: -1}, false},
		{Observation{SinceRenewal: 0}, true},
	}
	for _, tc := range tests {
		if got := tc.obs.needsLocal(); got != tc.want {
			t.Errorf("needsLocal(%+v) = %v, want %v", tc.obs, got, tc.want)
		}
	}
}

// fakeNode answers as a node whose control file says what inRecovery
// says, with a postmaster running or not.
type fakeNode struct {
	inRecovery, running bool
}

func (f fakeNode) InRecovery(context.Context) (bool, error) { return f.inRecovery, nil }
func (f fakeNode) Running(context.Context) (bool, error)    { return f.running, nil }
func (f fakeNode) Fence(context.Context) (string, error)    { return "", nil }
func (f fakeNode) Answers(context.Context) error            { return nil }

func TestObserveLocal_AStoppedFormerPrimaryIsNotFenced(t *testing.T) {
	for _, tc := range []struct {
		name      string
		node      fakeNode
		wantFence bool
	}{
		{"stopped, control file in production", fakeNode{inRecovery: false, running: false}, false},
		{"running primary", fakeNode{inRecovery: false, running: true}, true},
		{"running standby", fakeNode{inRecovery: true, running: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := Observation{Reachable: true, Record: RecordOther, Epoch: 7, Primary: "b", SinceRenewal: -1}
			observeLocal(context.Background(), tc.node, time.Second, &obs)
			if got := Decide(obs, 10*time.Second, 2*time.Second).Fence; got != tc.wantFence {
				t.Errorf("fence = %v, want %v (observation %+v)", got, tc.wantFence, obs)
			}
		})
	}
}
