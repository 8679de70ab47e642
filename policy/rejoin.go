package policy

import (
	"time"

	"github.com/runnerhub/lifeboat/schemas"
)

const (
	// RejoinGrace is how long a replica may fail to stream from the primary
	// (a repoint in progress) before it is rejoined.
	RejoinGrace = 10 * time.Second
	// DownRejoinAfter is how long a node with a data directory may stay
	// down before it is rejoined (started as a replica of the primary).
	DownRejoinAfter = 30 * time.Second
	// RejoinSettle holds off judging a rejoined node until the probes have
	// seen it follow.
	RejoinSettle = time.Minute
	// RejoinBackoff spaces the attempts to rejoin a node that failed one.
	RejoinBackoff = 10 * time.Minute
)

// CanRejoin says whether a monitor in state st may rejoin nodes: the
// primary it routes to is healthy and primary, no failover runs, and the
// cluster is not paused (a paused cluster is being worked on; a
// switchover rejoins by itself).
func CanRejoin(st schemas.MonitorState) bool {
	if st.Primary == "" || st.Failover != nil || st.Paused {
		return false
	}
	p := st.Components[st.Primary]
	return p.State == schemas.StateHealthy && p.Role == schemas.RolePrimary
}

// RejoinVerdict is what a monitor does about one PostgreSQL node.
type RejoinVerdict struct {
	// Start rejoins the node now.
	Start bool
	// RecheckAt, unless zero, is when the node is to be judged again.
	RecheckAt time.Time
}

// JudgeRejoin decides, at now, whether o, a PostgreSQL node other than
// primary, is rejoined to it. A node is rejoined when it has diverged (it
// calls itself primary, or is a replica that has not streamed, or has been
// on an older timeline, for RejoinGrace), or when it has been down for
// DownRejoinAfter and has a data directory its region's worker can start:
// a fenced former primary does not come back by itself. Nothing is started
// before after, the back-off of the node's last rejoin.
func JudgeRejoin(o, primary schemas.Observation, hasDataDir bool, after, now time.Time) RejoinVerdict {
	if now.Before(after) {
		return RejoinVerdict{RecheckAt: after}
	}
	replica := o.Role == schemas.RoleReplica
	failed := o.State == schemas.StateFailed
	graced := now.Sub(o.Since) >= RejoinGrace
	diverged := o.Role == schemas.RolePrimary ||
		(replica && o.Error != "" && graced) ||
		(replica && o.Timeline != 0 && primary.Timeline != 0 && o.Timeline < primary.Timeline && graced)
	down := failed && hasDataDir && now.Sub(o.Since) >= DownRejoinAfter
	if down || (diverged && !failed) {
		return RejoinVerdict{Start: true}
	}
	switch {
	case replica && o.Error != "":
		return RejoinVerdict{RecheckAt: o.Since.Add(RejoinGrace)}
	case failed && hasDataDir:
		return RejoinVerdict{RecheckAt: o.Since.Add(DownRejoinAfter)}
	}
	return RejoinVerdict{}
}
