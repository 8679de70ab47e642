package schedules

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// Apply makes one change of a plan. Changes are applied one at a time so
// that a caller can report each as it is done, and a failure part way
// shows what was done. Deleting a schedule that is already gone is done.
func Apply(ctx context.Context, c Client, ch Change) error {
	switch ch.Op {
	case OpCreate:
		if err := c.Create(ctx, ch.Want.createOptions()); err != nil {
			return fmt.Errorf("create schedule %s: %w", ch.ID, err)
		}
	case OpUpdate:
		err := c.Update(ctx, ch.ID, client.ScheduleUpdateOptions{
			DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				return ch.Want.update(in.Description.Schedule.State), nil
			},
		})
		if err != nil {
			return fmt.Errorf("update schedule %s: %w", ch.ID, err)
		}
	case OpDelete:
		if err := c.Delete(ctx, ch.ID); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete schedule %s: %w", ch.ID, err)
		}
	case OpUnchanged, OpUnwanted:
	default:
		return fmt.Errorf("schedule %s: unknown change %q", ch.ID, ch.Op)
	}
	return nil
}

// spec is the timing of s.
func (s Schedule) spec() *client.ScheduleSpec {
	return &client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: s.Every}}}
}

// action is the workflow start s makes at each scheduled time.
func (s Schedule) action() *client.ScheduleWorkflowAction {
	return &client.ScheduleWorkflowAction{
		ID:                       s.WorkflowID,
		Workflow:                 s.WorkflowType,
		Args:                     []any{s.Input},
		TaskQueue:                s.TaskQueue,
		WorkflowExecutionTimeout: s.Timeout,
		StaticSummary:            s.Summary,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			clusterKey.ValueSet(s.WorkflowCluster), kindKey.ValueSet(s.WorkflowKind)),
	}
}

func (s Schedule) attrs() temporal.SearchAttributes {
	return temporal.NewSearchAttributes(clusterKey.ValueSet(s.ScheduleCluster))
}

// createOptions are the options that create s.
func (s Schedule) createOptions() client.ScheduleOptions {
	return client.ScheduleOptions{
		ID:            s.ID,
		Spec:          *s.spec(),
		Action:        s.action(),
		Overlap:       s.Overlap,
		CatchupWindow: s.Catchup,
		Note:          note,
		Memo: map[string]any{
			"description": s.Summary,
			"managed_by":  "lifeboat schedules apply",
		},
		TypedSearchAttributes: s.attrs(),
	}
}

// update replaces what s manages and keeps the schedule's state: a
// schedule an operator paused stays paused, with its note.
func (s Schedule) update(state *client.ScheduleState) *client.ScheduleUpdate {
	if state == nil {
		state = &client.ScheduleState{Note: note}
	}
	attrs := s.attrs()
	return &client.ScheduleUpdate{
		Schedule: &client.Schedule{
			Action: s.action(),
			Spec:   s.spec(),
			Policy: &client.SchedulePolicies{Overlap: s.Overlap, CatchupWindow: s.Catchup},
			State:  state,
		},
		TypedSearchAttributes: &attrs,
	}
}
