package schemas

import (
	"fmt"
	"regexp"
	"time"
)

// Backup kinds.
const (
	BackupDatabase = "database"
	BackupFiles    = "files"
	BackupConfig   = "config"
)

// BackupKinds lists every kind, in the order operators see them.
var BackupKinds = []string{BackupDatabase, BackupFiles, BackupConfig}

// ManifestFormatVersion is written into every manifest; readers refuse newer ones.
const ManifestFormatVersion = 1

// Manifest describes one finished backup. It is written last: a backup
// without a manifest does not exist.
type Manifest struct {
	FormatVersion int    `json:"format_version"`
	ID            string `json:"id"`
	Cluster       string `json:"cluster"`
	Kind          string `json:"kind"`
	// Source is the node (or file tree) the backup was taken from.
	Source string `json:"source,omitempty"`
	// Object is the key of the sealed data in the store.
	Object    string    `json:"object"`
	StartTime time.Time `json:"start_time"`
	EndTime   time.Time `json:"end_time"`

	// StartLSN, StopLSN and Timeline are set for database backups: restoring
	// needs the WAL from StartLSN on, and is consistent from StopLSN.
	StartLSN        string `json:"start_lsn,omitempty"`
	StopLSN         string `json:"stop_lsn,omitempty"`
	Timeline        int64  `json:"timeline,omitempty"`
	PostgresVersion string `json:"postgres_version,omitempty"`

	PlainSize    int64  `json:"plain_size"`
	StoredSize   int64  `json:"stored_size"`
	PlainSHA256  string `json:"plain_sha256"`
	StoredSHA256 string `json:"stored_sha256"`

	// Recipients are the age public keys the backup is encrypted to.
	Recipients       []string `json:"recipients"`
	Compression      string   `json:"compression"`
	CompressionLevel int      `json:"compression_level"`

	// Parts lists every sealed object of a backup taken in pieces (files
	// and config: one per region). Object and the sizes and sums above
	// repeat the first part, so readers that know one object check a real one.
	Parts []BackupPart `json:"parts,omitempty"`
}

// walSegmentName is a WAL segment file: timeline, log and segment, 8 hex
// digits each. History and backup-label files are archived too.
var (
	walSegmentName = regexp.MustCompile(`^[0-9A-F]{24}$`)
	walOtherName   = regexp.MustCompile(`^([0-9A-F]{8}\.history|[0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup))$`)
)

// CheckWALName accepts the names PostgreSQL gives to the files it archives
// and refuses anything else, so a WAL key can never escape its prefix.
func CheckWALName(name string) error {
	if walSegmentName.MatchString(name) || walOtherName.MatchString(name) {
		return nil
	}
	return fmt.Errorf("%q is not a WAL file name (24 upper-case hex digits, or a .history, .partial or .backup file)", name)
}

// Object keys in a store, under the store's prefix. A cluster's objects all
// live below its name, so several clusters may share a bucket.

// ManifestKey is where a backup's manifest lives.
func ManifestKey(cluster, id string) string { return cluster + "/backups/" + id + "/manifest.json" }

// BackupDataKey is where a backup's sealed data lives.
func BackupDataKey(cluster, id string) string {
	return cluster + "/backups/" + id + "/data.tar.zst.age"
}

// BackupsPrefix is the prefix under which every backup of a cluster lives.
func BackupsPrefix(cluster string) string { return cluster + "/backups/" }

// WALKey is where an archived WAL file lives.
func WALKey(cluster, name string) string { return cluster + "/wal/" + name + ".zst.age" }

// NewBackupID names a backup by its start time and kind, so IDs sort by time.
func NewBackupID(start time.Time, kind string) string {
	return start.UTC().Format("20060102T150405Z") + "-" + kind
}

// UniqueBackupID is NewBackupID with the last six hex digits of the workflow run that
// takes the backup: two backups of a kind started in the same second (a
// scheduled one and a manual one) must not share objects.
func UniqueBackupID(start time.Time, kind, runID string) string {
	// Run IDs are UUIDv7, whose first digits are a timestamp: take the
	// random tail.
	hex := []byte("000000")
	for i, n := len(runID)-1, 5; i >= 0 && n >= 0; i-- {
		if c := runID[i]; ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') {
			hex[n] = c
			n--
		}
	}
	return NewBackupID(start, kind) + "-" + string(hex)
}

