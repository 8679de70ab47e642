// Package schedules is the desired-state reconciler of the Temporal
// Schedules that back up, sync and drill a cluster: Desired says what a
// cluster should have, Plan what must change on the server, Apply does it.
package schedules

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/schemas"
)

// catchup is how late a run missed while Temporal was down may still
// start. An hour late is still a useful backup; the skip policy means at
// most one such run is taken anyway.
const catchup = time.Hour

// drillRunTimeout bounds one scheduled drill, so a hung one cannot
// suppress the next under the skip policy.
const drillRunTimeout = 12 * time.Hour

// note is the note a schedule is created with; the Web UI shows it.
// Updates keep the note, since an operator who pauses a schedule writes why.
const note = "managed by `lifeboat schedules apply`: changes made elsewhere are undone by the next apply"

var (
	clusterKey = temporal.NewSearchAttributeKeyKeyword(schemas.SearchAttrCluster)
	kindKey    = temporal.NewSearchAttributeKeyKeyword(schemas.SearchAttrKind)
)

// Schedule is the part of a Temporal Schedule that Apply manages. Two
// schedules with equal Schedules start the same workflows at the same
// times.
type Schedule struct {
	ID    string
	Every time.Duration
	// OtherTiming describes timing Apply never sets (calendars, offsets,
	// jitter, bounds); an existing schedule with any is brought back to
	// the plain interval.
	OtherTiming string
	Overlap     enumspb.ScheduleOverlapPolicy
	Catchup     time.Duration

	WorkflowType string
	// WorkflowID is the prefix of the started workflows' IDs; Temporal
	// appends the scheduled time.
	WorkflowID string
	TaskQueue  string
	Timeout    time.Duration
	// Input is the workflow's input (a BackupInput, a FileSyncInput),
	// compared as JSON.
	Input   any
	Summary string

	// ScheduleCluster is the schedule's own LifeboatCluster attribute, by
	// which `schedules list CLUSTER` finds it.
	ScheduleCluster string
	// WorkflowCluster and WorkflowKind are set on every started workflow.
	WorkflowCluster string
	WorkflowKind    string
}

// Desired is every schedule a cluster should have. every maps a backup
// kind, schemas.FileSyncKind or schemas.DrillKind to its schedule's
// interval; a kind missing from it has no schedule.
func Desired(cluster string, every map[string]time.Duration) ([]Schedule, error) {
	if err := schemas.CheckClusterName(cluster); err != nil {
		return nil, err
	}
	var out []Schedule
	for _, kind := range schemas.BackupKinds {
		d, ok := every[kind]
		if !ok {
			continue
		}
		if err := checkInterval(kind+" backup", d); err != nil {
			return nil, err
		}
		id := schemas.BackupScheduleID(cluster, kind)
		// The kind is the same value the Backup workflow upserts.
		out = append(out, clusterSchedule(cluster, id, d, schemas.BackupRunTimeout, schemas.BackupWorkflow,
			schemas.BackupInput{Cluster: cluster, Kind: kind}, kind+" backup", "backup-"+kind))
	}
	if d, ok := every[schemas.FileSyncKind]; ok {
		if err := checkInterval("file sync", d); err != nil {
			return nil, err
		}
		out = append(out, fileSyncSchedule(cluster, d))
	}
	if d, ok := every[schemas.DrillKind]; ok {
		if err := checkInterval("drill", d); err != nil {
			return nil, err
		}
		out = append(out, drillSchedule(cluster, d))
	}
	return out, nil
}

// fileSyncSchedule is the schedule that syncs the cluster's files every d.
// Its runs hand the sync to the workflow filesync/<cluster>, so a manual
// sync and a scheduled one never write a copy side by side.
func fileSyncSchedule(cluster string, d time.Duration) Schedule {
	// The kind is the same value the FileSync workflow upserts.
	return clusterSchedule(cluster, schemas.FileSyncScheduleID(cluster), d, schemas.FileSyncRunTimeout, schemas.FileSyncWorkflow,
		schemas.FileSyncInput{Cluster: cluster}, "file sync", schemas.FileSyncKind)
}

// drillSchedule is the cluster's weekly restore drill.
func drillSchedule(cluster string, d time.Duration) Schedule {
	// The kind is the same value the DRDrill workflow upserts.
	return clusterSchedule(cluster, schemas.DrillScheduleID(cluster), d, drillRunTimeout, schemas.DRDrillWorkflow,
		schemas.DrillInput{Cluster: cluster, Kind: schemas.DrillRestore}, "restore drill", "drill-"+schemas.DrillRestore)
}

// clusterSchedule is a schedule of cluster's that starts workflowType with
// input every d, skipping a run while the last one runs; kind is the
// LifeboatKind the workflow sets, what the summary's words for it.
func clusterSchedule(cluster, id string, d, timeout time.Duration, workflowType string, input any, what, kind string) Schedule {
	return Schedule{
		ID:              id,
		Every:           d,
		Overlap:         enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Catchup:         catchup,
		WorkflowType:    workflowType,
		WorkflowID:      id,
		TaskQueue:       schemas.GlobalTaskQueue,
		Timeout:         timeout,
		Input:           input,
		Summary:         fmt.Sprintf("%s of cluster %s (schedule %s)", what, cluster, id),
		ScheduleCluster: cluster,
		WorkflowCluster: cluster,
		WorkflowKind:    kind,
	}
}

// checkInterval wants what Temporal takes: whole seconds, at least one.
func checkInterval(what string, d time.Duration) error {
	if d < time.Second || d%time.Second != 0 {
		return fmt.Errorf("%s interval %v: want a whole number of seconds, at least 1s", what, d)
	}
	return nil
}

// fields names and renders what two schedules are compared by, in the
// order differences are reported.
func (s Schedule) fields() [][2]string {
	input := canonicalJSON(s.Input)
	return [][2]string{
		{"interval", ShortDuration(s.Every)},
		{"other timing", orNone(s.OtherTiming)},
		{"overlap policy", s.Overlap.String()},
		{"catchup window", ShortDuration(s.Catchup)},
		{"workflow type", s.WorkflowType},
		{"workflow ID", s.WorkflowID},
		{"task queue", s.TaskQueue},
		{"execution timeout", ShortDuration(s.Timeout)},
		{"input", string(input)},
		{"summary", s.Summary},
		{"schedule " + schemas.SearchAttrCluster, orNone(s.ScheduleCluster)},
		{"workflow " + schemas.SearchAttrCluster, orNone(s.WorkflowCluster)},
		{"workflow " + schemas.SearchAttrKind, orNone(s.WorkflowKind)},
	}
}

// canonicalJSON renders v as JSON with sorted keys, so that an input read
// back from the server compares equal to the value it was made from.
func canonicalJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("unencodable %T", v)
	}
	var generic any
	if json.Unmarshal(b, &generic) != nil {
		return string(b)
	}
	b, _ = json.Marshal(generic)
	return string(b)
}

// differences lists, as "what: old → new", how have must change to become want.
func differences(want, have Schedule) []string {
	var d []string
	w, h := want.fields(), have.fields()
	for i := range w {
		if w[i][1] != h[i][1] {
			d = append(d, fmt.Sprintf("%s: %s → %s", w[i][0], h[i][1], w[i][1]))
		}
	}
	return d
}

// ShortDuration writes 4h rather than 4h0m0s, as the differences Plan
// reports do.
func ShortDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
