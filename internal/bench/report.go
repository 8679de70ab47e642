package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Goals the figures are reported against, as docs/benchmarks.md states them.
const (
	goalBackupVsRaw = 0.9 // Lifeboat's filesystem backup over the raw pipeline's throughput
	goalPeakRSSMiB  = 256 // worker resident memory during a backup
)

// run is what one round of the benchmark measured.
type run struct {
	fs      backupRun  // Lifeboat, filesystem store
	s3      backupRun  // Lifeboat, the stack's S3 store
	raw     rawRun     // pg_basebackup | zstd | age
	restore restoreRun // Lifeboat restore of fs, to a server answering queries
}

// figure is one printed line: the median (or, for peaks, the maximum) of runs.
type figure struct {
	name  string
	value float64
	runs  []float64
	note  string // says how value is derived from runs, when not the median
}

// summarize turns the rounds into figures. Every throughput divides the
// same database size, the median plain tar size of Lifeboat's filesystem
// backups, so the MB/s figures compare as the seconds do.
func summarize(runs []run) []figure {
	each := func(f func(r run) float64) []float64 {
		out := make([]float64, len(runs))
		for i, r := range runs {
			out[i] = f(r)
		}
		return out
	}
	med := func(name string, xs []float64) figure { return figure{name: name, value: median(xs), runs: xs} }
	size := median(each(func(r run) float64 { return float64(r.fs.plainBytes) }))
	mbs := func(s float64) float64 { return size / 1e6 / s }

	backupS := each(func(r run) float64 { return r.fs.seconds })
	s3S := each(func(r run) float64 { return r.s3.seconds })
	rawS := each(func(r run) float64 { return r.raw.seconds })
	restoreS := each(func(r run) float64 { return r.restore.seconds })
	backupMBs := med("backup_mb_s", each(func(r run) float64 { return mbs(r.fs.seconds) }))
	rawMBs := med("raw_pipeline_mb_s", each(func(r run) float64 { return mbs(r.raw.seconds) }))
	restoreMBs := med("restore_mb_s", each(func(r run) float64 { return mbs(r.restore.seconds) }))

	figs := []figure{
		{name: "db_size_mb", value: size / 1e6, note: "median plain tar size of the filesystem backups, 1 MB = 10^6 bytes"},
		med("raw_tar_mb", each(func(r run) float64 { return float64(r.raw.tarBytes) / 1e6 })),
		med("backup_s", backupS),
		backupMBs,
		med("backup_activity_s", each(func(r run) float64 { return r.fs.activitySeconds })),
		med("backup_cpu_s", each(func(r run) float64 { return r.fs.cpuSeconds })),
		med("backup_ratio", each(func(r run) float64 { return ratio(r.fs.plainBytes, r.fs.storedBytes) })),
		med("backup_s3_s", s3S),
		med("backup_s3_mb_s", each(func(r run) float64 { return mbs(r.s3.seconds) })),
		med("backup_s3_ratio", each(func(r run) float64 { return ratio(r.s3.plainBytes, r.s3.storedBytes) })),
		med("raw_pipeline_s", rawS),
		rawMBs,
		med("raw_pipeline_cpu_s", each(func(r run) float64 { return r.raw.cpuSeconds })),
		med("raw_ratio", each(func(r run) float64 { return ratio(r.raw.tarBytes, r.raw.storedBytes) })),
		paired("backup_vs_raw", each(func(r run) float64 { return r.raw.seconds / r.fs.seconds }), backupMBs, rawMBs),
		med("restore_to_query_s", restoreS),
		restoreMBs,
		paired("restore_vs_backup", each(func(r run) float64 { return r.fs.seconds / r.restore.seconds }), restoreMBs, backupMBs),
		peak("worker_peak_rss_mb", each(func(r run) float64 { return mib(r.fs.peakRSS) })),
		peak("restore_worker_peak_rss_mb", each(func(r run) float64 { return mib(r.restore.peakRSS) })),
	}
	return figs
}

// paired is the median of the ratios of pairs of measurements. The two of
// a pair were taken one after the other, under much the same load from the
// rest of the host, so their ratio varies less from pair to pair than the
// measurements do; the ratio of the two medians is given in the note.
func paired(name string, ratios []float64, num, den figure) figure {
	return figure{name: name, value: median(ratios), runs: ratios,
		note: fmt.Sprintf("median of each pair's %s / %s; the ratio of the medians is %s", num.name, den.name, format(num.value/den.value))}
}

// peak is the largest of the runs: a limit holds only if it holds for each.
func peak(name string, xs []float64) figure {
	return figure{name: name, value: slices.Max(xs), runs: xs, note: "maximum of the runs, VmHWM in MiB"}
}

// writeReport prints the figures, each preceded by its runs on a comment
// line, then how they stand against the goals.
func writeReport(w io.Writer, figs []figure, header []string) {
	byName := writeFigures(w, figs, header)
	writeGoal(w, byName["backup_vs_raw"] >= goalBackupVsRaw, fmt.Sprintf("backup_vs_raw >= %.1f (%s)", goalBackupVsRaw, format(byName["backup_vs_raw"])))
	writeGoal(w, byName["restore_vs_backup"] >= 1, fmt.Sprintf("restore at least as fast as the backup, restore_vs_backup >= 1 (%s)", format(byName["restore_vs_backup"])))
	writeGoal(w, byName["worker_peak_rss_mb"] < goalPeakRSSMiB, fmt.Sprintf("worker_peak_rss_mb < %d (%s)", goalPeakRSSMiB, format(byName["worker_peak_rss_mb"])))
}

// writeFigures prints the header as comments and the figures, each
// preceded by its runs on a comment line, and returns them by name.
func writeFigures(w io.Writer, figs []figure, header []string) map[string]float64 {
	for _, h := range header {
		fmt.Fprintf(w, "# %s\n", h)
	}
	byName := map[string]float64{}
	for _, f := range figs {
		if len(f.runs) > 0 || f.note != "" {
			fmt.Fprintf(w, "# %s%s%s\n", f.name, runsText(f.runs), noteText(f.note))
		}
		fmt.Fprintf(w, "%s=%s\n", f.name, format(f.value))
		byName[f.name] = f.value
	}
	return byName
}

// writeGoal prints whether a goal is met.
func writeGoal(w io.Writer, ok bool, text string) {
	verdict := "NOT met"
	if ok {
		verdict = "met"
	}
	fmt.Fprintf(w, "# goal %s: %s\n", text, verdict)
}

func runsText(xs []float64) string {
	if len(xs) == 0 {
		return ""
	}
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = format(x)
	}
	return " runs: " + strings.Join(parts, " ")
}

func noteText(note string) string {
	if note == "" {
		return ""
	}
	return " (" + note + ")"
}

// format prints three significant decimals at most, enough for noisy timings.
func format(x float64) string {
	switch {
	case x >= 100:
		return fmt.Sprintf("%.1f", x)
	case x >= 10:
		return fmt.Sprintf("%.2f", x)
	default:
		return fmt.Sprintf("%.3f", x)
	}
}

// median of xs; the mean of the middle two when their number is even.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func mib(bytes int64) float64 { return float64(bytes) / (1 << 20) }
