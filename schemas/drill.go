package schemas

import (
	"fmt"
	"regexp"
	"time"
)

// DRDrillWorkflow is the type name of the disaster-recovery drill.
const DRDrillWorkflow = "DRDrill"

// Drill kinds.
const (
	// DrillRestore restores the newest backup and archived WAL into a
	// scratch server in the DR region and measures RTO and RPO.
	DrillRestore = "restore"
	// DrillFailover builds a scratch primary and replica from the newest
	// backup, kills the primary and runs the real Failover against them.
	DrillFailover = "failover"
	// DrillFull is both, judged against the cluster's targets.
	DrillFull = "full"
)

// DrillKinds are the valid values of DrillInput.Kind.
var DrillKinds = []string{DrillRestore, DrillFailover, DrillFull}

// DrillInput is the input of the DRDrill workflow, the one-line JSON of the
// Web UI's start form: {"cluster":"dev","kind":"restore"}.
type DrillInput struct {
	Cluster string `json:"cluster"`
	Kind    string `json:"kind"`
}

// Drill tunes disaster-recovery drills: where their scratch servers live and
// what they verify.
type Drill struct {
	// ScratchDir is a directory on the DR region's worker host under which
	// each drill makes, and removes, the data directories of its scratch
	// servers.
	ScratchDir string `json:"scratch_dir"`
	// Port is the first of the loopback ports the scratch servers listen on:
	// a restore drill's server uses it, a failover drill's primary and
	// replica the next two.
	Port int `json:"port"`
	// Tables are the tables whose row counts and checksums a drill reports
	// and checks readable, as "table", "schema.table" or
	// "database/schema.table"; the nodes' database when none is named.
	Tables []string `json:"tables,omitempty"`
	// Every is how often the scheduled restore drill runs, and the period
	// within which a passed drill counts as evidence; default 168h.
	Every Duration `json:"every,omitempty"`
}

// DefaultDrillEvery is how often the scheduled drill runs by default.
const DefaultDrillEvery = 7 * 24 * time.Hour

// EveryOrDefault returns the drill period, or its default.
func (d Drill) EveryOrDefault() time.Duration {
	if d.Every <= 0 {
		return DefaultDrillEvery
	}
	return time.Duration(d.Every)
}

// HeartbeatInterval is how often the monitor's probe of the primary's
// region writes the cluster's heartbeat row, and so, with archive_timeout,
// the bound on how old a drill's newest recovered heartbeat can be.
const HeartbeatInterval = 5 * time.Second

// HeartbeatTable is the one-row table on the primary that the monitor
// updates every HeartbeatInterval; any restored copy tells from it how
// recent its data is.
const HeartbeatTable = "lifeboat.heartbeat"

// DrillReport is what a drill did and measured: the workflow's result and,
// as report.json next to report.md and timeline.svg, the evidence kept in
// the object store.
type DrillReport struct {
	// FormatVersion is DrillReportFormat.
	FormatVersion int       `json:"format_version"`
	ID            string    `json:"id"`
	Cluster       string    `json:"cluster"`
	Kind          string    `json:"kind"`
	Region        string    `json:"region"`
	StartedAt     time.Time `json:"started_at"`
	EndedAt       time.Time `json:"ended_at"`
	// Passed is true when every part ran, verified and met the targets.
	Passed bool `json:"passed"`
	// Failures says, in words, why a drill did not pass.
	Failures []string `json:"failures,omitempty"`
	// TargetRTOSeconds and TargetRPOSeconds are the cluster's targets.
	TargetRTOSeconds float64              `json:"target_rto_seconds"`
	TargetRPOSeconds float64              `json:"target_rpo_seconds"`
	Restore          *DrillRestoreResult  `json:"restore,omitempty"`
	Failover         *DrillFailoverResult `json:"failover,omitempty"`
	// Steps is the drill's timeline, each step with its offset from the start.
	Steps []TimedStep `json:"steps"`
	// Keys are where the report, its Markdown and its picture are stored.
	Keys DrillKeys `json:"keys"`
}

// DrillReportFormat is the format version of DrillReport.
const DrillReportFormat = 1

// DrillRestoreResult is what a restore drill recovered and measured.
type DrillRestoreResult struct {
	BackupID string `json:"backup_id"`
	// RTOSeconds is from the drill's start to a verified, queryable server.
	RTOSeconds float64 `json:"rto_seconds"`
	// RPOSeconds is the drill's start minus the newest recovered heartbeat.
	RPOSeconds float64 `json:"rpo_seconds"`
	// Heartbeat is the newest heartbeat the restored copy holds.
	Heartbeat    time.Time    `json:"heartbeat"`
	RecoveredLSN string       `json:"recovered_lsn"`
	Tables       []TableCheck `json:"tables,omitempty"`
}

// DrillFailoverResult is what a failover drill rehearsed and measured.
type DrillFailoverResult struct {
	// RTOSeconds is from the scratch primary's death to the new primary's
	// verified write.
	RTOSeconds float64 `json:"rto_seconds"`
	// FailoverSeconds is the Failover workflow's own duration.
	FailoverSeconds float64 `json:"failover_seconds"`
	Promoted        string  `json:"promoted"`
	Epoch           int64   `json:"epoch"`
	WorkflowID      string  `json:"workflow_id"`
}

