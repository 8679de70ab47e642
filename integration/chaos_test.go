package integration

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"text/tabwriter"
	"time"
)

// The reliability suite (`make chaos`) is the integration tests named
// TestChaos…: each one breaks something on the local stack and records one
// row of the table printed at the end of the run. `make test` runs the
// reduced set (one run of each, the fastest step); LIFEBOAT_CHAOS=full runs
// every repetition the scenario defines.

// chaosRow is one line of the reliability table.
type chaosRow struct {
	Scenario string
	// LostWrites is the count of acknowledged writes missing afterwards;
	// -1 when the scenario has no writer.
	LostWrites int
	// Recovered is the time from the fault to the system serving again; 0
	// when the scenario has no recovery to time.
	Recovered time.Duration
	// Detail says what was checked, in a few words.
	Detail string
	passed bool
}

var chaosRows struct {
	sync.Mutex
	rows []chaosRow
}

// chaosFull reports whether the whole suite runs (`make chaos`) rather than
// the reduced set of `make test`.
func chaosFull() bool { return os.Getenv("LIFEBOAT_CHAOS") == "full" }

// recordChaos adds r to the table when t ends, passed unless t failed. Call
// it with a pointer the test fills in as it goes.
func recordChaos(t *testing.T, r *chaosRow) {
	t.Helper()
	t.Cleanup(func() {
		r.passed = !t.Failed()
		chaosRows.Lock()
		defer chaosRows.Unlock()
		chaosRows.rows = append(chaosRows.rows, *r)
	})
}

// printChaosTable writes the table of the scenarios that ran, if any, to w
// and to .dev/chaos-table.txt.
func printChaosTable(w io.Writer) {
	chaosRows.Lock()
	defer chaosRows.Unlock()
	if len(chaosRows.rows) == 0 {
		return
	}
	write := func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SCENARIO\tRESULT\tACKED WRITES LOST\tTIME TO RECOVER\tCHECKED")
		for _, r := range chaosRows.rows {
			result, lost, rec := "FAIL", "-", "-"
			if r.passed {
				result = "pass"
			}
			if r.LostWrites >= 0 {
				lost = fmt.Sprint(r.LostWrites)
			}
			if r.Recovered > 0 {
				rec = r.Recovered.Round(10 * time.Millisecond).String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Scenario, result, lost, rec, r.Detail)
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "\nReliability scenarios:")
	write(w)
	if f, err := os.Create(filepath.Join(root, ".dev", "chaos-table.txt")); err == nil {
		write(f)
		f.Close()
	}
}
