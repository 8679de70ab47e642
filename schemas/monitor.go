package schemas

import "time"

// Component states, as the monitor's probes judge them.
const (
	StateHealthy    = "healthy"
	StateSuspect    = "suspect"    // failing, below the threshold
	StateFailed     = "failed"     // threshold reached
	StateRecovering = "recovering" // answering again, not yet for threshold checks
	// StateDegraded marks a component whose own checks pass but whose
	// upstream failed: a replica is not failed because its primary is.
	StateDegraded = "degraded"
	StateUnknown  = "unknown" // no probe of its region answers
)

// Circuit states of a component.
const (
	CircuitClosed   = "closed"
	CircuitOpen     = "open"
	CircuitHalfOpen = "half-open"
)

// Cluster states a monitor reports.
const (
	ClusterHealthy     = "healthy"
	ClusterDegraded    = "degraded"
	ClusterFailingOver = "failing_over"
	ClusterRTOBreached = "rto_breached"
	ClusterNoPrimary   = "no_primary"
	ClusterPaused      = "paused"
	ClusterStarting    = "starting"
)

// StoreComponent names the object store as seen from a region, a component
// of its own: each region reaches the store by its own path.
func StoreComponent(region string) string { return "backup-store/" + region }

// PredictionHorizon is how far ahead the probes extrapolate lag and latency
// trends to warn before a budget is crossed.
const PredictionHorizon = 60 * time.Second

// Observation is a probe's judgement of one component, kept by the monitor.
type Observation struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Region string `json:"region"`
	// From is the region whose probe saw it.
	From  string `json:"from"`
	Role  string `json:"role"`
	State string `json:"state"`
	// Failures counts consecutive failed checks; Successes consecutive good
	// ones since the last failure.
	Failures  int    `json:"failures"`
	Successes int    `json:"successes"`
	Error     string `json:"error,omitempty"`

	// Latency baselines of the checks, in milliseconds.
	LatencyMS float64 `json:"latency_ms"`
	EWMAMS    float64 `json:"ewma_ms"`
	P95MS     float64 `json:"p95_ms"`
	Anomaly   bool    `json:"anomaly,omitempty"`

	// Replication, for PostgreSQL nodes.
	LagBytes    int64    `json:"lag_bytes,omitempty"`
	LagSeconds  float64  `json:"lag_seconds,omitempty"`
	OverBudget  bool     `json:"over_budget,omitempty"`
	CurrentLSN  string   `json:"current_lsn,omitempty"`
	ReceivedLSN string   `json:"received_lsn,omitempty"`
	Timeline    int64    `json:"timeline,omitempty"`
	Upstream    string   `json:"upstream,omitempty"`
	Synchronous []string `json:"synchronous,omitempty"`

	// Warning is a prediction: a budget the trend crosses within the horizon.
	Warning string `json:"warning,omitempty"`

	// Redis and Sentinel.
	SentinelMaster string `json:"sentinel_master,omitempty"`

	Since time.Time `json:"since"`
	// Checked is when the check this judgement is from started.
	Checked time.Time `json:"checked,omitempty"`
}

// Key identifies an observation by the node and the region that saw it.
func (o Observation) Key() string { return o.From + "/" + o.Name }

// MonitorProbeInput runs a region's long-lived probe: it checks its nodes
// (and Watch, nodes of other regions such as the primary) every Interval
// and returns when a judgement differs from Known, or after MaxWait.
type MonitorProbeInput struct {
	Cluster   string        `json:"cluster"`
	Region    string        `json:"region"`
	Watch     []string      `json:"watch,omitempty"`
	Interval  time.Duration `json:"interval"`
	Threshold int           `json:"threshold"`
	MaxWait   time.Duration `json:"max_wait"`
	// Known is the last judgement the monitor holds, by node name.
	Known map[string]Observation `json:"known,omitempty"`
}

// MonitorProbeResult is the region's judgement of every node it checks, and
// the nodes whose judgement changed.
type MonitorProbeResult struct {
	Region       string                 `json:"region"`
	Observations map[string]Observation `json:"observations"`
	Changed      []string               `json:"changed,omitempty"`
	Checks       int                    `json:"checks"`
}

// MonitorInput starts or continues a cluster's HealthMonitor.
type MonitorInput struct {
	Cluster string `json:"cluster"`
	// State is carried across continue-as-new; empty on a first start.
	State *MonitorState `json:"state,omitempty"`
	// ContinueAfter continues as new after this many history events, besides
	// when the server suggests it; 0 means 10,000.
	ContinueAfter int `json:"continue_after,omitempty"`
}

// ActiveFailover is a failover the monitor started and waits for.
type ActiveFailover struct {
	WorkflowID string    `json:"workflow_id"`
	Failed     string    `json:"failed"`
	Epoch      int64     `json:"epoch"`
	Started    time.Time `json:"started"`
	Deadline   time.Time `json:"deadline"`
	Breached   bool      `json:"breached,omitempty"`
	DRPromoted bool      `json:"dr_promoted,omitempty"`
}

