package activities

import (
	"context"
	"time"

	"github.com/runnerhub/lifeboat/internal/tick"
	"go.temporal.io/sdk/activity"
)

// HeartbeatEvery records details() as the activity's heartbeat now and
// every interval until stop.
func HeartbeatEvery(ctx context.Context, every time.Duration, details func() any) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	return tick.NowAndEvery(ctx, every, func() bool {
		activity.RecordHeartbeat(ctx, details())
		return true
	})
}

// Progress heartbeats when running as an activity; called directly (tests,
// tools) it does nothing.
func Progress(ctx context.Context, details any) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, details)
	}
}
