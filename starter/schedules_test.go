package main

import (
	"reflect"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/internal/codec"
	"github.com/runnerhub/lifeboat/internal/tclient"
	"github.com/runnerhub/lifeboat/schemas"
)

var defaultEvery = map[string]time.Duration{
	schemas.BackupDatabase: schemas.DatabaseBackupEvery,
	schemas.BackupFiles:    schemas.FilesBackupEvery,
	schemas.BackupConfig:   schemas.ConfigBackupEvery,
}

func mustDesired(t *testing.T, cluster string, every map[string]time.Duration) []backupSchedule {
	t.Helper()
	want, err := desiredSchedules(cluster, every)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

func TestDesiredSchedules_OnePerKindStartingTheBackupWorkflow(t *testing.T) {
	got := mustDesired(t, "dev", defaultEvery)
	want := []struct {
		id, kind string
		every    time.Duration
	}{
		{"backup/dev/database", "database", 4 * time.Hour},
		{"backup/dev/files", "files", 24 * time.Hour},
		{"backup/dev/config", "config", 24 * time.Hour},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d schedules, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.ID != w.id || g.Every != w.every || g.Input != (schemas.BackupInput{Cluster: "dev", Kind: w.kind}) {
			t.Errorf("schedule %d = %s every %v input %+v, want %s every %v kind %s", i, g.ID, g.Every, g.Input, w.id, w.every, w.kind)
		}
		if g.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP || g.Catchup != time.Hour {
			t.Errorf("%s: overlap %v, catchup %v; want skip, 1h", g.ID, g.Overlap, g.Catchup)
		}
		if g.WorkflowType != schemas.BackupWorkflow || g.TaskQueue != "lifeboat" || g.WorkflowID != w.id {
			t.Errorf("%s: starts %s on %s as %s; want Backup on lifeboat named after the schedule", g.ID, g.WorkflowType, g.TaskQueue, g.WorkflowID)
		}
		if g.ScheduleCluster != "dev" || g.WorkflowCluster != "dev" || g.WorkflowKind != "backup-"+w.kind {
			t.Errorf("%s: search attributes %q %q %q", g.ID, g.ScheduleCluster, g.WorkflowCluster, g.WorkflowKind)
		}
	}
}

func TestDesiredSchedules_IntervalsOverrideAndOmit(t *testing.T) {
	got := mustDesired(t, "prod-eu", map[string]time.Duration{schemas.BackupDatabase: 5 * time.Second, schemas.BackupConfig: time.Hour})
	if len(got) != 2 || got[0].ID != "backup/prod-eu/database" || got[0].Every != 5*time.Second ||
		got[1].ID != "backup/prod-eu/config" || got[1].Every != time.Hour {
		t.Errorf("got %+v, want database every 5s and config every 1h only", got)
	}
}

func TestDesiredSchedules_RefusesBadIntervalsAndNames(t *testing.T) {
	tests := []struct {
		name    string
		cluster string
		every   time.Duration
		want    string
	}{
		{"zero interval", "dev", 0, "at least 1s"},
		{"sub-second", "dev", 500 * time.Millisecond, "at least 1s"},
		{"fractional seconds", "dev", 1500 * time.Millisecond, "whole number of seconds"},
		{"upper-case cluster", "Dev", time.Hour, `cluster name "Dev"`},
		{"quote in cluster", "a'b", time.Hour, "cluster name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := desiredSchedules(tt.cluster, map[string]time.Duration{schemas.BackupDatabase: tt.every})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestPlanSchedules(t *testing.T) {
	want := mustDesired(t, "dev", defaultEvery)
	db, files, config := want[0], want[1], want[2]
	faster := db
	faster.Every = 5 * time.Second
	movedQueue := files
	movedQueue.TaskQueue = "elsewhere"
	stray := backupSchedule{ID: "backup/dev/old"}

	tests := []struct {
		name  string
		have  []backupSchedule
		prune bool
		want  []scheduleChange
	}{
		{
			name: "nothing yet: create all",
			want: []scheduleChange{{ID: db.ID, Op: opCreate, Want: db}, {ID: files.ID, Op: opCreate, Want: files}, {ID: config.ID, Op: opCreate, Want: config}},
		},
		{
			name: "all as wanted: nothing changes",
			have: []backupSchedule{config, db, files},
			want: []scheduleChange{{ID: db.ID, Op: opUnchanged, Want: db}, {ID: files.ID, Op: opUnchanged, Want: files}, {ID: config.ID, Op: opUnchanged, Want: config}},
		},
		{
			name: "interval and queue changed: update, saying what differs",
			have: []backupSchedule{faster, movedQueue, config},
			want: []scheduleChange{
				{ID: db.ID, Op: opUpdate, Want: db, Why: []string{"interval: 5s → 4h"}},
				{ID: files.ID, Op: opUpdate, Want: files, Why: []string{"task queue: elsewhere → lifeboat"}},
				{ID: config.ID, Op: opUnchanged, Want: config},
			},
		},
		{
			name: "one missing, one unwanted: create and report",
			have: []backupSchedule{db, files, stray, stray},
			want: []scheduleChange{{ID: db.ID, Op: opUnchanged, Want: db}, {ID: files.ID, Op: opUnchanged, Want: files}, {ID: config.ID, Op: opCreate, Want: config}, {ID: stray.ID, Op: opUnwanted}},
		},
		{
			name:  "unwanted with prune: delete",
			have:  []backupSchedule{db, files, config, stray},
			prune: true,
			want:  []scheduleChange{{ID: db.ID, Op: opUnchanged, Want: db}, {ID: files.ID, Op: opUnchanged, Want: files}, {ID: config.ID, Op: opUnchanged, Want: config}, {ID: stray.ID, Op: opDelete}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := planSchedules(want, tt.have, tt.prune)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("plan:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// described is what the server hands back for a schedule created from s:
// the action's input and memo as payloads, the workflow type as a name.
func described(t *testing.T, s backupSchedule) *client.ScheduleDescription {
	t.Helper()
	return describedWith(t, s, converter.GetDefaultDataConverter())
}

// describedWith is described with the input encoded by dc.
func describedWith(t *testing.T, s backupSchedule, dc converter.DataConverter) *client.ScheduleDescription {
	t.Helper()
	opts := s.createOptions()
	a := *opts.Action.(*client.ScheduleWorkflowAction)
	p, err := dc.ToPayload(a.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	a.Args = []any{p}
	return &client.ScheduleDescription{
		Schedule: client.Schedule{
			Action: &a,
			Spec:   &opts.Spec,
			Policy: &client.SchedulePolicies{Overlap: opts.Overlap, CatchupWindow: opts.CatchupWindow},
			State:  &client.ScheduleState{Note: opts.Note},
		},
		TypedSearchAttributes: opts.TypedSearchAttributes,
	}
}

func TestObserveSchedule_ReadsBackWhatApplyWrites(t *testing.T) {
	for _, s := range mustDesired(t, "dev", defaultEvery) {
		got, err := observeSchedule(s.ID, described(t, s), converter.GetDefaultDataConverter())
		if err != nil {
			t.Fatal(err)
		}
		if d := differences(s, got); len(d) > 0 {
			t.Errorf("%s read back with differences %v", s.ID, d)
		}
	}
}

func TestObserveSchedule_ReadsAnEncryptedInput(t *testing.T) {
	key, err := codec.NewKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	dc, err := tclient.Options{CodecKeys: key}.DataConverter()
	if err != nil {
		t.Fatal(err)
	}
	s := mustDesired(t, "dev", defaultEvery)[0]
	desc := describedWith(t, s, dc)
	sealed := desc.Schedule.Action.(*client.ScheduleWorkflowAction).Args[0].(*commonpb.Payload)
	if string(sealed.Metadata["encoding"]) != codec.Encoding {
		t.Fatalf("the input was not sealed: %v", sealed.Metadata)
	}
	if _, err := observeSchedule(s.ID, desc, converter.GetDefaultDataConverter()); err == nil {
		t.Error("the default converter read a sealed input")
	}
	got, err := observeSchedule(s.ID, desc, dc)
	if err != nil {
		t.Fatal(err)
	}
	if d := differences(s, got); len(d) > 0 {
		t.Errorf("read back with differences %v", d)
	}
}

func TestObserveSchedule_UntypedAttributesAndForeignTiming(t *testing.T) {
	s := mustDesired(t, "dev", defaultEvery)[0]
	desc := described(t, s)
	a := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	kind, _ := converter.GetDefaultDataConverter().ToPayload("backup-database")
	cluster, _ := converter.GetDefaultDataConverter().ToPayload("dev")
	a.TypedSearchAttributes = temporal.SearchAttributes{}
	a.UntypedSearchAttributes = map[string]*commonpb.Payload{schemas.SearchAttrKind: kind, schemas.SearchAttrCluster: cluster}
	desc.Schedule.Spec.Calendars = []client.ScheduleCalendarSpec{{}}
	desc.Schedule.Spec.Intervals[0].Offset = time.Minute

	got, err := observeSchedule(s.ID, desc, converter.GetDefaultDataConverter())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"other timing: offset 1m, 1 calendar specs → none"}
	if d := differences(s, got); !reflect.DeepEqual(d, want) {
		t.Errorf("differences = %q, want %q", d, want)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		4 * time.Hour: "4h", 24 * time.Hour: "24h", 90 * time.Minute: "1h30m", 5 * time.Second: "5s",
		time.Minute: "1m", 0: "0s", time.Hour + time.Second: "1h0m1s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
