package policy

import (
	"slices"
	"time"

	"github.com/runnerhub/lifeboat/schemas"
)

// FailoverBackoff holds off the next automatic failover after one failed.
const FailoverBackoff = 30 * time.Second

// FailoverVerdict is what a monitor does about its failed primary.
type FailoverVerdict string

const (
	// FailoverStart starts a failover of the primary's epoch.
	FailoverStart FailoverVerdict = "start"
	// FailoverPaused starts none: automatic failover is paused.
	FailoverPaused FailoverVerdict = "paused"
	// FailoverRunning starts none: one runs already.
	FailoverRunning FailoverVerdict = "running"
	// FailoverNotCritical starts none: the primary is not critical, so its
	// failure is only alerted.
	FailoverNotCritical FailoverVerdict = "not_critical"
	// FailoverBackingOff starts none yet: a failover failed and
	// st.RetryAfter has not come.
	FailoverBackingOff FailoverVerdict = "backing_off"
)

// JudgeFailover decides, at now, about the failed primary of a monitor in
// state st, whose criticality is criticality: no failover while paused or
// while one runs, none for a primary that is not critical, none before the
// back-off of a failed one ends; else start one.
func JudgeFailover(st schemas.MonitorState, criticality string, now time.Time) FailoverVerdict {
	switch {
	case st.Paused:
		return FailoverPaused
	case st.Failover != nil:
		return FailoverRunning
	case criticality != schemas.CriticalityCritical:
		return FailoverNotCritical
	case now.Before(st.RetryAfter):
		return FailoverBackingOff
	}
	return FailoverStart
}

// JoinsFailover says whether o, a region's new judgement of the primary,
// is a further detection for the failover of the current epoch: the
// primary failed and that failover runs.
func JoinsFailover(st schemas.MonitorState, o schemas.Observation) bool {
	return o.State == schemas.StateFailed && st.Failover != nil && st.Failover.Epoch == st.Epoch
}

// ConfirmedBy lists, in order and once each, the regions whose probes
// judge node failed: its own region's and those that watch it.
func ConfirmedBy(st schemas.MonitorState, node string) []string {
	var regions []string
	for _, key := range sortedKeys(st.Views) {
		if o := st.Views[key]; o.Name == node && o.State == schemas.StateFailed {
			regions = append(regions, o.From)
		}
	}
	if o, ok := st.Components[node]; ok && o.State == schemas.StateFailed {
		regions = append(regions, o.From)
	}
	slices.Sort(regions)
	return slices.Compact(regions)
}
