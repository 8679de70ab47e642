// Package keepalive heartbeats, from the worker, the activities that have a
// heartbeat timeout but do not heartbeat themselves, so that a dead worker's
// activity is noticed within that timeout, not its start-to-close timeout.
package keepalive

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/interceptor"

	"github.com/runnerhub/lifeboat/internal/tick"
)

// Interceptor is a worker interceptor: &Interceptor{} in
// worker.Options.Interceptors. While
// an activity whose options set a HeartbeatTimeout runs, it records an
// empty heartbeat every quarter of that timeout (the SDK sends at most one
// per 80% of it), and stops when the activity returns.
//
// A heartbeat's details replace the ones stored before it, and an empty
// heartbeat stores none. So that an activity that records its progress for
// a retry to resume from keeps it, the automatic heartbeat
//   - stays off for an attempt that started with an earlier attempt's
//     details, and
//   - stops for good once the activity records details itself: from then
//     on its heartbeat is the activity's own.
//
// Empty heartbeats of the activity's own (no details) do not stop it.
type Interceptor struct {
	interceptor.WorkerInterceptorBase
}

var _ interceptor.WorkerInterceptor = (*Interceptor)(nil)

// InterceptActivity wraps one execution of an activity.
func (*Interceptor) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &inbound{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}}
}

type inbound struct {
	interceptor.ActivityInboundInterceptorBase
	out *outbound
}

func (i *inbound) Init(out interceptor.ActivityOutboundInterceptor) error {
	i.out = &outbound{ActivityOutboundInterceptorBase: interceptor.ActivityOutboundInterceptorBase{Next: out}}
	return i.Next.Init(i.out)
}

func (i *inbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	// A local activity has no heartbeat timeout.
	timeout := i.out.GetInfo(ctx).HeartbeatTimeout
	if timeout <= 0 || i.out.HasHeartbeatDetails(ctx) {
		return i.Next.ExecuteActivity(ctx, in)
	}
	stop := i.out.beatEvery(ctx, timeout/4)
	defer stop()
	return i.Next.ExecuteActivity(ctx, in)
}

// outbound sees the activity's own heartbeats.
type outbound struct {
	interceptor.ActivityOutboundInterceptorBase
	// mu orders the automatic heartbeats with the activity's own: none is
	// sent after the activity's first with details.
	mu    sync.Mutex
	owned bool // the activity has recorded details
}

func (o *outbound) RecordHeartbeat(ctx context.Context, details ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	// As the SDK does, a single nil is no details.
	if len(details) > 1 || (len(details) == 1 && details[0] != nil) {
		o.owned = true
	}
	o.Next.RecordHeartbeat(ctx, details...)
}

// beatEvery records an empty heartbeat every interval until the activity
// records details, ctx ends or stop is called; stop returns once no more
// heartbeat will be recorded.
func (o *outbound) beatEvery(ctx context.Context, every time.Duration) (stop func()) {
	return tick.Every(ctx, every, func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.owned {
			return false
		}
		o.Next.RecordHeartbeat(ctx)
		return true
	})
}
