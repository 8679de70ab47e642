package schemas

import (
	"strconv"
	"time"
)

// FailoverTaskTimeout is the workflow task timeout a Failover is started
// with: a workflow task held by a worker that died is handed to another
// after this long, rather than Temporal's default 10 s. A Failover's tasks
// take milliseconds, and its local activities keep a longer task alive.
const FailoverTaskTimeout = 3 * time.Second

// HA workflow names, IDs, signals and queries.
const (
	HealthMonitorWorkflow = "HealthMonitor"
	FailoverWorkflow      = "Failover"
	SwitchoverWorkflow    = "Switchover"
	RejoinWorkflow        = "Rejoin"

	// SignalFailoverDetected is sent (with signal-with-start) to a Failover
	// run by every detection of the same failure; later ones join the run.
	SignalFailoverDetected = "failover-detected"
	// SignalFailoverDone is sent by a Failover to the monitor that started it.
	SignalFailoverDone = "failover-done"
	// SignalEvent gives the monitor an HA event it did not run itself (a
	// switchover), for its history.
	SignalEvent = "ha-event"
	// SignalPause and SignalResume stop and restart automatic failover.
	SignalPause  = "pause"
	SignalResume = "resume"

	// QueryStatus answers a HealthMonitor's status.
	QueryStatus = "status"
)

// MonitorWorkflowID is the workflow ID of a cluster's HealthMonitor.
func MonitorWorkflowID(cluster string) string { return "monitor/" + cluster }

// FailoverWorkflowID is the workflow ID of the failover that moves a cluster
// away from the primary of epoch.
func FailoverWorkflowID(cluster string, epoch int64) string {
	return "failover/" + cluster + "/" + strconv.FormatInt(epoch, 10)
}

