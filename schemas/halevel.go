package schemas

import (
	"fmt"
	"slices"
	"strings"
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

// levelRequirement is one requirement: met reports whether the evidence
// proves it and says what it found.
type levelRequirement struct {
	level, name string
	met         func(LevelEvidence) (bool, string)
}

var levelRequirements = []levelRequirement{
	{LevelBasic, "a PostgreSQL primary", hasPrimary},
	{LevelBasic, "a streaming replica", hasStreamingReplica},
	{LevelBasic, "a recent database backup", hasRecentBackup},
	{LevelStandard, "a synchronous standby", hasSyncStandby},
	{LevelStandard, "a replica in another region", hasRemoteReplica},
	{LevelStandard, "backups replicated", hasReplicatedBackup},
	{LevelStandard, "automatic failover", hasMonitor},
	{LevelEnterprise, "a drill passed within its period", hasPassedDrill},
}

// AssessLevel judges a cluster's availability level from evidence alone.
func AssessLevel(ev LevelEvidence) LevelReport {
	rep := LevelReport{Level: LevelNone, Errors: ev.Stored.Errors}
	failed := map[string]bool{}
	var unmet []LevelCheck
	for _, r := range levelRequirements {
		ok, why := r.met(ev)
		c := LevelCheck{Level: r.level, Requirement: r.name, Evidence: why}
		if ok {
			rep.Met = append(rep.Met, c)
		} else {
			failed[r.level] = true
			unmet = append(unmet, c)
		}
	}
	for _, l := range Levels[1:] {
		if failed[l] {
			break
		}
		rep.Level = l
	}
	if i := slices.Index(Levels, rep.Level); i+1 < len(Levels) {
		rep.Next = Levels[i+1]
	}
	for _, c := range unmet {
		if c.Level == rep.Next {
			rep.Missing = append(rep.Missing, c)
		}
	}
	return rep
}

func postgresNodes(ev LevelEvidence, keep func(NodeHealth) bool) []NodeHealth {
	var out []NodeHealth
	for _, n := range ev.Nodes {
		if n.Kind == KindPostgres && keep(n) {
			out = append(out, n)
		}
	}
	return out
}

// primaryOf returns the one healthy primary, if there is exactly one.
func primaryOf(ev LevelEvidence) (NodeHealth, bool) {
	p := postgresNodes(ev, func(n NodeHealth) bool { return n.Role == RolePrimary && n.Healthy })
	if len(p) != 1 {
		return NodeHealth{}, false
	}
	return p[0], true
}

// streamingReplicas are the replicas that count as copies: healthy, so
// streaming from the primary within the lag budget.
func streamingReplicas(ev LevelEvidence, keep func(NodeHealth) bool) []NodeHealth {
	return postgresNodes(ev, func(n NodeHealth) bool {
		return n.Role == RoleReplica && n.Healthy && n.Streaming && keep(n)
	})
}

func nodeList(nodes []NodeHealth) string {
	var s []string
	for _, n := range nodes {
		s = append(s, n.Name+" ("+n.Region+")")
	}
	return strings.Join(s, ", ")
}

func hasPrimary(ev LevelEvidence) (bool, string) {
	if p, ok := primaryOf(ev); ok {
		return true, nodeList([]NodeHealth{p})
	}
	claim := postgresNodes(ev, func(n NodeHealth) bool { return n.Role == RolePrimary })
	if len(claim) > 1 {
		return false, fmt.Sprintf("%d nodes claim to be primary: %s", len(claim), nodeList(claim))
	}
	return false, "no healthy PostgreSQL primary answered the check"
}

func hasStreamingReplica(ev LevelEvidence) (bool, string) {
	if r := streamingReplicas(ev, func(NodeHealth) bool { return true }); len(r) > 0 {
		return true, nodeList(r) + " streaming"
	}
	return false, "no healthy replica streams from the primary: losing its host loses the database until a restore"
}

func hasRecentBackup(ev LevelEvidence) (bool, string) {
	s := ev.Stored
	if s.Backup == nil {
		if len(s.Errors) > 0 {
			return false, "no backup could be read: " + strings.Join(s.Errors, "; ")
		}
		return false, "no database backup in the store: lifeboat backup " + ev.Cluster
	}
	return backupOnSchedule(ev, *s.Backup)
}

// backupOnSchedule judges a backup's age against BackupLateFactor times the
// schedule's interval, and says which interval that was.
func backupOnSchedule(ev LevelEvidence, b BackupEvidence) (bool, string) {
	s := ev.Stored
	every := time.Duration(s.BackupEvery)
	if every <= 0 {
		every = DatabaseBackupEvery
	}
	limit := time.Duration(BackupLateFactor * float64(every))
	sched := fmt.Sprintf("%s × the %s schedule", trimFloat(BackupLateFactor), shortDur(every))
	switch s.BackupSchedule {
	case SchedulePaused:
		sched += ", which is paused"
	case ScheduleNone, "":
		sched = fmt.Sprintf("%s × the default %s; no schedule takes backups: lifeboat schedules apply %s",
			trimFloat(BackupLateFactor), shortDur(every), ev.Cluster)
	}
	age := ev.Now.Sub(b.EndTime)
	if age > limit {
		return false, fmt.Sprintf("the newest, %s, ended %s ago, over %s (%s)", b.ID, shortDur(age), shortDur(limit), sched)
	}
	return true, fmt.Sprintf("%s ended %s ago, within %s (%s)", b.ID, shortDur(max(age, 0)), shortDur(limit), sched)
}

func hasSyncStandby(ev LevelEvidence) (bool, string) {
	if r := streamingReplicas(ev, func(n NodeHealth) bool { return n.Synchronous }); len(r) > 0 {
		return true, nodeList(r) + " synchronous"
	}
	return false, "no healthy replica is synchronous: a failover can lose acknowledged commits (synchronous_standby_names)"
}

func hasRemoteReplica(ev LevelEvidence) (bool, string) {
	p, ok := primaryOf(ev)
	if !ok {
		return false, "no primary to compare regions with"
	}
	if r := streamingReplicas(ev, func(n NodeHealth) bool { return n.Region != p.Region }); len(r) > 0 {
		return true, fmt.Sprintf("%s, outside the primary's %s", nodeList(r), p.Region)
	}
	return false, fmt.Sprintf("every healthy replica is in %s with the primary: losing that region loses every copy", p.Region)
}

func hasReplicatedBackup(ev LevelEvidence) (bool, string) {
	s := ev.Stored
	switch {
	case !s.ReplicaStore:
		return false, "the topology names no replica store (backup.replica): losing the store loses every backup"
	case s.ReplicaError != "":
		return false, "the replica store could not be read: " + s.ReplicaError
	case s.ReplicaBackup == nil:
		return false, "no database backup in the replica store: the Backup workflow copies each one there; see why its last run did not"
	}
	ok, why := backupOnSchedule(ev, *s.ReplicaBackup)
	return ok, "in the replica store, " + why
}

func hasMonitor(ev LevelEvidence) (bool, string) {
	m := ev.Stored.Monitor
	switch {
	case m.Error != "":
		return false, "the HealthMonitor could not be asked: " + m.Error
	case !m.Running:
		return false, "no HealthMonitor runs, so nothing fails over: lifeboat monitor " + ev.Cluster
	case m.Paused:
		return false, "the HealthMonitor is paused (" + strings.Join(m.PausedBy, "; ") + "): automatic failover is off"
	}
	return true, "HealthMonitor " + MonitorWorkflowID(ev.Cluster) + " runs, status " + m.Status
}

// hasPassedDrill wants a drill that passed within its period. A failed
// drill after it does not take the proof back (a cancelled drill reports a
// failure too) but is named beside it, so it is not missed.
func hasPassedDrill(ev LevelEvidence) (bool, string) {
	s := ev.Stored
	every := time.Duration(s.DrillEvery)
	if every <= 0 {
		every = DefaultDrillEvery
	}
	run := "lifeboat drill " + ev.Cluster + " --kind restore"
	failed := ""
	if d := s.Drill; d != nil && !d.Passed {
		failed = fmt.Sprintf("the newest, %s, failed %s ago", d.ID, shortDur(max(ev.Now.Sub(d.EndedAt), 0)))
		if d.Failure != "" {
			failed += ": " + d.Failure
		}
	}
	p := s.PassedDrill
	switch {
	case p == nil && len(s.Errors) > 0 && s.Drill == nil:
		return false, "no drill report could be read: " + strings.Join(s.Errors, "; ")
	case p == nil && failed != "":
		return false, "no drill has passed; " + failed
	case p == nil:
		return false, "no drill has run: " + run
	}
	age := ev.Now.Sub(p.EndedAt)
	if age > every {
		why := fmt.Sprintf("the newest passed drill, %s, ended %s ago, over its period of %s: %s", p.ID, shortDur(age), shortDur(every), run)
		if failed != "" {
			why += "; " + failed
		}
		return false, why
	}
	why := fmt.Sprintf("%s (%s) passed %s ago, within its period of %s", p.ID, p.Kind, shortDur(max(age, 0)), shortDur(every))
	if failed != "" {
		why += "; " + failed
	}
	return true, why
}

// shortDur writes an age or interval to the unit an operator reads at a
// glance: 7d, 4h, 4h30m, 35m, 35m12s, 8s.
func shortDur(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Round(time.Hour)/(24*time.Hour)))
	case d >= time.Hour:
		d = d.Round(time.Minute)
		if m := d % time.Hour; m != 0 {
			return fmt.Sprintf("%dh%dm", int(d/time.Hour), int(m/time.Minute))
		}
		return fmt.Sprintf("%dh", int(d/time.Hour))
	case d >= time.Minute:
		d = d.Round(time.Second)
		if sec := d % time.Minute; sec != 0 {
			return fmt.Sprintf("%dm%ds", int(d/time.Minute), int(sec/time.Second))
		}
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	return d.Round(time.Second).String()
}

func trimFloat(f float64) string { return strings.TrimSuffix(fmt.Sprintf("%.1f", f), ".0") }
