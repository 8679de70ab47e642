package workflows

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/runnerhub/lifeboat/schemas"
)

func TestFailoverSlots_BeyondTheLimitWaitsItsTurn(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(FailoverSlots)
	var granted []string
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, "", schemas.SignalSlotGranted, mock.Anything).Return(
		func(_, id, _, _ string, _ any) error {
			granted = append(granted, id)
			return nil
		})
	signal := func(at time.Duration, name, id string) {
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(name, schemas.SlotRequest{WorkflowID: id}) }, at)
	}
	signal(time.Second, schemas.SignalAcquireSlot, "failover/shop/1")
	signal(2*time.Second, schemas.SignalAcquireSlot, "failover/billing/4")
	var during schemas.FailoverSlotsInput
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(schemas.QuerySlots)
		if err == nil {
			err = v.Get(&during)
		}
		if err != nil {
			t.Error(err)
		}
		if !slices.Equal(granted, []string{"failover/shop/1"}) {
			t.Errorf("granted %v before a release, want only the first", granted)
		}
	}, 3*time.Second)
	signal(4*time.Second, schemas.SignalReleaseSlot, "failover/shop/1")
	env.RegisterDelayedCallback(env.CancelWorkflow, 5*time.Second)
	env.ExecuteWorkflow(FailoverSlots, schemas.FailoverSlotsInput{Limit: 1})

	if !slices.Equal(during.Holders, []string{"failover/shop/1"}) || !slices.Equal(during.Waiting, []string{"failover/billing/4"}) {
		t.Errorf("slots while full: %+v, want shop holding and billing waiting", during)
	}
	if !slices.Equal(granted, []string{"failover/shop/1", "failover/billing/4"}) {
		t.Errorf("granted %v, want billing after shop released", granted)
	}
}

func TestFailoverSlots_RejectsALimitBelowOne(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.ExecuteWorkflow(FailoverSlots, schemas.FailoverSlotsInput{})
	assertInvalidInput(t, env.GetWorkflowError(), "limit")
}
