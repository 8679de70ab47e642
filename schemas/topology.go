package schemas

import (
	"encoding/json"
	"fmt"
	"time"
)

// Topology describes one protected cluster: where its nodes are, where its
// backups go and the recovery targets it must meet. It holds no secret: every
// password, key or identity is named by an environment variable or a file.
type Topology struct {
	// Cluster is the name operators and workflow inputs use for this stack.
	Cluster string `json:"cluster"`
	// Regions are the failure domains, each with its own worker task queue.
	Regions []Region `json:"regions"`
	// Redis names the Sentinel master group of the cluster's Redis nodes.
	Redis *RedisGroup `json:"redis,omitempty"`
	// Files are the file trees protected by backup and file sync.
	Files []FileTree `json:"files,omitempty"`
	// Backup says where backups and WAL go and who can read them.
	Backup Backup `json:"backup"`
	// Targets are the recovery objectives the cluster must meet.
	Targets Targets `json:"targets"`
	// Monitor tunes the health monitor.
	Monitor Monitor `json:"monitor,omitempty"`
	// Failover tunes fencing, promotion and escalation.
	Failover Failover `json:"failover,omitempty"`
	// Drill says where disaster-recovery drills build their scratch servers.
	Drill *Drill `json:"drill,omitempty"`
}

// Region is one failure domain and the nodes that live in it.
type Region struct {
	Name      string         `json:"name"`
	Postgres  []PostgresNode `json:"postgres,omitempty"`
	Redis     []RedisNode    `json:"redis,omitempty"`
	Sentinels []SentinelNode `json:"sentinels,omitempty"`
}

// Secret names where a secret value lives; it never holds the value itself.
type Secret struct {
	// Env is the name of an environment variable holding the value.
	Env string `json:"env,omitempty"`
	// File is the path of a file holding the value (trailing newline trimmed).
	File string `json:"file,omitempty"`
}

// IsZero reports whether the secret names nothing.
func (s Secret) IsZero() bool { return s.Env == "" && s.File == "" }

// PostgresNode is one PostgreSQL server. Its role (primary or replica) is not
// configured: it is discovered by probes, since failover changes it.
type PostgresNode struct {
	// Name is unique in the cluster; replicas use it as application_name.
	Name string `json:"name"`
	// DSN is a libpq URL or keyword string without a password.
	DSN string `json:"dsn"`
	// Password names where the connection password lives.
	Password *Secret `json:"password,omitempty"`
	// Priority ranks failover candidates: higher is preferred.
	Priority int `json:"priority,omitempty"`
	// DataDir is the node's data directory as its region's worker sees it;
	// fencing by stopping the postmaster and rejoining with pg_rewind need it.
	DataDir string `json:"data_dir,omitempty"`
	// Criticality decides what the node's failure triggers; default critical.
	Criticality string `json:"criticality,omitempty"`
	// LogFile is where the server's output goes when Lifeboat starts it (a
	// rejoin); empty means the file the running postmaster writes to, or
	// log/lifeboat-postgres.log in the data directory.
	LogFile string `json:"log_file,omitempty"`
}

// RedisNode is one Redis server (master or replica, as Sentinel decides).
type RedisNode struct {
	Name     string  `json:"name"`
	Addr     string  `json:"addr"`
	Password *Secret `json:"password,omitempty"`
	// Criticality decides what the node's failure triggers; default major.
	Criticality string `json:"criticality,omitempty"`
}

// SentinelNode is one Redis Sentinel.
type SentinelNode struct {
	Name     string  `json:"name"`
	Addr     string  `json:"addr"`
	Password *Secret `json:"password,omitempty"`
	// Criticality decides what the node's failure triggers; default minor.
	Criticality string `json:"criticality,omitempty"`
}

// RedisGroup is the Sentinel configuration shared by the cluster's Redis nodes.
type RedisGroup struct {
	// MasterName is the name Sentinel monitors the master under.
	MasterName string `json:"master_name"`
}