// MonitorState is what a HealthMonitor knows; the `status` query returns it.
type MonitorState struct {
	Cluster string `json:"cluster"`
	Status  string `json:"status"`
	Paused  bool   `json:"paused"`
	// PausedBy lists who holds a pause, with their reasons.
	PausedBy map[string]string `json:"paused_by,omitempty"`
	// RetryAfter holds off the next automatic failover after a failed one.
	RetryAfter time.Time `json:"retry_after,omitempty"`
	Primary    string    `json:"primary,omitempty"`
	Epoch      int64     `json:"epoch"`
	// Components holds each component's judgement by its own region's probe;
	// Views holds other regions' judgements of watched nodes, by Key.
	Components map[string]Observation `json:"components"`
	Views      map[string]Observation `json:"views,omitempty"`
	Order      []string               `json:"order"`
	Failover   *ActiveFailover        `json:"failover,omitempty"`
	// Rejoining names nodes a Rejoin runs for; RejoinAfter holds off a node
	// whose last rejoin failed.
	Rejoining   map[string]string    `json:"rejoining,omitempty"`
	RejoinAfter map[string]time.Time `json:"rejoin_after,omitempty"`
	// RedisMaster is the master the sentinels agree on.
	RedisMaster      string    `json:"redis_master,omitempty"`
	RedisMasterSince time.Time `json:"redis_master_since,omitempty"`
	// Problems lists in words what is wrong now; Warnings what the trends predict.
	Problems []string  `json:"problems,omitempty"`
	Warnings []string  `json:"warnings,omitempty"`
	Horizon  string    `json:"prediction_horizon"`
	Events   []HAEvent `json:"events,omitempty"`
	// Alerted remembers components alerted about, so one failure alerts once.
	Alerted  map[string]bool `json:"alerted,omitempty"`
	Runs     int             `json:"runs"`
	Updated  time.Time       `json:"updated"`
	Started  time.Time       `json:"started"`
	Failures int             `json:"failovers"`
}

// FailoverInput starts a Failover of a cluster away from Failed, the primary
// of Epoch.
type FailoverInput struct {
	Cluster string `json:"cluster"`
	Failed  string `json:"failed"`
	Epoch   int64  `json:"epoch"`
	// LastPrimaryLSN and Synchronous are the monitor's last view of the
	// failed primary: its WAL position and its synchronous standbys.
	LastPrimaryLSN string   `json:"last_primary_lsn,omitempty"`
	Synchronous    []string `json:"synchronous,omitempty"`
	// ConfirmedBy lists regions whose probes saw the failure.
	ConfirmedBy []string `json:"confirmed_by,omitempty"`
	// Force promotes a replica beyond the allowed lag; OnlyRegion restricts
	// the choice (DR promotion).
	Force      bool   `json:"force,omitempty"`
	OnlyRegion string `json:"only_region,omitempty"`
	// Monitor is the workflow ID told when the failover ends; may be empty.
	Monitor string `json:"monitor,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// FailoverResult is what a Failover did.
type FailoverResult struct {
	Cluster   string          `json:"cluster"`
	Failed    string          `json:"failed"`
	Promoted  string          `json:"promoted"`
	Epoch     int64           `json:"epoch"`
	Fenced    string          `json:"fenced"`
	Candidate CandidateChoice `json:"candidate"`
	Verified  string          `json:"verified_lsn"`
	Steps     []Step          `json:"steps"`
	Took      time.Duration   `json:"took"`
	// Detections counts the detections that joined this failover.
	Detections int `json:"detections"`
}

// FailoverDone is the signal a Failover sends its monitor when it ends.
type FailoverDone struct {
	WorkflowID string `json:"workflow_id"`
	Epoch      int64  `json:"epoch"`
	Promoted   string `json:"promoted,omitempty"`
	Error      string `json:"error,omitempty"`
}

// FailoverDetected is the payload of a detection signal.
type FailoverDetected struct {
	Region string    `json:"region"`
	At     time.Time `json:"at"`
}

// StartFailoverInput signal-with-starts a Failover under its ID, so that a
// second detection joins the running one.
type StartFailoverInput struct {
	Failover FailoverInput    `json:"failover"`
	Detected FailoverDetected `json:"detected"`
	// JoinOnly sends the detection to a running failover and starts none:
	// a second region's detection of a failure whose failover may have
	// ended meanwhile.
	JoinOnly bool `json:"join_only,omitempty"`
}

// StartFailoverResult names the run the detection joined or started.
type StartFailoverResult struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	// Finished is true when that failover had already ended.
	Finished bool `json:"finished,omitempty"`
}

// SwitchoverInput moves the primary role to Candidate without losing a write.
type SwitchoverInput struct {
	Cluster   string `json:"cluster"`
	Candidate string `json:"candidate"`
}

// SwitchoverResult is what a Switchover did.
type SwitchoverResult struct {
	Cluster  string        `json:"cluster"`
	From     string        `json:"from"`
	To       string        `json:"to"`
	Epoch    int64         `json:"epoch"`
	StopLSN  string        `json:"stop_lsn"`
	Steps    []Step        `json:"steps"`
	Took     time.Duration `json:"took"`
	Rejoined bool          `json:"rejoined"`
}

// RejoinInput makes a former primary follow the current primary.
type RejoinInput struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
}

// RejoinResult is what a Rejoin did.
type RejoinResult struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	Primary string `json:"primary"`
	Rewound bool   `json:"rewound"`
	Detail  string `json:"detail"`
}

// SwitchoverWorkflowID and RejoinWorkflowID name the runs of a cluster.
func SwitchoverWorkflowID(cluster string) string { return "switchover/" + cluster }

// RejoinWorkflowID names the run rejoining node.
func RejoinWorkflowID(cluster, node string) string { return "rejoin/" + cluster + "/" + node }

// PauseRequest is the payload of the pause and resume signals. Automatic
// failover stays off while any owner holds a pause: the operator
// (`lifeboat pause`) or a switchover in progress.
type PauseRequest struct {
	Owner  string `json:"owner"`
	Reason string `json:"reason,omitempty"`
}

// OwnerOperator is the pause owner of `lifeboat pause` and `resume`.
const OwnerOperator = "operator"
