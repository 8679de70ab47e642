package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/internal/failbench"
)

// TestChaosRepeatedFailovers runs failovers in a row through the monitor,
// as make bench-failover does: each round SIGKILLs the primary while the
// failbench writer inserts every 10 ms through the routing record, the
// old primary is restarted and rejoins, and every acknowledged insert is
// looked for on the new primary. With the synchronous standby none may be
// lost; the rounds after those run without one (the primary's
// synchronous_standby_names emptied before the kill) and their loss is
// reported. The full suite runs 20 + 3 rounds, the reduced set 1 + 1.
func TestChaosRepeatedFailovers(t *testing.T) {
	row := chaosRow{Scenario: "repeated failovers"}
	recordChaos(t, &row)
	rounds, async := 1, 1
	if chaosFull() {
		rounds, async = 20, 3
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rounds+async+1)*3*time.Minute)
	defer cancel()
	res, err := failbench.Measure(ctx, failbench.Config{Root: root, Rounds: rounds, AsyncRounds: async, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	row.LostWrites = res.Lost
	row.Recovered = time.Duration(slices.Max(res.Rounds) * float64(time.Second))
	sorted := slices.Sorted(slices.Values(res.Rounds))
	row.Detail = fmt.Sprintf("%d failovers with the synchronous standby, %d without (%d acknowledged writes lost there); kill to first write p50 %.2fs, max %.2fs; %d writes acknowledged; switch back lost %d",
		rounds, async, res.AsyncLost, sorted[len(sorted)/2], sorted[len(sorted)-1], res.Acked, res.SwitchLost)
	if res.Lost != 0 || res.SwitchLost != 0 {
		t.Errorf("%d acknowledged writes lost with the synchronous standby, %d by the switch back; want 0", res.Lost, res.SwitchLost)
	}
	want := int64(rounds + async)
	if res.Switched {
		want++
	}
	if got := res.LastEpoch - res.FirstEpoch; got != want {
		t.Errorf("the routing record moved %d epochs, want %d: one per failover and switchover", got, want)
	}
	h := newHA(t)
	if err := h.waitHealthy(ctx, time.Minute); err != nil {
		t.Errorf("after the rounds: %v", err)
	}
}
