package pgctl

import (
	"context"
	"fmt"

	"github.com/runnerhub/lifeboat/schemas"
)

// FenceResult says how a data directory was fenced.
type FenceResult struct {
	// How is schemas.FencedStopped or schemas.FencedNotRunning.
	How string
	// StopLSN is the shutdown checkpoint's location after a clean stop.
	StopLSN string
	Detail  string
}

// Fence makes the node stop taking writes for good: it writes
// standby.signal, so that any restart comes back read-only, then stops the
// postmaster: with a shutdown checkpoint (which the standbys receive before
// it exits) when clean, at once otherwise. Repeating it is harmless.
func (d Dir) Fence(ctx context.Context, clean bool) (FenceResult, error) {
	// The signal goes first: a primary only reads it when it starts, and a
	// crash between the stop and the write must not leave a primary behind.
	if err := d.WriteStandbySignal(); err != nil {
		return FenceResult{}, fmt.Errorf("mark %s standby: %w", d.Path, err)
	}
	running, pid, err := d.Status(ctx)
	if err != nil {
		return FenceResult{}, err
	}
	res := FenceResult{How: schemas.FencedNotRunning, Detail: "no postmaster ran; marked standby"}
	if running {
		mode := StopImmediate
		if clean {
			mode = StopFast
		}
		if err := d.Stop(ctx, mode); err != nil {
			return FenceResult{}, err
		}
		res.How = schemas.FencedStopped
		res.Detail = fmt.Sprintf("postmaster %d stopped (%s); marked standby", pid, mode)
	}
	if clean {
		control, err := d.ControlData(ctx)
		if err != nil {
			return FenceResult{}, err
		}
		if control[FieldState] == StateShutDown {
			res.StopLSN = control[FieldCheckpoint]
		}
	}
	return res, nil
}
