package keepalive

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// beat is one heartbeat the test environment received.
type beat struct {
	attempt int32
	details string // "" for an empty heartbeat
}

// heartbeats runs run as an activity with options in a workflow of the
// SDK's test environment, the interceptor installed or not, and returns
// the activity's error and every heartbeat that reached the environment.
func heartbeats(t *testing.T, install bool, opts workflow.ActivityOptions, run func(ctx context.Context) error) (error, []beat) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	if install {
		env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&Interceptor{}}})
	}
	var mu sync.Mutex
	var got []beat
	env.SetOnActivityHeartbeatListener(func(info *activity.Info, details converter.EncodedValues) {
		b := beat{attempt: info.Attempt}
		if details.HasValues() {
			if err := details.Get(&b.details); err != nil {
				t.Errorf("heartbeat details: %v", err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, b)
	})
	act := func(ctx context.Context) error { return run(ctx) }
	env.RegisterActivityWithOptions(act, activity.RegisterOptions{Name: "act"})
	env.ExecuteWorkflow(func(ctx workflow.Context) error {
		return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), "act").Get(ctx, nil)
	})
	if !env.IsWorkflowCompleted() {
		t.Fatal("the workflow did not complete")
	}
	mu.Lock()
	defer mu.Unlock()
	return env.GetWorkflowError(), got
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// A silent activity that runs longer than its heartbeat timeout times out
// without the interceptor and completes with it, on empty heartbeats.
func TestInterceptor_KeepsASilentActivityAlive(t *testing.T) {
	opts := workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute, HeartbeatTimeout: time.Second,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
	}
	silent := func(ctx context.Context) error { return sleep(ctx, 2500*time.Millisecond) }

	err, beats := heartbeats(t, false, opts, silent)
	var timeout *temporal.TimeoutError
	if !errors.As(err, &timeout) || timeout.TimeoutType().String() != "Heartbeat" {
		t.Fatalf("without the interceptor: error %v, want a heartbeat timeout (the test does not show what it should)", err)
	}
	if len(beats) != 0 {
		t.Errorf("without the interceptor: heartbeats %v, want none", beats)
	}

	err, beats = heartbeats(t, true, opts, silent)
	if err != nil {
		t.Fatalf("with the interceptor: %v", err)
	}
	// 2.5 s at most one per 0.8 s: about three.
	if len(beats) < 2 {
		t.Errorf("with the interceptor: %d heartbeats in 2.5 s, want at least 2", len(beats))
	}
	for _, b := range beats {
		if b.details != "" {
			t.Errorf("automatic heartbeat with details %q, want none", b.details)
		}
	}
}

// An activity that records its progress itself is left alone: every
// heartbeat carries its details.
func TestInterceptor_LeavesAnActivitysOwnDetails(t *testing.T) {
	opts := workflow.ActivityOptions{StartToCloseTimeout: time.Minute, HeartbeatTimeout: time.Second}
	err, beats := heartbeats(t, true, opts, func(ctx context.Context) error {
		for i := range 30 {
			activity.RecordHeartbeat(ctx, "file "+string(rune('a'+i%26)))
			if err := sleep(ctx, 50*time.Millisecond); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(beats) == 0 {
		t.Fatal("no heartbeat reached the server")
	}
	for _, b := range beats {
		if b.details == "" {
			t.Errorf("an empty heartbeat replaced the activity's details: %v", beats)
			break
		}
	}
}

// A retried attempt that starts with the details its predecessor left is
// not heartbeated automatically: an empty heartbeat would erase them
// before the attempt reads or records its own.
func TestInterceptor_KeepsAnEarlierAttemptsDetails(t *testing.T) {
	opts := workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute, HeartbeatTimeout: 2 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Millisecond, MaximumAttempts: 2},
	}
	var resumed string
	err, beats := heartbeats(t, true, opts, func(ctx context.Context) error {
		if activity.GetInfo(ctx).Attempt == 1 {
			activity.RecordHeartbeat(ctx, "object 7 of 9")
			return errors.New("store went away")
		}
		// Ticks every 0.5 s would have sent two by now.
		if err := sleep(ctx, 1200*time.Millisecond); err != nil {
			return err
		}
		return activity.GetHeartbeatDetails(ctx, &resumed)
	})
	if err != nil {
		t.Fatal(err)
	}
	if resumed != "object 7 of 9" {
		t.Errorf("attempt 2 resumed from %q, want %q", resumed, "object 7 of 9")
	}
	for _, b := range beats {
		if b.attempt == 2 {
			t.Errorf("attempt 2 heartbeated (%q) before recording anything of its own", b.details)
		}
	}
}

// fakeOut records the heartbeats that pass the interceptor.
type fakeOut struct {
	interceptor.ActivityOutboundInterceptorBase
	info activity.Info
	mu   sync.Mutex
	got  [][]any
}

func (f *fakeOut) GetInfo(context.Context) activity.Info    { return f.info }
func (f *fakeOut) HasHeartbeatDetails(context.Context) bool { return false }
func (f *fakeOut) RecordHeartbeat(_ context.Context, details ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, details)
}

