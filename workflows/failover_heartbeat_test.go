package workflows

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/runnerhub/lifeboat/schemas"
)

// heartbeatTimeouts records, by activity type, how soon each activity (not
// local activity) a run starts is retried after its worker died: its
// heartbeat timeout, or else its start-to-close timeout.
func heartbeatTimeouts(env *testsuite.TestWorkflowEnvironment) func() map[string]time.Duration {
	var mu sync.Mutex
	got := map[string]time.Duration{}
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		mu.Lock()
		defer mu.Unlock()
		got[info.ActivityType.Name] = info.HeartbeatTimeout
		if info.HeartbeatTimeout == 0 {
			got[info.ActivityType.Name] = -info.StartToCloseTimeout
		}
	})
	return func() map[string]time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}

// checkHeartbeatTimeouts wants haHeartbeat on each activity of want and
// on every other one but selfBeating ones, which heartbeat themselves under
// a timeout of their own, and quick ones (a start-to-close timeout of 10 s
// at most, shown negative).
func checkHeartbeatTimeouts(t *testing.T, got map[string]time.Duration, want []string, selfBeating ...string) {
	t.Helper()
	for _, name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("%s did not run as an activity: %v", name, got)
		}
	}
	for name, d := range got {
		switch {
		case slices.Contains(selfBeating, name):
			if d <= 0 {
				t.Errorf("%s: no heartbeat timeout", name)
			}
		case d < 0 && d >= -10*time.Second && !slices.Contains(want, name):
		case d != haHeartbeat:
			t.Errorf("%s: heartbeat timeout %s (negative: none, start-to-close), want %s: a worker's death would hold the step until its start-to-close timeout", name, d, haHeartbeat)
		}
	}
}

// Every activity of a failover, compensations included, is retried within
// haHeartbeat of its worker's death.
func TestFailover_EveryActivityNoticesItsWorkersDeathInSeconds(t *testing.T) {
	h := newFailoverEnv(t)
	got := heartbeatTimeouts(h.env)
	h.env.ExecuteWorkflow(Failover, failedA1)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	checkHeartbeatTimeouts(t, got(), []string{"ConfirmDown", "ProbeRegion", "FenceNode", "Promote", "Repoint", "VerifyWrite", "RecordEvent"})

	h = newFailoverEnv(t)
	h.probe = func(region string) schemas.ProbeRegionResult {
		r := failedPrimaryProbe(region)
		for i := range r.Nodes {
			r.Nodes[i].ReceivedLSN = "0/1000000" // no candidate: the saga undoes its steps
		}
		return r
	}
	got = heartbeatTimeouts(h.env)
	h.env.ExecuteWorkflow(Failover, failedA1)
	if h.env.GetWorkflowError() == nil {
		t.Fatal("the failover without a candidate succeeded")
	}
	checkHeartbeatTimeouts(t, got(), []string{"PublishPrimary", "UnfenceNode"})
}
