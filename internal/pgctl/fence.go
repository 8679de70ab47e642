package pgctl

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/runnerhub/lifeboat/schemas"
)

// FenceResult says how a data directory was fenced.
type FenceResult struct {
	// How is schemas.FencedStopped, FencedKilled or FencedNotRunning.
	How string
	// StopLSN is the shutdown checkpoint's location after a clean stop.
	StopLSN string
	Detail  string
}

// Deadlines of a fence. A frozen postmaster (SIGSTOP, a stalled host)
// never handles the stop signal, and hung storage blocks whoever touches
// the directory, so each step is given a bound and the fence escalates
// instead of waiting: the whole fence ends within a few seconds.
const (
	// immediateStopWait and cleanStopWait bound the stop the postmaster
	// is asked for; a clean stop writes a shutdown checkpoint first. An
	// immediate stop is a crash by design, so SIGKILL after it loses
	// nothing that stop would have kept.
	immediateStopWait = 500 * time.Millisecond
	cleanStopWait     = 15 * time.Second
	// killWait bounds the wait for SIGKILLed processes to be gone: longer
	// only while one is stuck in I/O the kernel cannot interrupt.
	killWait = 2 * time.Second
	// signalWait bounds the wait for standby.signal to be written.
	signalWait = time.Second
	// pollGone is how often the fence looks for the processes again.
	pollGone = 20 * time.Millisecond
)

// Fence makes the node stop taking writes for good and verifies it: it
// writes standby.signal, so that any restart comes back read-only, and
// stops every process of the directory, escalating as each step's
// deadline passes: a stop (with a shutdown checkpoint, which the standbys
// receive before it exits, when clean; at once otherwise), then SIGKILL of
// the postmaster and of every backend (SIGKILL reaches a stopped process
// too), then a check that none is left. Repeating it is harmless.
func (d Dir) Fence(ctx context.Context, clean bool) (FenceResult, error) {
	wait := immediateStopWait
	if clean {
		wait = cleanStopWait
	}
	return d.fence(ctx, clean, wait)
}

// FenceWithin fences at once (no shutdown checkpoint) and SIGKILLs what has
// not stopped after stopWait: for a guard whose lease is running out.
func (d Dir) FenceWithin(ctx context.Context, stopWait time.Duration) (FenceResult, error) {
	return d.fence(ctx, false, stopWait)
}

func (d Dir) fence(ctx context.Context, clean bool, stopWait time.Duration) (FenceResult, error) {
	// The signal is written beside the stop: a primary only reads it when
	// it starts, and a write that hangs on the storage must not hold the
	// stop back.
	marked := make(chan error, 1)
	go func() { marked <- d.WriteStandbySignal() }()

	res, err := d.stopAll(ctx, clean, stopWait)
	if err != nil {
		return res, err
	}
	select {
	case err := <-marked:
		if err != nil {
			return res, fmt.Errorf("mark %s standby: %w", d.Path, err)
		}
		res.Detail += "; marked standby"
	case <-time.After(signalWait):
		// The processes are gone, which is the fence; the write completes
		// when the storage answers again.
		res.Detail += fmt.Sprintf("; standby.signal not written within %s: the data directory does not answer", signalWait)
		return res, nil
	case <-ctx.Done():
		return res, ctx.Err()
	}
	if clean && res.How == schemas.FencedStopped {
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

// stopAll stops the postmaster and its backends, escalating to SIGKILL.
func (d Dir) stopAll(ctx context.Context, clean bool, wait time.Duration) (FenceResult, error) {
	procs, err := Processes(d.Path)
	if err != nil {
		return FenceResult{}, err
	}
	if len(procs) == 0 {
		return FenceResult{How: schemas.FencedNotRunning, Detail: "no postmaster ran"}, nil
	}
	pm := postmaster(procs)
	sig, mode := syscall.SIGQUIT, StopImmediate
	if clean {
		sig, mode = syscall.SIGINT, StopFast
	}
	// A process that is gone already is not an error.
	_ = syscall.Kill(pm, sig)
	if left, err := d.waitGone(ctx, wait); err != nil {
		return FenceResult{}, err
	} else if len(left) == 0 {
		return FenceResult{How: schemas.FencedStopped, Detail: fmt.Sprintf("postmaster %d stopped (%s)", pm, mode)}, nil
	}
	procs, err = Processes(d.Path)
	if err != nil {
		return FenceResult{}, err
	}
	for _, p := range procs {
		_ = syscall.Kill(p.PID, syscall.SIGKILL)
	}
	left, err := d.waitGone(ctx, killWait)
	if err != nil {
		return FenceResult{}, err
	}
	if len(left) > 0 {
		return FenceResult{}, fmt.Errorf("fence %s: %d processes (postmaster %d) did not stop (%s) within %s and survive SIGKILL after %s, in uninterruptible I/O: the lease decides",
			d.Path, len(left), pm, mode, wait, killWait)
	}
	return FenceResult{How: schemas.FencedKilled, Detail: fmt.Sprintf("postmaster %d did not stop (%s) within %s; SIGKILLed it and its %d processes",
		pm, mode, wait, len(procs))}, nil
}

// waitGone waits up to wait for the directory's processes to be gone and
// returns those left.
func (d Dir) waitGone(ctx context.Context, wait time.Duration) ([]Process, error) {
	deadline := time.Now().Add(wait)
	for {
		procs, err := Processes(d.Path)
		if err != nil || len(procs) == 0 || !time.Now().Before(deadline) {
			return procs, err
		}
		select {
		case <-ctx.Done():
			return procs, ctx.Err()
		case <-time.After(pollGone):
		}
	}
}
