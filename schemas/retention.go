package schemas

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Retention is the grandfather-father-son policy of a cluster's topology
// (backup.retention). An absent field takes its default; zero keeps none of
// that period, though the newest backup of each kind is always kept.
type Retention struct {
	// Daily is how many days back the newest backup of each day is kept (default 7).
	Daily *int `json:"daily,omitempty"`
	// Weekly is how many ISO weeks back the newest backup of each week is kept (default 4).
	Weekly *int `json:"weekly,omitempty"`
	// Monthly is how many months back the newest backup of each month is kept (default 12).
	Monthly *int `json:"monthly,omitempty"`
}

// Defaults of the retention policy.
const (
	DefaultRetentionDaily   = 7
	DefaultRetentionWeekly  = 4
	DefaultRetentionMonthly = 12
)

// OrphanMinAge is how old the newest object of a backup without a manifest
// must be before retention removes it: younger, it may be an upload still
// running.
const OrphanMinAge = 24 * time.Hour

// RetentionPolicy is a retention with its defaults applied.
type RetentionPolicy struct {
	Daily   int `json:"daily"`
	Weekly  int `json:"weekly"`
	Monthly int `json:"monthly"`
}

// Policy applies the defaults; a nil retention is the default policy.
func (r *Retention) Policy() RetentionPolicy {
	p := RetentionPolicy{Daily: DefaultRetentionDaily, Weekly: DefaultRetentionWeekly, Monthly: DefaultRetentionMonthly}
	if r == nil {
		return p
	}
	if r.Daily != nil {
		p.Daily = *r.Daily
	}
	if r.Weekly != nil {
		p.Weekly = *r.Weekly
	}
	if r.Monthly != nil {
		p.Monthly = *r.Monthly
	}
	return p
}

// Check reports negative counts, at their topology path. The schema refuses
// them in files; this catches a topology built in Go.
func (p RetentionPolicy) Check() error {
	at := problemPath("backup").field("retention")
	var ps Problems
	for _, f := range []struct {
		name string
		n    int
	}{{"daily", p.Daily}, {"weekly", p.Weekly}, {"monthly", p.Monthly}} {
		if f.n < 0 {
			ps = append(ps, at.field(f.name).problem("must be 0 or more"))
		}
	}
	return ps.orNil()
}

// String writes the policy as operators say it.
func (p RetentionPolicy) String() string {
	return fmt.Sprintf("%d daily, %d weekly, %d monthly", p.Daily, p.Weekly, p.Monthly)
}

// RetentionInput is the input of the Retention workflow.
type RetentionInput struct {
	Cluster string `json:"cluster"`
	// DryRun plans and reports without deleting anything.
	DryRun bool `json:"dry_run,omitempty"`
}

// RetentionResult is what a Retention run kept and removed (or, in a dry
// run, would remove), each with its reason.
type RetentionResult struct {
	Cluster string          `json:"cluster"`
	DryRun  bool            `json:"dry_run"`
	Policy  RetentionPolicy `json:"policy"`
	// PlannedAt is the time the periods of the policy are counted from.
	PlannedAt time.Time       `json:"planned_at"`
	Kept      []BackupSummary `json:"kept"`
	Removed   []BackupSummary `json:"removed"`
	// Orphans are backups without a manifest; those older than OrphanMinAge
	// are removed.
	Orphans []OrphanSummary `json:"orphans,omitempty"`
	// Invalid are backups whose manifest does not parse or whose data is not
	// what the manifest says. They are never removed automatically.
	Invalid []InvalidBackup `json:"invalid,omitempty"`
	// WALKept and WALRemoved count archived WAL files; the first and last
	// removed names bound what went.
	WALKept         int    `json:"wal_kept"`
	WALRemoved      int    `json:"wal_removed"`
	WALFirstRemoved string `json:"wal_first_removed,omitempty"`
	WALLastRemoved  string `json:"wal_last_removed,omitempty"`
	// DeletedObjects counts the store objects deleted (0 in a dry run).
	DeletedObjects int `json:"deleted_objects"`
	// Problems are what retention left alone and why, in words.
	Problems []string `json:"problems,omitempty"`
}