// TableCheck is the row count and checksum of one table of a restored copy.
type TableCheck struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
	// Checksum is the sum of the 64-bit hashes of every row's text: the
	// same rows in any order give the same sum.
	Checksum string `json:"checksum"`
}

// TimedStep is one step of a drill's timeline.
type TimedStep struct {
	Name string `json:"name"`
	// StartSeconds is the offset of the step's start from the drill's start.
	StartSeconds float64 `json:"start_seconds"`
	Seconds      float64 `json:"seconds"`
	// Failed marks the step that stopped the drill.
	Failed bool `json:"failed,omitempty"`
}

// DrillKeys are the object keys of a drill's report files.
type DrillKeys struct {
	JSON     string `json:"json"`
	Markdown string `json:"markdown"`
	SVG      string `json:"svg"`
}

// DrillsPrefix is where a cluster's drill reports live in the store.
func DrillsPrefix(cluster string) string { return cluster + "/drills/" }

// DrillReportKeys are the keys of drill id's report files.
func DrillReportKeys(cluster, id string) DrillKeys {
	p := DrillsPrefix(cluster) + id + "/"
	return DrillKeys{JSON: p + "report.json", Markdown: p + "report.md", SVG: p + "timeline.svg"}
}

// NewDrillID names a drill by its start time and kind, so IDs sort by time.
func NewDrillID(start time.Time, kind string) string {
	return start.UTC().Format("20060102T150405Z") + "-" + kind
}

// DrillKind is the schedule kind of the weekly restore drill.
const DrillKind = "drill"

// DrillScheduleID names the schedule of a cluster's weekly restore drill,
// under the prefix `lifeboat schedules apply` manages.
func DrillScheduleID(cluster string) string { return BackupSchedulePrefix(cluster) + DrillKind }

// DrillWorkflowID names a drill started by hand or by the CLI.
func DrillWorkflowID(cluster, id string) string { return "drill/" + cluster + "/" + id }

// CheckDrill validates the drill section of a topology for a drill to run.
func (t *Topology) CheckDrill() error {
	switch {
	case t.Drill == nil || t.Drill.ScratchDir == "":
		return fmt.Errorf("drill.scratch_dir: the topology of %s names no directory for scratch servers", t.Cluster)
	case t.Drill.Port < 1024 || t.Drill.Port > 65533:
		return fmt.Errorf("drill.port: %d is not a port from 1024 to 65533", t.Drill.Port)
	}
	return nil
}

var (
	drillTableRE = regexp.MustCompile(`^(?:([A-Za-z_][A-Za-z0-9_$]*)/)?((?:[A-Za-z_][A-Za-z0-9_$]*\.)?[A-Za-z_][A-Za-z0-9_$]*)$`)
)

// ParseDrillTable splits a drill table name into its database (empty: the
// nodes' own) and its schema-qualified table name.
func ParseDrillTable(s string) (database, table string, err error) {
	m := drillTableRE.FindStringSubmatch(s)
	if m == nil {
		return "", "", fmt.Errorf("%q is not a table name such as pgbench_accounts, public.orders or shop/public.orders", s)
	}
	return m[1], m[2], nil
}

// DrillVerifyInput asks a drill's scratch server for its newest heartbeat
// and the row counts and checksums of the topology's drill tables.
type DrillVerifyInput struct {
	Cluster string `json:"cluster"`
	Port    int    `json:"port"`
}

// DrillVerifyResult is what the scratch server holds.
type DrillVerifyResult struct {
	// Heartbeat is the newest heartbeat recovered; nil when the copy has
	// none (the monitor was not running when its data was written).
	Heartbeat     *time.Time   `json:"heartbeat,omitempty"`
	HeartbeatNode string       `json:"heartbeat_node,omitempty"`
	Tables        []TableCheck `json:"tables,omitempty"`
}

// RemoveScratchInput stops every server under a drill's scratch directory
// and removes it.
type RemoveScratchInput struct {
	Cluster string `json:"cluster"`
	// Dir must lie inside the topology's drill.scratch_dir.
	Dir string `json:"dir"`
}

// RemoveScratchResult says what the cleanup found.
type RemoveScratchResult struct {
	// Stopped are the data directories whose postmaster was stopped.
	Stopped []string `json:"stopped,omitempty"`
	Removed bool     `json:"removed"`
}

// WriteDrillReportInput stores a finished drill's report.
type WriteDrillReportInput struct {
	Report DrillReport `json:"report"`
}

// WriteDrillReportResult is where the report went.
type WriteDrillReportResult struct {
	Keys DrillKeys `json:"keys"`
}

// DrillReportsWorkflow lists or reads stored drill reports for the CLI.
const DrillReportsWorkflow = "DrillReports"

// DrillReportsInput asks for a cluster's drill reports, newest first, or
// for one by ID.
type DrillReportsInput struct {
	Cluster string `json:"cluster"`
	// ID, when set, selects one drill.
	ID string `json:"id,omitempty"`
	// Limit bounds the list; default 20.
	Limit int `json:"limit,omitempty"`
}

// DrillReportsResult holds the reports found, newest first.
type DrillReportsResult struct {
	Reports []DrillReport `json:"reports"`
	// Markdown is the stored Markdown of the one report asked for by ID.
	Markdown string `json:"markdown,omitempty"`
}
