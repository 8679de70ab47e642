package guard

import (
	"fmt"
	"time"
)

// RecordState is what the routing record says of the guard's node.
type RecordState int

const (
	// RecordNone: the cluster has no routing record; the guard does nothing.
	RecordNone RecordState = iota
	// RecordPrimary: the record names this node primary; its lease was renewed.
	RecordPrimary
	// RecordOther: the record names another primary, or names this node
	// as the one its last epoch bump fenced.
	RecordOther
	// RecordUnassigned: a failover has fenced another node and not yet
	// published the new primary.
	RecordUnassigned
)

// Observation is what one check saw.
type Observation struct {
	// Reachable is whether the routing store answered; StoreErr says why not.
	Reachable bool
	StoreErr  error
	Record    RecordState
	Epoch     int64
	Primary   string
	Fenced    string
	// SinceRenewal is the time since the guard last renewed the node's
	// lease, or negative when it has not since it started or last fenced.
	SinceRenewal time.Duration
	// Running is whether a postmaster runs; RunningErr when that is unknown.
	Running    bool
	RunningErr error
	// InRecovery is the server's answer, when InRecoveryKnown.
	InRecoveryKnown bool
	InRecovery      bool
	// ProbeErr is why the node did not answer the guard's own probe this
	// time, and SinceAnswer how long ago it last did (since the guard
	// started, when never). A node that does not answer is not renewed.
	ProbeErr    error
	SinceAnswer time.Duration
}

// needsLocal reports whether the decision depends on the local node.
func (o Observation) needsLocal() bool {
	if o.Reachable {
		return o.Record == RecordOther
	}
	return o.SinceRenewal >= 0
}

// mayWrite reports whether the local node may be taking writes: a
// postmaster runs (or that is unknown) and it is not known to be a standby.
func (o Observation) mayWrite() bool {
	return (o.Running || o.RunningErr != nil) && !(o.InRecoveryKnown && o.InRecovery)
}

// Decision is what the guard does after a check.
type Decision struct {
	Fence bool
	// ReasonCode is a metric label; Reason is for the log.
	ReasonCode string
	Reason     string
	// Err is a fence that failed.
	Err error
}

// Decide is the guard's rule. The node is fenced when it may be taking
// writes and either the routing record gives the primary role to another
// node (or took it from this one), or the routing store has been out of
// reach for lease - interval since the last renewal of a node that was the
// published primary: by the time the lease runs out, it is fenced. The
// published primary's lease is renewed only while the node answers the
// guard's own probe; one that has not answered for lease - interval (a
// frozen host, hung storage) is fenced as well, so its lease runs out on
// time and a failover that waits for it waits no longer than the lease.
func Decide(o Observation, lease, interval time.Duration) Decision {
	if o.Reachable {
		switch o.Record {
		case RecordNone:
			return Decision{ReasonCode: "no-record", Reason: "the cluster has no routing record"}
		case RecordPrimary:
			if o.ProbeErr == nil {
				return Decision{ReasonCode: "renewed", Reason: fmt.Sprintf("primary at epoch %d; lease renewed", o.Epoch)}
			}
			if o.SinceAnswer < lease-interval {
				return Decision{ReasonCode: "not-renewed", Reason: fmt.Sprintf("primary at epoch %d; lease not renewed: the node did not answer (%v)", o.Epoch, o.ProbeErr)}
			}
			return Decision{Fence: true, ReasonCode: "unresponsive",
				Reason: fmt.Sprintf("the node has not answered for %s; the %s lease ends (%v)", o.SinceAnswer.Round(time.Millisecond), lease, o.ProbeErr)}
		case RecordUnassigned:
			return Decision{ReasonCode: "unassigned", Reason: fmt.Sprintf("epoch %d has no primary yet; %s was fenced", o.Epoch, o.Fenced)}
		}
		if !o.mayWrite() {
			return Decision{ReasonCode: "standby", Reason: "not a writable primary"}
		}
		reason := fmt.Sprintf("the routing record at epoch %d names %s primary", o.Epoch, o.Primary)
		if o.Primary == "" {
			reason = fmt.Sprintf("the routing record at epoch %d took the primary role from this node", o.Epoch)
		}
		return Decision{Fence: true, ReasonCode: "superseded", Reason: reason}
	}
	switch {
	case o.SinceRenewal < 0:
		return Decision{ReasonCode: "not-primary", Reason: fmt.Sprintf("routing store unreachable, but this node held no lease (%v)", o.StoreErr)}
	case o.SinceRenewal < lease-interval:
		return Decision{ReasonCode: "lease-running", Reason: fmt.Sprintf("routing store unreachable for %s of the %s lease (%v)", o.SinceRenewal.Round(time.Millisecond), lease, o.StoreErr)}
	case !o.mayWrite():
		return Decision{ReasonCode: "standby", Reason: "lease lost, but the node takes no writes"}
	}
	return Decision{Fence: true, ReasonCode: "lease-lost",
		Reason: fmt.Sprintf("routing store unreachable for %s since the last renewal; the %s lease ends (%v)", o.SinceRenewal.Round(time.Millisecond), lease, o.StoreErr)}
}
