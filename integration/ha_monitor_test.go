package integration

import (
	"bufio"
	"bytes"
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/internal/failbench"
	"github.com/runnerhub/lifeboat/schemas"
)

// TestHA_MonitorFailsOverAKilledPrimaryAndSwitchesBackLosingNothing runs
// the whole automatic path on the real stack: the HealthMonitor sees the
// primary's postmaster SIGKILLed, the Failover promotes the synchronous
// standby and repoints the other replica, a writer going through the
// routing record loses no acknowledged insert, the old primary is restarted
// and rejoins as a replica, and a Switchover hands the role back with the
// writer still on, losing nothing either.
func TestHA_MonitorFailsOverAKilledPrimaryAndSwitchesBackLosingNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	got := benchRound(ctx, t, failbench.FaultKill)
	if secs, err := strconv.ParseFloat(got["failover_max_s"], 64); err != nil || secs > 10 {
		t.Errorf("failover took %q s, want at most 10", got["failover_max_s"])
	}
	for _, k := range []string{"lost_acked_writes", "switchover_lost_acked_writes"} {
		if got[k] != "0" {
			t.Errorf("%s = %q, want 0", k, got[k])
		}
	}

	c := temporalClient(t)
	v, err := c.QueryWorkflow(ctx, schemas.MonitorWorkflowID("dev"), "", schemas.QueryStatus)
	if err != nil {
		t.Fatal(err)
	}
	var st schemas.MonitorState
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	if st.Primary != "pg-a1" || st.Status != schemas.ClusterHealthy {
		t.Errorf("after the test: primary %s, status %s; want pg-a1 and healthy", st.Primary, st.Status)
	}
	// One failover and one switchover, each exactly one epoch.
	if got["epoch_steps"] != "2" {
		t.Errorf("the routing record moved %s epochs, want 2 (one failover, one switchover)", got["epoch_steps"])
	}
	var kinds []string
	for _, e := range st.Events {
		kinds = append(kinds, e.Kind)
	}
	n := len(kinds)
	if n == 0 || kinds[n-1] != schemas.EventSwitchover || !slices.Contains(kinds, schemas.EventFailover) {
		t.Errorf("monitor history %v: want the failover, and the switchover last", kinds)
	}
}

// TestHA_MonitorFailsOverAFrozenPrimary freezes pg-a1 (SIGSTOP of its
// postmaster and every backend: connections hang instead of being
// refused). The fence must not wait for a stop the frozen postmaster never
// handles: the first write on the new primary comes as fast as after a
// kill.
func TestHA_MonitorFailsOverAFrozenPrimary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	got := benchRound(ctx, t, failbench.FaultFreeze)
	if secs, err := strconv.ParseFloat(got["failover_max_s"], 64); err != nil || secs > 10 {
		t.Errorf("failover of a frozen primary took %q s, want at most 10", got["failover_max_s"])
	}
	if got["lost_acked_writes"] != "0" {
		t.Errorf("lost_acked_writes = %q, want 0", got["lost_acked_writes"])
	}
}

// benchRound runs one round of the failover benchmark with fault and
// returns the name=value lines it printed.
func benchRound(ctx context.Context, t *testing.T, fault string) map[string]string {
	t.Helper()
	var out bytes.Buffer
	err := failbench.Run(ctx, failbench.Config{Root: root, Rounds: 1, Fault: fault, Logf: t.Logf}, &out)
	t.Logf("bench output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			got[k] = v
		}
	}
	return got
}
