package policy

import (
	"fmt"
	"slices"
	"time"

	"github.com/runnerhub/lifeboat/schemas"
)

// Latency baselines: an EWMA and the p95 of the last latencyWindow checks.
// A check is anomalous when it is slower than anomalyFactor times both and
// than anomalyFloor; anomalyRun anomalous (or normal) checks in a row raise
// (or clear) the flag, so one slow check is not news.
const (
	latencyWindow  = 100
	ewmaAlpha      = 0.2
	anomalyFactor  = 3.0
	anomalyFloorMS = 20.0
	anomalyRun     = 3
	minBaseline    = 20 // checks before anomalies are judged
	trendWindow    = 30 // samples a trend is fitted over
)

// TrackConfig is what a Tracker judges a node's checks against.
type TrackConfig struct {
	// Threshold is how many failed checks in a row fail a node, and how
	// many good ones in a row bring a failed node back to healthy.
	Threshold int
	// MaxLagBytes and RPO are a replica's replication lag budget; an RPO
	// of 0 leaves the time out of it.
	MaxLagBytes int64
	RPO         time.Duration
	// Timeout is a check's timeout: the latency trend warns before it.
	Timeout time.Duration
	// Horizon is how far ahead trends are extrapolated.
	Horizon time.Duration
}

type sample struct {
	at time.Time
	v  float64
}

// Tracker turns one node's checks into a judgement: consecutive failures
// against the threshold, latency baselines with anomaly flags, replication
// lag against its budget, and trends extrapolated over the horizon. It
// keeps the history its baselines and trends need, so a probe keeps one
// Tracker a node for as long as it runs.
type Tracker struct {
	obs       schemas.Observation
	latencies []float64
	latTrend  []sample
	lagTrend  []sample
	odd, even int // consecutive anomalous and normal checks
}

// NewTracker starts from the monitor's last judgement of the node, so a
// restarted probe keeps the failure count and baselines it had; a node
// without one starts from the zero Observation.
func NewTracker(known schemas.Observation) *Tracker {
	t := &Tracker{obs: known}
	if known.EWMAMS > 0 {
		// Seed the window with the baseline so anomalies stay judgeable.
		for range minBaseline {
			t.latencies = append(t.latencies, known.P95MS)
		}
	}
	return t
}

// live says whether a check reached the node and got an answer. A replica
// that answers but does not stream is alive: its upstream is the problem.
func live(h schemas.NodeHealth) bool {
	if h.Kind == schemas.KindStore {
		return h.Healthy
	}
	return h.Role != schemas.RoleUnknown
}

// Update folds one check of the node, made from region from at now, into
// the judgement and returns it.
func (t *Tracker) Update(h schemas.NodeHealth, from string, now time.Time, cfg TrackConfig) schemas.Observation {
	o := t.obs
	o.Name, o.Kind, o.Region, o.From = h.Name, h.Kind, h.Region, from
	o.Error = h.Error
	prevState := o.State
	if live(h) {
		o.Role = h.Role
		o.Failures = 0
		switch o.State {
		case schemas.StateFailed, schemas.StateRecovering, schemas.StateUnknown:
			o.Successes++
			o.State = schemas.StateRecovering
			if o.Successes >= cfg.Threshold {
				o.State = schemas.StateHealthy
			}
		default:
			o.Successes = 0
			o.State = schemas.StateHealthy
		}
		t.latency(&o, h.LatencyMS, now, cfg)
		t.replication(&o, h, now, cfg)
	} else {
		o.Successes = 0
		o.Failures++
		o.State = schemas.StateSuspect
		if o.Failures >= cfg.Threshold {
			o.State = schemas.StateFailed
		}
	}
	if o.State != prevState || o.Since.IsZero() {
		o.Since = now
	}
	o.Checked = now
	t.obs = o
	return o
}

func (t *Tracker) latency(o *schemas.Observation, ms float64, now time.Time, cfg TrackConfig) {
	o.LatencyMS = ms
	baseline := len(t.latencies) >= minBaseline
	anomalous := baseline && ms > anomalyFloorMS && ms > anomalyFactor*o.EWMAMS && ms > anomalyFactor*o.P95MS
	if anomalous {
		t.odd, t.even = t.odd+1, 0
	} else {
		t.odd, t.even = 0, t.even+1
	}
	switch {
	case !o.Anomaly && t.odd >= anomalyRun:
		o.Anomaly = true
	case o.Anomaly && t.even >= anomalyRun:
		o.Anomaly = false
	}
	// An anomaly does not teach the baseline that slow is normal.
	if !anomalous {
		if o.EWMAMS == 0 {
			o.EWMAMS = ms
		} else {
			o.EWMAMS = ewmaAlpha*ms + (1-ewmaAlpha)*o.EWMAMS
		}
		t.latencies = append(t.latencies, ms)
		if len(t.latencies) > latencyWindow {
			t.latencies = t.latencies[len(t.latencies)-latencyWindow:]
		}
		o.P95MS = percentile(t.latencies, 0.95)
	}
	t.latTrend = appendSample(t.latTrend, sample{now, ms})
}

