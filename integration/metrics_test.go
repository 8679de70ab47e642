package integration

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/internal/devstack"
)

// scrape returns the Lifeboat samples of a worker's /metrics, by series
// ("name{labels}" as exposed) → value.
func scrape(t *testing.T, port int) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for line := range strings.SplitSeq(httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port)), "\n") {
		if !strings.HasPrefix(line, "lifeboat_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestWorker_ExportsOperationsMetrics takes a backup and probes the stack,
// then reads both workers' /metrics as Prometheus would: the targets of the
// topology, the newest backup read from the store (each worker, whichever
// made it), replication lag in seconds from the replicas, the WAL archive
// backlog from the primary, and the counters the alerts use from zero.
func TestWorker_ExportsOperationsMetrics(t *testing.T) {
	m := backupNow(t)
	lifeboat(t, "check", "dev") // a probe of every node by its region's worker

	union := map[string]float64{}
	deadline := time.Now().Add(90 * time.Second) // the backup series are read from the store once a minute
	for _, port := range []int{devstack.WorkerAPort, devstack.WorkerBPort} {
		for {
			got := scrape(t, port)
			for k, v := range got {
				union[k] = v
			}
			key := `lifeboat_backup_last_success_timestamp_seconds{cluster="dev",kind="database"}`
			end := float64(m.EndTime.UnixMilli()) / 1000
			if v, ok := got[key]; ok && v >= end-0.001 {
				if size := got[`lifeboat_backup_last_success_size_bytes{cluster="dev",kind="database"}`]; size <= 0 {
					t.Errorf("worker %d: newest database backup size %v", port, size)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("worker %d reports %s = %v, want the backup %s that ended at %v", port, key, got[key], m.ID, end)
			}
			time.Sleep(5 * time.Second)
		}
	}

	for series, want := range map[string]float64{
		`lifeboat_target_rto_seconds{cluster="dev"}`:                                    -1,
		`lifeboat_target_rpo_seconds{cluster="dev"}`:                                    -1,
		`lifeboat_target_max_lag_bytes{cluster="dev"}`:                                  -1,
		`lifeboat_backup_store_readable{cluster="dev"}`:                                 1,
		`lifeboat_drills_total{cluster="dev",result="failed"}`:                          -1,
		`lifeboat_ha_events_total{cluster="dev",kind="rto_breach",outcome="escalated"}`: -1,
		`lifeboat_backup_throughput_bytes_per_second{cluster="dev",kind="database"}`:    -1,
	} {
		got, ok := union[series]
		switch {
		case !ok:
			t.Errorf("no worker exports %s", series)
		case want >= 0 && got != want:
			t.Errorf("%s = %v, want %v", series, got, want)
		case want < 0 && (math.IsNaN(got) || got < 0):
			t.Errorf("%s = %v", series, got)
		}
	}
	for _, prefix := range []string{"lifeboat_replication_lag_seconds{", "lifeboat_wal_archive_lag_seconds{", "lifeboat_wal_archive_pending_segments{"} {
		found := false
		for k := range union {
			found = found || strings.HasPrefix(k, prefix)
		}
		if !found {
			t.Errorf("no worker exports %s...}: the probe of a replica or of the primary did not report it", prefix)
		}
	}
	t.Logf("%d Lifeboat series across both workers", len(union))
}
