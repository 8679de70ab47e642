package schemas

import "time"

// LatestBackup names the newest usable backup in a RestoreInput.
const LatestBackup = "latest"

// RestoreInput is the input of the Restore workflow, the JSON operators give
// to `temporal workflow start --type Restore` or the Web UI's start form:
//
//	{"cluster":"dev","backup":"latest","data_dir":"/var/lib/lifeboat/restore","port":15500}
type RestoreInput struct {
	Cluster string `json:"cluster"`
	// Backup is a backup ID or "latest".
	Backup string `json:"backup"`
	// Until, when set, is the point in time to recover to (RFC 3339); WAL is
	// replayed from the archive up to it. Empty recovers to the end of the
	// archive.
	Until string `json:"until,omitempty"`
	// Region is where the restored server runs; empty means the topology's
	// DR region.
	Region string `json:"region,omitempty"`
	// DataDir is the data directory to create on the region's worker host;
	// it must not exist or be empty.
	DataDir string `json:"data_dir"`
	// Port is the loopback port the restored server listens on.
	Port int `json:"port"`
	// Store is where the backup is read from: "" tries the primary store
	// and falls back to the replica, StorePrimary and StoreReplica use
	// only that one.
	Store string `json:"store,omitempty"`
}

// Which store a restore reads from (RestoreInput.Store).
const (
	StoreAuto    = ""
	StorePrimary = "primary"
	StoreReplica = "replica"
)

// StoreChoices are the valid values of RestoreInput.Store.
var StoreChoices = []string{StoreAuto, StorePrimary, StoreReplica}

// RestoreResult says what was recovered and how long it took.
type RestoreResult struct {
	BackupID string `json:"backup_id"`
	Region   string `json:"region"`
	DataDir  string `json:"data_dir"`
	Port     int    `json:"port"`
	// RecoveredLSN is where WAL replay ended.
	RecoveredLSN string `json:"recovered_lsn"`
	// LastCommit is the time of the last transaction recovered: the point
	// actually recovered, which a target time bounds from above.
	LastCommit *time.Time `json:"last_commit,omitempty"`
	// Seconds is the achieved RTO: from the workflow's start to a verified,
	// queryable server.
	Seconds float64 `json:"seconds"`
	Steps   []Step  `json:"steps"`
	// Store is the store the backup was read from: primary or replica.
	Store string `json:"store,omitempty"`
}

// Step is the duration of one step of a workflow, for reports.
type Step struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// FindBackupInput asks for the manifest of a backup by ID, or of the newest
// backup of a kind that ended before a time.
type FindBackupInput struct {
	Cluster string `json:"cluster"`
	Backup  string `json:"backup"`
	Kind    string `json:"kind"`
	// Before, when set, excludes backups that ended after it.
	Before *time.Time `json:"before,omitempty"`
	// Store is as in RestoreInput.
	Store string `json:"store,omitempty"`
}

// FindBackupResult is the manifest found and the store it was read from.
type FindBackupResult struct {
	Manifest Manifest `json:"manifest"`
	// Store is StorePrimary or StoreReplica.
	Store string `json:"store"`
}

// RestoreBaseInput unpacks a database backup into a new data directory.
type RestoreBaseInput struct {
	Cluster  string   `json:"cluster"`
	Manifest Manifest `json:"manifest"`
	DataDir  string   `json:"data_dir"`
	// Store is as in RestoreInput.
	Store string `json:"store,omitempty"`
}

// RestoreBaseResult reports what was unpacked and from which store.
type RestoreBaseResult struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
	// Store is StorePrimary or StoreReplica.
	Store string `json:"store"`
	// WALSpooled says the WAL the recovery reads was downloaded beside the
	// files, for the restored server to copy instead of fetching it.
	WALSpooled bool `json:"wal_spooled,omitempty"`
}

// StartRestoredInput writes the recovery settings into a restored data
// directory and starts PostgreSQL on it until recovery ends.
type StartRestoredInput struct {
	Cluster string `json:"cluster"`
	DataDir string `json:"data_dir"`
	Port    int    `json:"port"`
	Until   string `json:"until,omitempty"`
}

// StartRestoredResult is the restored server once it accepts writes.
type StartRestoredResult struct {
	RecoveredLSN string     `json:"recovered_lsn"`
	LastCommit   *time.Time `json:"last_commit,omitempty"`
}

// VerifyRestoredInput checks a restored server with queries.
type VerifyRestoredInput struct {
	Port int `json:"port"`
}

// VerifyRestoredResult is what the queries found.
type VerifyRestoredResult struct {
	Databases []string `json:"databases"`
	Tables    int      `json:"tables"`
}

// RestoreProgress is what the unpacking heartbeats.
type RestoreProgress struct {
	BytesDone int64   `json:"bytes_done"`
	Total     int64   `json:"total"`
	Files     int     `json:"files"`
	MBPerSec  float64 `json:"mb_per_second"`
}
