// Package tick runs a function at a steady interval on a goroutine of its
// own, as heartbeats are sent while an activity works.
package tick

import (
	"context"
	"time"
)

// Every calls f every interval, the first time one interval from now,
// until f returns false, ctx ends or stop is called. stop returns once f
// runs no more: f is never called after stop has begun, even when a tick
// came at the same moment.
func Every(ctx context.Context, interval time.Duration, f func() bool) (stop func()) {
	return run(ctx, false, interval, f)
}

// NowAndEvery is Every with a first call at once, on the same goroutine
// as the others (the caller does not wait for it).
func NowAndEvery(ctx context.Context, interval time.Duration, f func() bool) (stop func()) {
	return run(ctx, true, interval, f)
}

func run(ctx context.Context, now bool, interval time.Duration, f func() bool) (stop func()) {
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		if now && !f() {
			return
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-quit:
				return
			case <-ctx.Done():
				return
			}
			select {
			case <-quit: // the tick and the stop came together
				return
			default:
			}
			if !f() {
				return
			}
		}
	}()
	return func() { close(quit); <-finished }
}
