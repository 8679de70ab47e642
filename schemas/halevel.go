package schemas

import (
	"time"
)

// Availability levels, lowest first. A cluster is at the highest level whose
// requirements, and those of every level below it, are all proven by
// evidence Lifeboat gathered itself; a claim nothing shows is not counted.
//
//   - none: a single PostgreSQL node, or no recent backup.
//   - basic: a primary, a streaming replica and a database backup within
//     1.5 × its schedule's interval: a lost node or a lost database can be
//     recovered, by hand, with hours of data at risk.
//   - standard: basic, plus a synchronous standby, a replica in another
//     region than the primary, the newest backup copied to the replica store
//     and a HealthMonitor running unpaused: a failed primary is replaced
//     automatically without losing an acknowledged commit, and losing a
//     region or a store loses neither the data nor its backups. (Managed
//     databases sell the same pairing as "high availability": a synchronous
//     standby is worth little without automatic failover.)
//   - enterprise: standard, plus a drill passed within its period:
//     recovery has been rehearsed and met the RTO and RPO targets, so the
//     targets are measured, not hoped for.
const (
	LevelNone       = "none"
	LevelBasic      = "basic"
	LevelStandard   = "standard"
	LevelEnterprise = "enterprise"
)

// Levels are the availability levels, lowest first.
var Levels = []string{LevelNone, LevelBasic, LevelStandard, LevelEnterprise}

// BackupLateFactor is how many schedule intervals the newest database
// backup may be old and still count as on schedule: one missed run is
// late, not yet lost.
const BackupLateFactor = 1.5

// LevelEvidenceInput asks for the evidence of a cluster's availability
// level that its nodes do not show: backups, drills, schedule and monitor.
type LevelEvidenceInput struct {
	Cluster string `json:"cluster"`
}

// LevelEvidenceResult is that evidence as found in the object store and in
// Temporal; Errors says, in words, what could not be read.
type LevelEvidenceResult struct {
	// Backup is the newest database backup in the primary store; nil when
	// there is none.
	Backup *BackupEvidence `json:"backup,omitempty"`
	// ReplicaBackup is the newest database backup in the replica store: the
	// Backup workflow copies it there, verified, and writes its manifest
	// last. Nil when there is none or no replica store.
	ReplicaBackup *BackupEvidence `json:"replica_backup,omitempty"`
	// ReplicaError says why the replica store could not be read.
	ReplicaError string `json:"replica_error,omitempty"`
	// BackupEvery is the interval of the database backup schedule, or
	// DatabaseBackupEvery when there is no schedule.
	BackupEvery Duration `json:"backup_every"`
	// BackupSchedule is ScheduleActive, SchedulePaused or ScheduleNone.
	BackupSchedule string `json:"backup_schedule"`
	// ReplicaStore is whether the topology names a replica store.
	ReplicaStore bool `json:"replica_store"`
	// Drill is the newest stored drill report, whatever its result, and
	// PassedDrill the newest that passed; nil when there is none.
	Drill       *DrillEvidence `json:"drill,omitempty"`
	PassedDrill *DrillEvidence `json:"passed_drill,omitempty"`
	// DrillEvery is the period within which a passed drill counts.
	DrillEvery Duration        `json:"drill_every"`
	Monitor    MonitorEvidence `json:"monitor"`
	Errors     []string        `json:"errors,omitempty"`
}

// States of a backup schedule in LevelEvidenceResult.
const (
	ScheduleActive = "active"
	SchedulePaused = "paused"
	ScheduleNone   = "none"
)

// BackupEvidence is one database backup as a store holds it.
type BackupEvidence struct {
	ID      string    `json:"id"`
	EndTime time.Time `json:"end_time"`
}

// DrillEvidence is one stored drill report, in short.
type DrillEvidence struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`
	EndedAt time.Time `json:"ended_at"`
	Passed  bool      `json:"passed"`
	// Failure is the first reason the drill did not pass.
	Failure string `json:"failure,omitempty"`
}

// MonitorEvidence is what the cluster's HealthMonitor answered.
type MonitorEvidence struct {
	Running bool   `json:"running"`
	Status  string `json:"status,omitempty"`
	Paused  bool   `json:"paused,omitempty"`
	// PausedBy lists who holds a pause, as "owner: reason".
	PausedBy []string `json:"paused_by,omitempty"`
	// Error says why the monitor could not be asked.
	Error string `json:"error,omitempty"`
}

// LevelEvidence is everything an availability level is judged from: the
// nodes as a check saw them, the evidence in the stores, and the moment.
type LevelEvidence struct {
	Now     time.Time
	Cluster string
	Nodes   []NodeHealth
	Stored  LevelEvidenceResult
}

// LevelReport is a cluster's availability level and why.
type LevelReport struct {
	Level string `json:"level"`
	// Next is the level above, empty at enterprise.
	Next string `json:"next,omitempty"`
	// Met is every requirement, of any level, the evidence proves.
	Met []LevelCheck `json:"met"`
	// Missing is every requirement of Next the evidence does not prove.
	Missing []LevelCheck `json:"missing,omitempty"`
	// Errors is evidence that could not be read.
	Errors []string `json:"errors,omitempty"`
}

// LevelCheck is one requirement of a level and the evidence for or against.
type LevelCheck struct {
	Level       string `json:"level"`
	Requirement string `json:"requirement"`
	// Evidence says what was found: the proof when met, what is wrong and
	// what to do when missing.
	Evidence string `json:"evidence"`
}

// String is the check as one line.
func (c LevelCheck) String() string { return c.Requirement + ": " + c.Evidence }