func (f *fakeOut) beats() [][]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]any(nil), f.got...)
}

// fakeActivity is the end of the inbound chain: it runs run with the
// outbound interceptor the chain gave it.
type fakeActivity struct {
	interceptor.ActivityInboundInterceptorBase
	out interceptor.ActivityOutboundInterceptor
	run func(ctx context.Context, out interceptor.ActivityOutboundInterceptor) error
}

func (f *fakeActivity) Init(out interceptor.ActivityOutboundInterceptor) error {
	f.out = out
	return nil
}

func (f *fakeActivity) ExecuteActivity(ctx context.Context, _ *interceptor.ExecuteActivityInput) (any, error) {
	return nil, f.run(ctx, f.out)
}

func execute(t *testing.T, out *fakeOut, run func(context.Context, interceptor.ActivityOutboundInterceptor) error) {
	t.Helper()
	in := (&Interceptor{}).InterceptActivity(context.Background(), &fakeActivity{run: run})
	if err := in.Init(out); err != nil {
		t.Fatal(err)
	}
	if _, err := in.ExecuteActivity(context.Background(), &interceptor.ExecuteActivityInput{}); err != nil {
		t.Fatal(err)
	}
}

// The automatic heartbeat ends with the activity, and the activity's own
// first details end it for good; its empty heartbeats do not.
func TestInterceptor_StopsWithTheActivityAndAtItsDetails(t *testing.T) {
	tests := []struct {
		name      string
		own       []any // what the activity records after 100 ms, if anything
		wantAfter bool  // automatic heartbeats after it
	}{
		{name: "silent", wantAfter: true},
		{name: "own empty heartbeat", own: []any{}, wantAfter: true},
		{name: "own nil heartbeat", own: []any{nil}, wantAfter: true},
		{name: "own details", own: []any{"step 2"}, wantAfter: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := &fakeOut{info: activity.Info{HeartbeatTimeout: 80 * time.Millisecond}} // a beat every 20 ms
			var before int
			execute(t, out, func(ctx context.Context, o interceptor.ActivityOutboundInterceptor) error {
				time.Sleep(100 * time.Millisecond)
				before = len(out.beats())
				if tt.own != nil {
					o.RecordHeartbeat(ctx, tt.own...)
				}
				time.Sleep(100 * time.Millisecond)
				return nil
			})
			beats := out.beats()
			if before < 3 {
				t.Errorf("%d automatic heartbeats in 100 ms at one per 20 ms, want at least 3", before)
			}
			after := beats[before:]
			if tt.own != nil {
				if len(after) == 0 || len(after[0]) != len(tt.own) {
					t.Fatalf("the activity's own heartbeat %v did not pass first: %v", tt.own, after)
				}
				after = after[1:]
			}
			switch {
			case tt.wantAfter && len(after) < 3:
				t.Errorf("%d automatic heartbeats in the 100 ms after, want at least 3", len(after))
			case !tt.wantAfter && len(after) > 0:
				t.Errorf("heartbeats after the activity's details: %v", after)
			}
			time.Sleep(100 * time.Millisecond)
			if n := len(out.beats()) - len(beats); n != 0 {
				t.Errorf("%d heartbeats after the activity returned", n)
			}
		})
	}
}

// Activities without a heartbeat timeout, local ones among them, are not
// heartbeated.
func TestInterceptor_LeavesActivitiesWithoutHeartbeatTimeout(t *testing.T) {
	out := &fakeOut{info: activity.Info{StartToCloseTimeout: time.Minute}}
	execute(t, out, func(context.Context, interceptor.ActivityOutboundInterceptor) error {
		time.Sleep(100 * time.Millisecond)
		return nil
	})
	if n := len(out.beats()); n != 0 {
		t.Errorf("%d heartbeats, want none", n)
	}
}
