package ha

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/schemas"
)

// Control starts workflows on behalf of workflows, where Temporal needs a
// client call (signal-with-start) rather than a child workflow.
type Control struct {
	Client client.Client
	// MaxFailovers is the slots workflow's limit when this worker starts
	// it; 0 means schemas.DefaultMaxFailovers.
	MaxFailovers int
}

// AcquireSlot asks the slots workflow for a failover slot, starting it if
// it does not run. The grant comes back to the failover by signal.
func (c *Control) AcquireSlot(ctx context.Context, in schemas.AcquireSlotInput) (schemas.AcquireSlotResult, error) {
	if in.WorkflowID == "" {
		return schemas.AcquireSlotResult{}, activities.InvalidInput("workflow_id", "required")
	}
	limit := c.MaxFailovers
	if limit <= 0 {
		limit = schemas.DefaultMaxFailovers
	}
	_, err := c.Client.SignalWithStartWorkflow(ctx, schemas.FailoverSlotsID, schemas.SignalAcquireSlot,
		schemas.SlotRequest{WorkflowID: in.WorkflowID},
		client.StartWorkflowOptions{
			ID: schemas.FailoverSlotsID, TaskQueue: schemas.GlobalTaskQueue,
			WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		}, schemas.FailoverSlotsWorkflow, schemas.FailoverSlotsInput{Limit: limit})
	if err != nil {
		return schemas.AcquireSlotResult{}, fmt.Errorf("ask for a failover slot: %w", err)
	}
	return schemas.AcquireSlotResult{}, nil
}

// StartFailover signal-with-starts the Failover of the input's epoch under
// its fixed ID. A running failover of that epoch receives the detection and
// goes on: a second detection joins it instead of starting another. One
// that completed is not started again; one that failed, was cancelled or
// timed out is, since a failover that ends before taking the role (a
// second region saw the primary answer) leaves the epoch where it was,
// and the next real failure of that primary comes under the same ID.
func (c *Control) StartFailover(ctx context.Context, in schemas.StartFailoverInput) (schemas.StartFailoverResult, error) {
	return c.signalWithStart(ctx, schemas.FailoverWorkflowID(in.Failover.Cluster, in.Failover.Epoch), in)
}

// StartDRFailover starts the escalation failover restricted to the DR
// region, under its own ID beside the one it replaces.
func (c *Control) StartDRFailover(ctx context.Context, in schemas.StartFailoverInput) (schemas.StartFailoverResult, error) {
	if in.Failover.OnlyRegion == "" {
		return schemas.StartFailoverResult{}, activities.InvalidInput("failover.only_region", "required for a DR failover")
	}
	return c.signalWithStart(ctx, schemas.FailoverWorkflowID(in.Failover.Cluster, in.Failover.Epoch)+"/dr", in)
}

func (c *Control) signalWithStart(ctx context.Context, id string, in schemas.StartFailoverInput) (schemas.StartFailoverResult, error) {
	if in.Failover.Cluster == "" || in.Failover.Failed == "" || in.Failover.Epoch < 1 {
		return schemas.StartFailoverResult{}, activities.InvalidInput("failover", "cluster, failed and an epoch of at least 1 are required")
	}
	if in.JoinOnly {
		err := c.Client.SignalWorkflow(ctx, id, "", schemas.SignalFailoverDetected, in.Detected)
		var gone *serviceerror.NotFound
		if errors.As(err, &gone) {
			return schemas.StartFailoverResult{WorkflowID: id, Finished: true}, nil
		}
		if err != nil {
			return schemas.StartFailoverResult{}, fmt.Errorf("signal %s: %w", id, err)
		}
		return schemas.StartFailoverResult{WorkflowID: id}, nil
	}
	run, err := c.Client.SignalWithStartWorkflow(ctx, id, schemas.SignalFailoverDetected, in.Detected,
		client.StartWorkflowOptions{
			ID:                       id,
			TaskQueue:                schemas.GlobalTaskQueue,
			WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
			WorkflowTaskTimeout:      schemas.FailoverTaskTimeout,
		}, schemas.FailoverWorkflow, in.Failover)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		// The failover of this epoch succeeded already; the monitor hears
		// its end by signal, and the epoch it moved to by the routing record.
		return schemas.StartFailoverResult{WorkflowID: id, RunID: started.RunId, Finished: true}, nil
	}
	if err != nil {
		return schemas.StartFailoverResult{}, fmt.Errorf("signal-with-start %s: %w", id, err)
	}
	return schemas.StartFailoverResult{WorkflowID: id, RunID: run.GetRunID()}, nil
}