// RoutingRecord says which PostgreSQL node clients must write to. It lives in
// Redis (the routing store) under RoutingKey, and every change to it carries
// a new epoch: a client or guard holding an older epoch is out of date.
type RoutingRecord struct {
	Cluster string `json:"cluster"`
	Epoch   int64  `json:"epoch"`
	// Primary is the node to write to; empty while a failover has fenced the
	// old primary and not yet published the new one.
	Primary string `json:"primary,omitempty"`
	// Addr is the primary's host:port, so clients need no topology.
	Addr string `json:"addr,omitempty"`
	// Fenced is the node the last epoch bump took the primary role from.
	Fenced string `json:"fenced,omitempty"`
	// RedisMaster is the Redis master (host:port) the sentinels agree on.
	RedisMaster string    `json:"redis_master,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// RoutingKey is the Redis key of a cluster's routing record (a JSON string).
func RoutingKey(cluster string) string { return "lifeboat:" + cluster + ":routing" }

// LeaseKey is the Redis key a node guard renews while its node is the
// published primary; it expires when the guard loses the control plane.
func LeaseKey(cluster, node string) string { return "lifeboat:" + cluster + ":lease:" + node }

// HistoryKey is the Redis list of a cluster's failover and switchover events,
// newest first.
func HistoryKey(cluster string) string { return "lifeboat:" + cluster + ":history" }

// DefaultLease is how long a primary keeps accepting writes after its guard
// last reached the routing store.
const DefaultLease = 10 * time.Second

// ReadRoutingInput asks for a cluster's routing record.
type ReadRoutingInput struct {
	Cluster string `json:"cluster"`
}

// ReadRoutingResult is a cluster's routing record, if one exists.
type ReadRoutingResult struct {
	Record RoutingRecord `json:"record"`
	Found  bool          `json:"found"`
	// LeaseRemaining is how long the primary's lease still runs (0 if none).
	LeaseRemaining time.Duration `json:"lease_remaining"`
}

// InitRoutingInput publishes the first routing record of a cluster at epoch
// 1, unless one exists.
type InitRoutingInput struct {
	Cluster string `json:"cluster"`
	Primary string `json:"primary"`
}

// InitRoutingResult is the routing record in force after InitRouting.
type InitRoutingResult struct {
	Record  RoutingRecord `json:"record"`
	Created bool          `json:"created"`
}

// BumpEpochInput takes the primary role from Failed: the record moves from
// Epoch to Epoch+1 with no primary. Repeating it is a no-op.
type BumpEpochInput struct {
	Cluster string `json:"cluster"`
	Epoch   int64  `json:"epoch"`
	Failed  string `json:"failed"`
}

// BumpEpochResult is the routing record after the bump.
type BumpEpochResult struct {
	Record RoutingRecord `json:"record"`
}

// PublishPrimaryInput names the new primary at Epoch (the bumped epoch).
type PublishPrimaryInput struct {
	Cluster string `json:"cluster"`
	Epoch   int64  `json:"epoch"`
	Primary string `json:"primary"`
}

// PublishPrimaryResult is the routing record clients now see.
type PublishPrimaryResult struct {
	Record RoutingRecord `json:"record"`
	// PgBouncerReloaded is true when a pgbouncer was repointed and reloaded.
	PgBouncerReloaded bool `json:"pgbouncer_reloaded,omitempty"`
}

// ConfirmDownInput asks a region's worker whether a node is down from there.
type ConfirmDownInput struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
}

// ConfirmDownResult is a second opinion on a node's failure.
type ConfirmDownResult struct {
	Down   bool   `json:"down"`
	Detail string `json:"detail"`
}

// Fencing methods.
const (
	FencedStopped    = "stopped"     // the postmaster was stopped and marked standby
	FencedKilled     = "killed"      // the postmaster did not stop in time: SIGKILLed with its processes, marked standby
	FencedNotRunning = "not-running" // no postmaster ran; marked standby
	FencedReadOnly   = "read-only"   // reachable over SQL only: made read-only
	FencedNone       = "unreachable" // could not be reached: rely on the lease
)

// FenceNodeInput stops a (former) primary from taking writes.
type FenceNodeInput struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	Epoch   int64  `json:"epoch"`
	// Clean asks for a clean shutdown (a switchover), so that the standbys
	// receive every WAL record before the node stops.
	Clean bool `json:"clean,omitempty"`
}

// FenceNodeResult says how the node was fenced.
type FenceNodeResult struct {
	Fenced bool   `json:"fenced"`
	How    string `json:"how"`
	Detail string `json:"detail,omitempty"`
	// StopLSN is the checkpoint LSN of a clean shutdown, when known.
	StopLSN string `json:"stop_lsn,omitempty"`
}

// PromoteInput promotes a replica to primary. SyncStandbys become its
// synchronous_standby_names (ANY 1 of them); empty means asynchronous.
type PromoteInput struct {
	Cluster      string   `json:"cluster"`
	Node         string   `json:"node"`
	Epoch        int64    `json:"epoch"`
	SyncStandbys []string `json:"sync_standbys,omitempty"`
}

// PromoteResult is the new primary's position after promotion.
type PromoteResult struct {
	AlreadyPrimary bool   `json:"already_primary"`
	Timeline       int64  `json:"timeline"`
	LSN            string `json:"lsn"`
}

// RepointInput makes a replica stream from Primary.
type RepointInput struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	Primary string `json:"primary"`
}

// RepointResult says whether the replica's configuration changed.
type RepointResult struct {
	Changed bool `json:"changed"`
}

// VerifyWriteInput writes one row on the new primary and waits for its commit.
type VerifyWriteInput struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	Epoch   int64  `json:"epoch"`
}

// VerifyWriteResult is the committed write's LSN and how long it took.
type VerifyWriteResult struct {
	LSN    string        `json:"lsn"`
	Took   time.Duration `json:"took"`
	Writer string        `json:"writer"`
}

// WaitCaughtUpInput waits until Node has replayed up to LSN.
type WaitCaughtUpInput struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	LSN     string `json:"lsn"`
}

// WaitCaughtUpResult is the node's replay position when it caught up.
type WaitCaughtUpResult struct {
	ReplayedLSN string `json:"replayed_lsn"`
}

// RejoinNodeInput makes a former primary follow Primary, rewinding it with
// pg_rewind when its timeline diverged.
type RejoinNodeInput struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	Primary string `json:"primary"`
}

// RejoinNodeResult says what was done to the node.
type RejoinNodeResult struct {
	Rewound bool   `json:"rewound"`
	Detail  string `json:"detail"`
}

// Event kinds in a cluster's history.
const (
	EventFailover   = "failover"
	EventSwitchover = "switchover"
	EventRejoin     = "rejoin"
	EventRTOBreach  = "rto_breach"
	EventRedis      = "redis_failover"
)

// HAEvent is one entry of a cluster's history (`lifeboat history`).
type HAEvent struct {
	Cluster    string        `json:"cluster"`
	Kind       string        `json:"kind"`
	WorkflowID string        `json:"workflow_id,omitempty"`
	From       string        `json:"from,omitempty"`
	To         string        `json:"to,omitempty"`
	Epoch      int64         `json:"epoch"`
	Outcome    string        `json:"outcome"` // succeeded, failed, escalated
	Started    time.Time     `json:"started"`
	Finished   time.Time     `json:"finished"`
	Steps      []Step        `json:"steps,omitempty"`
	Detail     string        `json:"detail,omitempty"`
	Took       time.Duration `json:"took"`
}

// RecordEventInput appends an event to the cluster's history and metrics.
type RecordEventInput struct {
	Event HAEvent `json:"event"`
}

// RecordEventResult is empty: the event was stored.
type RecordEventResult struct{}

// ListHistoryInput asks for the newest Limit events of a cluster.
type ListHistoryInput struct {
	Cluster string `json:"cluster"`
	Limit   int    `json:"limit,omitempty"`
}

// ListHistoryResult is a cluster's history, newest first.
type ListHistoryResult struct {
	Events []HAEvent `json:"events"`
}

// AlertInput raises an alert: a log line, a metric and, where the topology
// names one, a webhook.
type AlertInput struct {
	Cluster  string `json:"cluster"`
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	Summary  string `json:"summary"`
}

// AlertResult says where the alert went.
type AlertResult struct {
	Webhook bool `json:"webhook"`
}

// SentinelFailoverInput asks the sentinels to fail the Redis master over.
type SentinelFailoverInput struct {
	Cluster string `json:"cluster"`
}

// SentinelFailoverResult names the sentinel that accepted the request.
type SentinelFailoverResult struct {
	Sentinel string `json:"sentinel"`
}

// PublishRedisMasterInput records the Redis master Sentinel agrees on in the
// routing record.
type PublishRedisMasterInput struct {
	Cluster string `json:"cluster"`
	Master  string `json:"master"`
}

// PublishRedisMasterResult is empty: the record names the master.
type PublishRedisMasterResult struct{}

// UnfenceNodeInput undoes a fence of a failover that promoted nobody: How is
// what FenceNode reported.
type UnfenceNodeInput struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	How     string `json:"how"`
}

// UnfenceNodeResult says whether the node takes writes again.
type UnfenceNodeResult struct {
	Writable bool `json:"writable"`
}

// Failover slots: at most a limit of failovers run at once across all
// clusters; the rest wait their turn, visibly (query `slots`).
const (
	FailoverSlotsWorkflow = "FailoverSlots"
	// FailoverSlotsID is the one workflow that hands out the slots.
	FailoverSlotsID = "lifeboat/failover-slots"
	// SignalAcquireSlot asks for a slot; SignalReleaseSlot gives one back;
	// SignalSlotGranted tells a waiting failover it may go.
	SignalAcquireSlot = "acquire"
	SignalReleaseSlot = "release"
	SignalSlotGranted = "slot-granted"
	// QuerySlots answers who holds and who waits for a slot.
	QuerySlots = "slots"
	// DefaultMaxFailovers is the limit unless a worker sets another.
	DefaultMaxFailovers = 3
)

// FailoverSlotsInput starts or continues the slots workflow.
type FailoverSlotsInput struct {
	Limit   int      `json:"limit"`
	Holders []string `json:"holders,omitempty"`
	Waiting []string `json:"waiting,omitempty"`
}

// SlotRequest is the payload of acquire and release: the failover's
// workflow ID.
type SlotRequest struct {
	WorkflowID string `json:"workflow_id"`
}

// AcquireSlotInput asks, from a failover, for a slot (signal-with-start of
// the slots workflow with Limit).
type AcquireSlotInput struct {
	WorkflowID string `json:"workflow_id"`
}

// AcquireSlotResult is empty: the grant comes by signal.
type AcquireSlotResult struct{}