func (t *Tracker) replication(o *schemas.Observation, h schemas.NodeHealth, now time.Time, cfg TrackConfig) {
	o.CurrentLSN, o.ReceivedLSN, o.Timeline, o.Upstream = h.CurrentLSN, h.ReceivedLSN, h.Timeline, h.Upstream
	o.Synchronous = nil
	for _, s := range h.Standbys {
		if Synchronous(s.SyncState) {
			o.Synchronous = append(o.Synchronous, s.ApplicationName)
		}
	}
	o.SentinelMaster = h.SentinelMaster
	if h.LagBytes != nil {
		o.LagBytes = *h.LagBytes
	}
	if h.LagSeconds != nil {
		o.LagSeconds = *h.LagSeconds
	}
	if h.Kind != schemas.KindPostgres || h.Role != schemas.RoleReplica {
		o.OverBudget, o.Warning = false, t.latencyWarning(cfg)
		return
	}
	o.OverBudget = o.LagBytes > cfg.MaxLagBytes || (cfg.RPO > 0 && o.LagSeconds > cfg.RPO.Seconds())
	t.lagTrend = appendSample(t.lagTrend, sample{now, float64(o.LagBytes)})
	o.Warning = ""
	if !o.OverBudget {
		if at, ok := crossing(t.lagTrend, float64(cfg.MaxLagBytes), cfg.Horizon); ok {
			o.Warning = fmt.Sprintf("replication lag %d bytes is growing: predicted to pass the %d byte budget in %.0fs",
				o.LagBytes, cfg.MaxLagBytes, at.Seconds())
		}
	}
	if o.Warning == "" {
		o.Warning = t.latencyWarning(cfg)
	}
}

// latencyWarning predicts a check slower than the timeout, at which point
// the node would count as failed.
func (t *Tracker) latencyWarning(cfg TrackConfig) string {
	limit := float64(cfg.Timeout.Milliseconds())
	if at, ok := crossing(t.latTrend, limit, cfg.Horizon); ok {
		return fmt.Sprintf("check latency is growing: predicted to pass the %.0fms timeout in %.0fs", limit, at.Seconds())
	}
	return ""
}

func appendSample(s []sample, x sample) []sample {
	s = append(s, x)
	if len(s) > trendWindow {
		s = s[len(s)-trendWindow:]
	}
	return s
}

// crossing fits a line to the samples (least squares) and says when, within
// horizon, it passes limit. It needs a full window and a rising trend, and
// says nothing once the limit is already passed.
func crossing(s []sample, limit float64, horizon time.Duration) (time.Duration, bool) {
	if len(s) < trendWindow || limit <= 0 {
		return 0, false
	}
	t0 := s[0].at
	var n, sx, sy, sxx, sxy float64
	for _, p := range s {
		x := p.at.Sub(t0).Seconds()
		n++
		sx += x
		sy += p.v
		sxx += x * x
		sxy += x * p.v
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0, false
	}
	slope := (n*sxy - sx*sy) / den
	last := s[len(s)-1]
	if slope <= 0 || last.v >= limit {
		return 0, false
	}
	intercept := (sy - slope*sx) / n
	now := last.at.Sub(t0).Seconds()
	at := (limit-intercept)/slope - now
	if at < 0 || at > horizon.Seconds() {
		return 0, false
	}
	return time.Duration(at * float64(time.Second)), true
}

func percentile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(p * float64(len(s)-1))
	return s[i]
}

// Changed says whether a judgement differs from the known one in a way the
// monitor must hear about: state, role, flags, topology. Numbers that drift
// (latency, lag) are not news until they cross a limit.
func Changed(known, cur schemas.Observation) bool {
	return known.State != cur.State || known.Role != cur.Role ||
		known.Anomaly != cur.Anomaly || known.OverBudget != cur.OverBudget ||
		(known.Warning == "") != (cur.Warning == "") ||
		known.SentinelMaster != cur.SentinelMaster || known.Upstream != cur.Upstream ||
		known.Timeline != cur.Timeline || !slices.Equal(known.Synchronous, cur.Synchronous)
}