// BackupSummary names one backup and why retention keeps or removes it.
type BackupSummary struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`
	EndTime time.Time `json:"end_time"`
	Reason  string    `json:"reason"`
}

// OrphanSummary is one backup without a manifest and what retention did with it.
type OrphanSummary struct {
	ID           string    `json:"id"`
	Objects      int       `json:"objects"`
	Bytes        int64     `json:"bytes"`
	LastModified time.Time `json:"last_modified"`
	Removed      bool      `json:"removed"`
	Reason       string    `json:"reason"`
}

// ListBackupsInput asks for everything a cluster has in its store.
type ListBackupsInput struct {
	Cluster string `json:"cluster"`
}

// ListBackupsResult is a cluster's backups and archived WAL, sorted by key.
type ListBackupsResult struct {
	// Backups have a manifest that parses and the data it describes.
	Backups []StoredBackup `json:"backups"`
	// Invalid have a manifest, but one that does not parse or does not match
	// its data.
	Invalid []InvalidBackup `json:"invalid,omitempty"`
	// Orphans have objects but no manifest.
	Orphans []OrphanBackup `json:"orphans,omitempty"`
	// WAL are the names of the archived WAL files.
	WAL []string `json:"wal"`
	// Unrecognized are keys under the backup or WAL prefix that are neither;
	// nothing removes them.
	Unrecognized []string `json:"unrecognized,omitempty"`
}

// StoredBackup is one valid backup and every object stored for it.
type StoredBackup struct {
	Manifest Manifest `json:"manifest"`
	Keys     []string `json:"keys"`
}

// InvalidBackup is a backup whose manifest cannot be trusted, and why.
type InvalidBackup struct {
	ID      string   `json:"id"`
	Keys    []string `json:"keys"`
	Problem string   `json:"problem"`
}

// OrphanBackup is a backup folder without a manifest.
type OrphanBackup struct {
	ID   string   `json:"id"`
	Keys []string `json:"keys"`
	// Bytes is the total size of the objects; LastModified the newest.
	Bytes        int64     `json:"bytes"`
	LastModified time.Time `json:"last_modified"`
}

// DeleteObjectsInput removes objects of a cluster's store; a backup's
// manifest is removed before its other objects.
type DeleteObjectsInput struct {
	Cluster string   `json:"cluster"`
	Keys    []string `json:"keys"`
}

// DeleteObjectsResult counts the keys deleted (a key already gone counts).
type DeleteObjectsResult struct {
	Deleted int `json:"deleted"`
}

// IsManifestKey reports whether key is the manifest of a backup of cluster.
func IsManifestKey(cluster, key string) bool {
	rest, ok := strings.CutPrefix(key, BackupsPrefix(cluster))
	id, file, ok2 := strings.Cut(rest, "/")
	return ok && ok2 && id != "" && file == "manifest.json"
}

// WALSegmentSize is the WAL segment size retention assumes, PostgreSQL's
// default. A segment name whose low part reaches walSegmentsPerID proves
// another size, and WAL retention then removes nothing.
const WALSegmentSize = 16 << 20

// walSegmentsPerID is how many segments one 4 GiB "log id" holds.
const walSegmentsPerID = 0x100000000 / WALSegmentSize

// WALSegmentNo is the number of the segment holding lsn.
func WALSegmentNo(lsn LSN) uint64 { return uint64(lsn) / WALSegmentSize }

// WALSegmentName is the file name of the segment holding lsn on timeline.
func WALSegmentName(timeline uint32, lsn LSN) string {
	segno := WALSegmentNo(lsn)
	return fmt.Sprintf("%08X%08X%08X", timeline, segno/walSegmentsPerID, segno%walSegmentsPerID)
}

// ParseWALSegment reads the timeline and segment number of a segment name,
// or of a .partial or .backup file, which belong to their segment.
func ParseWALSegment(name string) (timeline uint32, segno uint64, err error) {
	if err := CheckWALName(name); err != nil {
		return 0, 0, err
	}
	if strings.HasSuffix(name, ".history") {
		return 0, 0, fmt.Errorf("%s is a timeline history file, not a segment", name)
	}
	tli, _ := strconv.ParseUint(name[0:8], 16, 32)
	hi, _ := strconv.ParseUint(name[8:16], 16, 32)
	lo, _ := strconv.ParseUint(name[16:24], 16, 32)
	if lo >= walSegmentsPerID {
		return 0, 0, fmt.Errorf("%s: segment part %s is not below %X, so the segments are not 16 MiB", name, name[16:24], walSegmentsPerID)
	}
	return uint32(tli), hi*walSegmentsPerID + lo, nil
}
