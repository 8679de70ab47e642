package schemas

import "time"

// Node kinds in a health report.
const (
	KindPostgres = "postgres"
	KindRedis    = "redis"
	KindSentinel = "sentinel"
	KindStore    = "store"
)

// Roles in a health report.
const (
	RolePrimary  = "primary"
	RoleReplica  = "replica"
	RoleMaster   = "master"
	RoleSentinel = "sentinel"
	RoleStore    = "store"
	RoleUnknown  = "unknown"
)

// CheckClusterInput is the input of the CheckCluster workflow.
type CheckClusterInput struct {
	Cluster string `json:"cluster"`
}

// CheckClusterResult is the health of every node of a cluster at one moment.
type CheckClusterResult struct {
	Cluster   string       `json:"cluster"`
	CheckedAt time.Time    `json:"checked_at"`
	Healthy   bool         `json:"healthy"`
	Nodes     []NodeHealth `json:"nodes"`
	// Problems lists, in words, every reason the cluster is not healthy.
	Problems []string `json:"problems,omitempty"`
	// Level is the availability level the evidence proves and what the
	// next one lacks; nil from checks that predate it.
	Level *LevelReport `json:"level,omitempty"`
}

// NodeHealth is what a probe saw of one node.
type NodeHealth struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Region  string `json:"region"`
	Role    string `json:"role"`
	Healthy bool   `json:"healthy"`
	// Error says why the node is unhealthy or could not be probed.
	Error     string  `json:"error,omitempty"`
	LatencyMS float64 `json:"latency_ms"`

	// PostgreSQL. LSNs are in PostgreSQL's text form (0/3000148).
	CurrentLSN  string `json:"current_lsn,omitempty"`
	ReceivedLSN string `json:"received_lsn,omitempty"`
	ReplayedLSN string `json:"replayed_lsn,omitempty"`
	Timeline    int64  `json:"timeline,omitempty"`
	// Upstream is the primary a replica streams from, as host:port.
	Upstream  string `json:"upstream,omitempty"`
	Streaming bool   `json:"streaming,omitempty"`
	// SyncState is a replica's sync_state as its primary reports it
	// (SyncStateSync, SyncStateQuorum, SyncStatePotential, SyncStateAsync);
	// empty when the primary does not list it. Synchronous says whether
	// that state holds acknowledged commits (policy.Synchronous).
	SyncState   string   `json:"sync_state,omitempty"`
	Synchronous bool     `json:"synchronous,omitempty"`
	LagBytes    *int64   `json:"lag_bytes,omitempty"`
	LagSeconds  *float64 `json:"lag_seconds,omitempty"`
	// Standbys is a primary's view of its replicas (pg_stat_replication).
	Standbys []StandbyStat `json:"standbys,omitempty"`
	// WALArchive is a primary's backlog of WAL waiting for archive_command.
	WALArchive *WALArchiveStatus `json:"wal_archive,omitempty"`

	// Redis.
	Addr         string `json:"addr,omitempty"`
	ReplOffset   *int64 `json:"repl_offset,omitempty"`
	MasterAddr   string `json:"master_addr,omitempty"`
	MasterLinkUp bool   `json:"master_link_up,omitempty"`

	// Sentinel: the master it names, and whether that agrees with the others
	// and with the Redis node that reports itself master.
	SentinelMaster string `json:"sentinel_master,omitempty"`
	Agrees         bool   `json:"agrees,omitempty"`
	OtherSentinels int    `json:"other_sentinels,omitempty"`

	// Store.
	Bucket string `json:"bucket,omitempty"`
}

// WALArchiveStatus is the WAL a primary has finished writing and not yet
// archived: a restore from the archive would lose it, so its age is the
// archive's recovery point now.
type WALArchiveStatus struct {
	// Pending is the number of finished segments waiting (.ready files).
	Pending int64 `json:"pending"`
	// OldestSeconds is how long the oldest of them has waited; 0 when none.
	OldestSeconds float64 `json:"oldest_seconds"`
	// Error says why the backlog could not be read; the rest is then zero.
	Error string `json:"error,omitempty"`
}

// Sync states of a standby, as pg_stat_replication.sync_state reports them.
const (
	// SyncStateSync: a synchronous standby named by priority
	// (synchronous_standby_names = 'a' or 'FIRST n (...)').
	SyncStateSync = "sync"
	// SyncStateQuorum: one of the standbys of a quorum
	// (synchronous_standby_names = 'ANY n (...)').
	SyncStateQuorum = "quorum"
	// SyncStatePotential: named by priority, but waited for only when a
	// synchronous standby before it goes away.
	SyncStatePotential = "potential"
	// SyncStateAsync: not named; commits never wait for it.
	SyncStateAsync = "async"
)

// StandbyStat is one row of a primary's pg_stat_replication.
type StandbyStat struct {
	ApplicationName string `json:"application_name"`
	State           string `json:"state"`
	SyncState       string `json:"sync_state"`
	SentLSN         string `json:"sent_lsn"`
	ReplayLSN       string `json:"replay_lsn"`
	// ReplayLagBytes is pg_current_wal_lsn() - replay_lsn on the primary.
	ReplayLagBytes int64 `json:"replay_lag_bytes"`
}

// DescribeClusterInput asks a worker for the topology of a cluster.
type DescribeClusterInput struct {
	Cluster string `json:"cluster"`
}

// DescribeClusterResult is a cluster's topology as the worker knows it.
// Topologies hold no secrets, so this may sit in workflow history.
type DescribeClusterResult struct {
	Topology Topology `json:"topology"`
}

// ProbeRegionInput asks a region's worker to probe that region's nodes once.
type ProbeRegionInput struct {
	Cluster string `json:"cluster"`
	Region  string `json:"region"`
}

// ProbeRegionResult is the health of every node in one region, and of the
// object store as seen from there.
type ProbeRegionResult struct {
	Region string       `json:"region"`
	Nodes  []NodeHealth `json:"nodes"`
}
