package bench

import (
	"bytes"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{9, 1, 5}, 5},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestSummarize_ThroughputsShareOneDatabaseSize checks that every MB/s
// divides the same size, so backup_vs_raw is the ratio of the seconds.
func TestSummarize_ThroughputsShareOneDatabaseSize(t *testing.T) {
	runs := []run{
		{fs: backupRun{seconds: 10, plainBytes: 800e6, storedBytes: 100e6, peakRSS: 100 << 20},
			s3:  backupRun{seconds: 16, plainBytes: 800e6, storedBytes: 100e6},
			raw: rawRun{seconds: 9, tarBytes: 810e6, storedBytes: 90e6}, restore: restoreRun{seconds: 8, peakRSS: 50 << 20}},
		{fs: backupRun{seconds: 20, plainBytes: 800e6, storedBytes: 100e6, peakRSS: 300 << 20},
			s3:  backupRun{seconds: 16, plainBytes: 800e6, storedBytes: 100e6},
			raw: rawRun{seconds: 9, tarBytes: 810e6, storedBytes: 90e6}, restore: restoreRun{seconds: 8, peakRSS: 40 << 20}},
		{fs: backupRun{seconds: 12, plainBytes: 800e6, storedBytes: 100e6, peakRSS: 120 << 20},
			s3:  backupRun{seconds: 16, plainBytes: 800e6, storedBytes: 100e6},
			raw: rawRun{seconds: 9, tarBytes: 810e6, storedBytes: 90e6}, restore: restoreRun{seconds: 8, peakRSS: 60 << 20}},
	}
	got := map[string]float64{}
	for _, f := range summarize(runs) {
		got[f.name] = f.value
	}
	want := map[string]float64{
		"db_size_mb":         800,
		"backup_s":           12,
		"backup_mb_s":        800.0 / 12,
		"raw_pipeline_mb_s":  800.0 / 9, // the raw tar's own size is not used
		"backup_vs_raw":      9.0 / 12,  // the median of 0.9, 0.45 and 0.75
		"backup_ratio":       8,
		"raw_ratio":          9,
		"restore_mb_s":       100,
		"restore_vs_backup":  12.0 / 8,
		"worker_peak_rss_mb": 300, // the largest, not the median
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g < w*0.999 || g > w*1.001 {
			t.Errorf("%s = %v, want %v", name, g, w)
		}
	}
}

func TestWriteReport_PrintsRunsThenValueThenGoals(t *testing.T) {
	var buf bytes.Buffer
	writeReport(&buf, []figure{
		{name: "backup_mb_s", value: 50, runs: []float64{40, 50, 60}},
		{name: "backup_vs_raw", value: 0.95},
		{name: "restore_vs_backup", value: 0.9},
		{name: "worker_peak_rss_mb", value: 300, runs: []float64{300}, note: "maximum"},
	}, []string{"header"})
	out := buf.String()
	for _, want := range []string{
		"# header\n",
		"# backup_mb_s runs: 40.00 50.00 60.00\nbackup_mb_s=50.00\n",
		"backup_vs_raw=0.950\n",
		"# goal backup_vs_raw >= 0.9 (0.950): met\n",
		"# goal restore at least as fast as the backup, restore_vs_backup >= 1 (0.900): NOT met\n",
		"# goal worker_peak_rss_mb < 256 (300.0): NOT met\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestSummarizeSync_HotPairsOfEveryRoundMakeOneMedian checks that every
// hot-cache pair of every round is a sample of the hot figures, each ratio
// taken within its pair.
func TestSummarizeSync_HotPairsOfEveryRoundMakeOneMedian(t *testing.T) {
	rounds := []syncRound{
		{full: 10, rsyncFull: 5, incr: [3][]float64{{1}, {1, 2, 4}, {3}}, rsyncIncr: [3][]float64{{4}, {2, 2, 2}, {1}}},
		{full: 20, rsyncFull: 5, incr: [3][]float64{{2}, {1, 1, 1}, {3}}, rsyncIncr: [3][]float64{{4}, {3, 0.5, 1.5}, {1}}},
	}
	figs := map[string]figure{}
	for _, f := range summarizeSync(rounds, 1000e6) {
		figs[f.name] = f
	}
	for name, want := range map[string]float64{
		"full_sync_mb_s":           75,   // the median of 100 and 50
		"incremental_vs_rsync":     3,    // the median of 4 and 2
		"incremental_sync_hot_s":   1,    // the median of 1, 2, 4, 1, 1, 1
		"rsync_incremental_hot_s":  2,    // of 2, 2, 2, 3, 0.5, 1.5
		"incremental_hot_vs_rsync": 1.25, // of the pairs' 2, 1, 0.5, 3, 0.5, 1.5
		"incremental_rehash_hot_s": 3,
	} {
		if got := figs[name].value; got < want*0.999 || got > want*1.001 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := len(figs["incremental_hot_vs_rsync"].runs); got != 6 {
		t.Errorf("incremental_hot_vs_rsync lists %d pairs, want 6", got)
	}
}
