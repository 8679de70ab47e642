package policy

import (
	"fmt"
	"github.com/runnerhub/lifeboat/schemas"
	"slices"
	"strings"
	"time"
)

// levelRequirement is one requirement: met reports whether the evidence
// proves it and says what it found.
type levelRequirement struct {
	level, name string
	met         func(schemas.LevelEvidence) (bool, string)
}

var levelRequirements = []levelRequirement{
	{schemas.LevelBasic, "a PostgreSQL primary", hasPrimary},
	{schemas.LevelBasic, "a streaming replica", hasStreamingReplica},
	{schemas.LevelBasic, "a recent database backup", hasRecentBackup},
	{schemas.LevelStandard, "a synchronous standby", hasSyncStandby},
	{schemas.LevelStandard, "a replica in another region", hasRemoteReplica},
	{schemas.LevelStandard, "backups replicated", hasReplicatedBackup},
	{schemas.LevelStandard, "automatic failover", hasMonitor},
	{schemas.LevelEnterprise, "a drill passed within its period", hasPassedDrill},
}

// AssessLevel judges a cluster's availability level from evidence alone.
func AssessLevel(ev schemas.LevelEvidence) schemas.LevelReport {
	rep := schemas.LevelReport{Level: schemas.LevelNone, Errors: ev.Stored.Errors}
	failed := map[string]bool{}
	var unmet []schemas.LevelCheck
	for _, r := range levelRequirements {
		ok, why := r.met(ev)
		c := schemas.LevelCheck{Level: r.level, Requirement: r.name, Evidence: why}
		if ok {
			rep.Met = append(rep.Met, c)
		} else {
			failed[r.level] = true
			unmet = append(unmet, c)
		}
	}
	for _, l := range schemas.Levels[1:] {
		if failed[l] {
			break
		}
		rep.Level = l
	}
	if i := slices.Index(schemas.Levels, rep.Level); i+1 < len(schemas.Levels) {
		rep.Next = schemas.Levels[i+1]
	}
	for _, c := range unmet {
		if c.Level == rep.Next {
			rep.Missing = append(rep.Missing, c)
		}
	}
	return rep
}

func postgresNodes(ev schemas.LevelEvidence, keep func(schemas.NodeHealth) bool) []schemas.NodeHealth {
	var out []schemas.NodeHealth
	for _, n := range ev.Nodes {
		if n.Kind == schemas.KindPostgres && keep(n) {
			out = append(out, n)
		}
	}
	return out
}

// primaryOf returns the one healthy primary, if there is exactly one.
func primaryOf(ev schemas.LevelEvidence) (schemas.NodeHealth, bool) {
	p := postgresNodes(ev, func(n schemas.NodeHealth) bool { return n.Role == schemas.RolePrimary && n.Healthy })
	if len(p) != 1 {
		return schemas.NodeHealth{}, false
	}
	return p[0], true
}

// streamingReplicas are the replicas that count as copies: healthy, so
// streaming from the primary within the lag budget.
func streamingReplicas(ev schemas.LevelEvidence, keep func(schemas.NodeHealth) bool) []schemas.NodeHealth {
	return postgresNodes(ev, func(n schemas.NodeHealth) bool {
		return n.Role == schemas.RoleReplica && n.Healthy && n.Streaming && keep(n)
	})
}

func nodeList(nodes []schemas.NodeHealth) string {
	var s []string
	for _, n := range nodes {
		s = append(s, n.Name+" ("+n.Region+")")
	}
	return strings.Join(s, ", ")
}

func hasPrimary(ev schemas.LevelEvidence) (bool, string) {
	if p, ok := primaryOf(ev); ok {
		return true, nodeList([]schemas.NodeHealth{p})
	}
	claim := postgresNodes(ev, func(n schemas.NodeHealth) bool { return n.Role == schemas.RolePrimary })
	if len(claim) > 1 {
		return false, fmt.Sprintf("%d nodes claim to be primary: %s", len(claim), nodeList(claim))
	}
	return false, "no healthy PostgreSQL primary answered the check"
}