// BackupIDPattern matches the IDs NewBackupID and UniqueBackupID make.
var BackupIDPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[a-z]+(-[0-9a-f]{6})?$`)

// BackupInput is the input of the Backup workflow.
type BackupInput struct {
	Cluster string `json:"cluster"`
	// Kind is database, files or config.
	Kind string `json:"kind"`
	// Source names the PostgreSQL node to copy; empty picks the healthiest
	// replica (the synchronous one first), or the primary when none is healthy.
	Source string `json:"source,omitempty"`
}

// BackupResult is the manifest of the finished, verified backup.
type BackupResult struct {
	Manifest Manifest `json:"manifest"`
	// Seconds is the wall time of the whole workflow.
	Seconds float64 `json:"seconds"`
	// Skipped names what a files backup left out and why (see BackupFilesResult).
	Skipped []string `json:"skipped,omitempty"`
}

// BackupDatabaseInput asks a region's worker to stream a base backup of one
// node into the store.
type BackupDatabaseInput struct {
	Cluster string `json:"cluster"`
	ID      string `json:"id"`
	Source  string `json:"source"`
}

// BackupDatabaseResult is the manifest of the uploaded data, not yet written.
type BackupDatabaseResult struct {
	Manifest Manifest `json:"manifest"`
}

// BackupProgress is what a backup upload heartbeats: the Web UI shows it in
// the activity's details.
type BackupProgress struct {
	Object         string  `json:"object"`
	BytesDone      int64   `json:"bytes_done"`
	EstimatedTotal int64   `json:"estimated_total"`
	MBPerSecond    float64 `json:"mb_per_second"`
}

// WriteManifestInput stores a backup's manifest, which makes it exist.
type WriteManifestInput struct {
	Manifest Manifest `json:"manifest"`
}

// WriteManifestResult names the stored manifest.
type WriteManifestResult struct {
	Key string `json:"key"`
}

// DeleteBackupInput removes a backup's objects (used to undo a failed one).
type DeleteBackupInput struct {
	Cluster string `json:"cluster"`
	ID      string `json:"id"`
}

// DeleteBackupResult lists the keys removed.
type DeleteBackupResult struct {
	Deleted []string `json:"deleted"`
}

// WALRecordKey is where the record of an archived WAL file lives. It is
// written after the data, so a record always describes a whole object.
func WALRecordKey(cluster, name string) string { return cluster + "/wal/" + name + ".json" }

// WALPrefix is the prefix of a cluster's archived WAL.
func WALPrefix(cluster string) string { return cluster + "/wal/" }

// WALRecord describes one archived WAL file: what was pushed, so a second
// push of the same name can tell a harmless retry from a conflicting file.
type WALRecord struct {
	Name         string    `json:"name"`
	PlainSize    int64     `json:"plain_size"`
	PlainSHA256  string    `json:"plain_sha256"`
	StoredSize   int64     `json:"stored_size"`
	StoredSHA256 string    `json:"stored_sha256"`
	Recipients   []string  `json:"recipients"`
	PushedAt     time.Time `json:"pushed_at"`
}

// BackupPartKey is where the sealed data of one region's part of a files
// or config backup lives.
func BackupPartKey(cluster, id, kind, region string) string {
	return cluster + "/backups/" + id + "/" + kind + "-" + region + ".tar.zst.age"
}

// BackupPart is one sealed object of a backup, with the sums to verify it.
type BackupPart struct {
	Key    string `json:"key"`
	Region string `json:"region"`
	// Source names what the part holds: file trees, or nodes.
	Source       string `json:"source,omitempty"`
	PlainSize    int64  `json:"plain_size"`
	StoredSize   int64  `json:"stored_size"`
	PlainSHA256  string `json:"plain_sha256"`
	StoredSHA256 string `json:"stored_sha256"`
}

// BackupFilesInput asks a region's worker to tar every file tree of its
// region into one sealed object.
type BackupFilesInput struct {
	Cluster string `json:"cluster"`
	ID      string `json:"id"`
	Region  string `json:"region"`
}

// BackupFilesResult is the manifest of one region's uploaded trees, not yet written.
type BackupFilesResult struct {
	Manifest Manifest `json:"manifest"`
	// Skipped names what was left out and why: sockets, devices and pipes,
	// and files removed while the backup ran.
	Skipped []string `json:"skipped,omitempty"`
}

// BackupConfigInput asks a region's worker to store the topology and the
// configuration of the region's PostgreSQL, Redis and Sentinel nodes.
type BackupConfigInput struct {
	Cluster string `json:"cluster"`
	ID      string `json:"id"`
	Region  string `json:"region"`
}

// BackupConfigResult is the manifest of one region's uploaded configuration, not yet written.
type BackupConfigResult struct {
	Manifest Manifest `json:"manifest"`
}

// ProbeSourcesInput asks for the state of every PostgreSQL node of a
// cluster, to choose a backup's source.
type ProbeSourcesInput struct {
	Cluster string `json:"cluster"`
}

// ProbeSourcesResult is each region's PostgreSQL nodes as one worker saw
// them.
type ProbeSourcesResult struct {
	Regions []ProbeRegionResult `json:"regions"`
}