// FileTree is a directory protected by backups and replicated by file sync.
type FileTree struct {
	Name   string `json:"name"`
	Region string `json:"region"`
	Path   string `json:"path"`
	// AllowDeletes lets file sync propagate deletions to the destination.
	AllowDeletes bool `json:"allow_deletes,omitempty"`
	// Sync is where file sync keeps a copy of the tree; none means the
	// tree is only backed up.
	Sync *FileSyncTarget `json:"sync,omitempty"`
}

// Backup is where backups go and who can decrypt them.
type Backup struct {
	Store Store `json:"store"`
	// Recipients are age X25519 public keys; every backup is readable by each.
	Recipients []string `json:"recipients"`
	// Identity names where the age identity (private key) for restores lives.
	Identity *Secret `json:"identity,omitempty"`
	// DRRegion is the region drills and DR restores run in.
	DRRegion string `json:"dr_region,omitempty"`
	// Retention is how many backups are kept; absent means 7 daily, 4
	// weekly and 12 monthly.
	Retention *Retention `json:"retention,omitempty"`
	// Replica is a second store, in another region, that every backup and
	// WAL file is copied to and verified in, so losing the first store
	// loses no backup. Restores read from either.
	Replica *Store `json:"replica,omitempty"`
	// ReplicaRegion is the region whose workers copy backups to the replica
	// (the one nearest it); empty means DRRegion.
	ReplicaRegion string `json:"replica_region,omitempty"`
}

// CopyRegion is the region whose workers copy backups to the replica store,
// or "" when no region is named.
func (b Backup) CopyRegion() string {
	if b.ReplicaRegion != "" {
		return b.ReplicaRegion
	}
	return b.DRRegion
}

// Store kinds.
const (
	StoreS3    = "s3"
	StoreLocal = "local"
)

// Store is an object store: S3-compatible or a local directory.
type Store struct {
	Type string `json:"type"`
	// Bucket and Endpoint are for S3; Endpoint is empty for AWS itself.
	Bucket    string `json:"bucket,omitempty"`
	Endpoint  string `json:"endpoint,omitempty"`
	Region    string `json:"region,omitempty"`
	PathStyle bool   `json:"path_style,omitempty"`
	// Prefix is the folder of the bucket every object key is put under; a
	// trailing slash is implied.
	Prefix string `json:"prefix,omitempty"`
	// AccessKey and SecretKey name the credentials; when both are absent the
	// usual AWS credential chain is used.
	AccessKey *Secret `json:"access_key,omitempty"`
	SecretKey *Secret `json:"secret_key,omitempty"`
	// Path is the directory of a local store.
	Path string `json:"path,omitempty"`
	// PartSizeMB is the part size of S3 multipart uploads in MiB, 5 to 5120
	// (default 16). Streams of up to 10,000 parts fit, and an upload holds
	// part size × (UploadConcurrency + 1) bytes in memory.
	PartSizeMB int `json:"part_size_mb,omitempty"`
	// UploadConcurrency is the number of parts of one upload sent at once,
	// 1 to 64 (default 4).
	UploadConcurrency int `json:"upload_concurrency,omitempty"`
}

// Targets are a cluster's recovery objectives.
type Targets struct {
	RTO Duration `json:"rto"`
	RPO Duration `json:"rpo"`
	// MaxLagBytes is the replication lag beyond which a replica may not be
	// promoted without force. Zero means derived from the RPO alone.
	MaxLagBytes int64 `json:"max_lag_bytes,omitempty"`
}

// Monitor tunes failure detection.
type Monitor struct {
	// ProbeInterval is how often each node is checked (default 1s).
	ProbeInterval Duration `json:"probe_interval,omitempty"`
	// FailureThreshold is the number of consecutive failed checks that make a
	// component failed (default 3).
	FailureThreshold int `json:"failure_threshold,omitempty"`
	// Postgres is the least-privileged login (a member of pg_monitor) that
	// probes and the heartbeat reach every PostgreSQL node as, in place of
	// the user and password of the node's DSN. Promotion, fencing, rejoin,
	// backups, restores and drills always use the DSN's. Absent, probes use
	// the DSN's too.
	Postgres *PostgresLogin `json:"postgres,omitempty"`
}

