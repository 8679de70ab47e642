package workflows

import (
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/schemas"
)

// slotsContinueAfter is the history length at which the slots workflow
// continues as new, carrying holders and queue.
const slotsContinueAfter = 5000

// FailoverSlots hands out at most Limit failover slots across all clusters,
// first come first served: a failover beyond the limit waits in the queue,
// visible in the `slots` query, until one running ends. A storm of failures
// thus cannot promote everywhere at once.
func FailoverSlots(ctx workflow.Context, in schemas.FailoverSlotsInput) error {
	if in.Limit < 1 {
		return invalidInput("limit", "must be at least 1")
	}
	st := in
	if err := workflow.SetQueryHandler(ctx, schemas.QuerySlots, func() (schemas.FailoverSlotsInput, error) {
		return st, nil
	}); err != nil {
		return err
	}
	acquire := workflow.GetSignalChannel(ctx, schemas.SignalAcquireSlot)
	release := workflow.GetSignalChannel(ctx, schemas.SignalReleaseSlot)
	logger := workflow.GetLogger(ctx)
	grant := func() {
		for len(st.Holders) < st.Limit && len(st.Waiting) > 0 {
			id := st.Waiting[0]
			st.Waiting = st.Waiting[1:]
			st.Holders = append(st.Holders, id)
			if err := workflow.SignalExternalWorkflow(ctx, id, "", schemas.SignalSlotGranted, nil).Get(ctx, nil); err != nil {
				// The failover is gone: its slot is free again.
				logger.Warn("slot holder gone", "workflow_id", id, "error", err)
				st.Holders = slices.DeleteFunc(st.Holders, func(h string) bool { return h == id })
			}
		}
	}
	onAcquire := func(r schemas.SlotRequest) {
		switch {
		case slices.Contains(st.Holders, r.WorkflowID):
			// A retried request of a holder: grant it again.
			_ = workflow.SignalExternalWorkflow(ctx, r.WorkflowID, "", schemas.SignalSlotGranted, nil).Get(ctx, nil)
		case !slices.Contains(st.Waiting, r.WorkflowID):
			st.Waiting = append(st.Waiting, r.WorkflowID)
		}
	}
	onRelease := func(r schemas.SlotRequest) {
		st.Holders = slices.DeleteFunc(st.Holders, func(h string) bool { return h == r.WorkflowID })
		st.Waiting = slices.DeleteFunc(st.Waiting, func(h string) bool { return h == r.WorkflowID })
	}
	grant()
	for {
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(acquire, func(c workflow.ReceiveChannel, _ bool) {
			var r schemas.SlotRequest
			c.Receive(ctx, &r)
			onAcquire(r)
		})
		sel.AddReceive(release, func(c workflow.ReceiveChannel, _ bool) {
			var r schemas.SlotRequest
			c.Receive(ctx, &r)
			onRelease(r)
		})
		sel.Select(ctx)
		grant()
		info := workflow.GetInfo(ctx)
		if !info.GetContinueAsNewSuggested() && info.GetCurrentHistoryLength() <= slotsContinueAfter {
			continue
		}
		// Signals that arrived meanwhile are applied before handing over.
		for {
			var r schemas.SlotRequest
			if acquire.ReceiveAsync(&r) {
				onAcquire(r)
			} else if release.ReceiveAsync(&r) {
				onRelease(r)
			} else {
				break
			}
		}
		grant()
		return workflow.NewContinueAsNewError(ctx, schemas.FailoverSlotsWorkflow, st)
	}
}