func hasStreamingReplica(ev schemas.LevelEvidence) (bool, string) {
	if r := streamingReplicas(ev, func(schemas.NodeHealth) bool { return true }); len(r) > 0 {
		return true, nodeList(r) + " streaming"
	}
	return false, "no healthy replica streams from the primary: losing its host loses the database until a restore"
}

func hasRecentBackup(ev schemas.LevelEvidence) (bool, string) {
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
func backupOnSchedule(ev schemas.LevelEvidence, b schemas.BackupEvidence) (bool, string) {
	s := ev.Stored
	every := time.Duration(s.BackupEvery)
	if every <= 0 {
		every = schemas.DatabaseBackupEvery
	}
	limit := time.Duration(schemas.BackupLateFactor * float64(every))
	sched := fmt.Sprintf("%s × the %s schedule", trimFloat(schemas.BackupLateFactor), shortDur(every))
	switch s.BackupSchedule {
	case schemas.SchedulePaused:
		sched += ", which is paused"
	case schemas.ScheduleNone, "":
		sched = fmt.Sprintf("%s × the default %s; no schedule takes backups: lifeboat schedules apply %s",
			trimFloat(schemas.BackupLateFactor), shortDur(every), ev.Cluster)
	}
	age := ev.Now.Sub(b.EndTime)
	if age > limit {
		return false, fmt.Sprintf("the newest, %s, ended %s ago, over %s (%s)", b.ID, shortDur(age), shortDur(limit), sched)
	}
	return true, fmt.Sprintf("%s ended %s ago, within %s (%s)", b.ID, shortDur(max(age, 0)), shortDur(limit), sched)
}

// hasSyncStandby grades the sync state the primary reports for each
// replica, so a quorum standby counts as a "sync" one does.
func hasSyncStandby(ev schemas.LevelEvidence) (bool, string) {
	if r := streamingReplicas(ev, func(n schemas.NodeHealth) bool { return Synchronous(n.SyncState) }); len(r) > 0 {
		var states []string
		for _, n := range r {
			if !slices.Contains(states, n.SyncState) {
				states = append(states, n.SyncState)
			}
		}
		return true, nodeList(r) + " synchronous (" + strings.Join(states, ", ") + ")"
	}
	return false, "no healthy replica is synchronous: a failover can lose acknowledged commits (synchronous_standby_names)"
}

func hasRemoteReplica(ev schemas.LevelEvidence) (bool, string) {
	p, ok := primaryOf(ev)
	if !ok {
		return false, "no primary to compare regions with"
	}
	if r := streamingReplicas(ev, func(n schemas.NodeHealth) bool { return n.Region != p.Region }); len(r) > 0 {
		return true, fmt.Sprintf("%s, outside the primary's %s", nodeList(r), p.Region)
	}
	return false, fmt.Sprintf("every healthy replica is in %s with the primary: losing that region loses every copy", p.Region)
}

func hasReplicatedBackup(ev schemas.LevelEvidence) (bool, string) {
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

func hasMonitor(ev schemas.LevelEvidence) (bool, string) {
	m := ev.Stored.Monitor
	switch {
	case m.Error != "":
		return false, "the HealthMonitor could not be asked: " + m.Error
	case !m.Running:
		return false, "no HealthMonitor runs, so nothing fails over: lifeboat monitor " + ev.Cluster
	case m.Paused:
		return false, "the HealthMonitor is paused (" + strings.Join(m.PausedBy, "; ") + "): automatic failover is off"
	}
	return true, "HealthMonitor " + schemas.MonitorWorkflowID(ev.Cluster) + " runs, status " + m.Status
}

// hasPassedDrill wants a drill that passed within its period. A failed
// drill after it does not take the proof back (a cancelled drill reports a
// failure too) but is named beside it, so it is not missed.
func hasPassedDrill(ev schemas.LevelEvidence) (bool, string) {
	s := ev.Stored
	every := time.Duration(s.DrillEvery)
	if every <= 0 {
		every = schemas.DefaultDrillEvery
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