// PostgresLogin is a PostgreSQL role and where its password lives.
type PostgresLogin struct {
	User     string  `json:"user"`
	Password *Secret `json:"password,omitempty"`
}

// Defaults of the monitor.
const (
	DefaultProbeInterval    = time.Second
	DefaultFailureThreshold = 3
)

// Interval returns the probe interval, or its default.
func (m Monitor) Interval() time.Duration {
	if m.ProbeInterval <= 0 {
		return DefaultProbeInterval
	}
	return time.Duration(m.ProbeInterval)
}

// Threshold returns the failure threshold, or its default.
func (m Monitor) Threshold() int {
	if m.FailureThreshold <= 0 {
		return DefaultFailureThreshold
	}
	return m.FailureThreshold
}

// Region returns the region named name.
func (t *Topology) Region(name string) (Region, bool) {
	for _, r := range t.Regions {
		if r.Name == name {
			return r, true
		}
	}
	return Region{}, false
}

// RegionNames returns the names of the regions, in topology order.
func (t *Topology) RegionNames() []string {
	names := make([]string, len(t.Regions))
	for i, r := range t.Regions {
		names[i] = r.Name
	}
	return names
}

// Duration is a time.Duration written as a Go duration string ("15m", "1s").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"15m\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: use a form such as \"90s\" or \"15m\"", s)
	}
	*d = Duration(v)
	return nil
}

// Std returns the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Criticality levels: what a component's failure triggers.
const (
	// CriticalityCritical: a failover (PostgreSQL primary) or a Sentinel nudge.
	CriticalityCritical = "critical"
	// CriticalityMajor: an alert.
	CriticalityMajor = "major"
	// CriticalityMinor: a change of status only.
	CriticalityMinor = "minor"
)

// Failover tunes fencing, promotion and escalation.
type Failover struct {
	// Lease is how long a primary keeps taking writes after its guard last
	// reached the routing store; default 10s.
	Lease Duration `json:"lease,omitempty"`
	// DRPromotion lets the monitor promote a replica in the backup's DR
	// region when a failover breaches the RTO.
	DRPromotion bool `json:"dr_promotion,omitempty"`
	// Webhook receives alerts as JSON by POST.
	Webhook string `json:"webhook,omitempty"`
	// Replication is the role replicas stream as, for rejoined nodes.
	Replication *ReplicationAuth `json:"replication,omitempty"`
	// PgBouncer lists the poolers repointed at every new primary.
	PgBouncer []PgBouncer `json:"pgbouncer,omitempty"`
	// SentinelWindow is how long Sentinel may take to replace a failed Redis
	// master before the monitor asks it to; default 30s.
	SentinelWindow Duration `json:"sentinel_window,omitempty"`
	// PGBin is the directory of pg_ctl and pg_rewind on the workers.
	PGBin string `json:"pg_bin,omitempty"`
}

// Defaults of Failover.
const (
	DefaultSentinelWindow = 30 * time.Second
)

// LeaseOrDefault returns the lease, or DefaultLease.
func (f Failover) LeaseOrDefault() time.Duration {
	if f.Lease <= 0 {
		return DefaultLease
	}
	return time.Duration(f.Lease)
}

// SentinelWindowOrDefault returns the Sentinel window, or its default.
func (f Failover) SentinelWindowOrDefault() time.Duration {
	if f.SentinelWindow <= 0 {
		return DefaultSentinelWindow
	}
	return time.Duration(f.SentinelWindow)
}

// ReplicationAuth is the role and password replicas connect with.
type ReplicationAuth = PostgresLogin

// PgBouncer is one pooler in front of the primary: its databases file is
// rewritten and it is told to RELOAD through its admin console.
type PgBouncer struct {
	Name   string `json:"name"`
	Region string `json:"region"`
	// DatabasesFile is an ini file pgbouncer %includes, rewritten whole.
	DatabasesFile string `json:"databases_file"`
	// Database is the name clients use; its entry points at the primary.
	Database string `json:"database"`
	// AdminDSN reaches the admin console (database pgbouncer).
	AdminDSN string  `json:"admin_dsn"`
	Password *Secret `json:"password,omitempty"`
}
