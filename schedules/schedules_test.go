package schedules

import (
	"encoding/json"
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

func mustDesired(t *testing.T, cluster string, every map[string]time.Duration) []Schedule {
	t.Helper()
	want, err := Desired(cluster, every)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

func TestDesired_OnePerKindStartingTheBackupWorkflow(t *testing.T) {
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

func TestDesired_IntervalsOverrideAndOmit(t *testing.T) {
	got := mustDesired(t, "prod-eu", map[string]time.Duration{schemas.BackupDatabase: 5 * time.Second, schemas.BackupConfig: time.Hour})
	if len(got) != 2 || got[0].ID != "backup/prod-eu/database" || got[0].Every != 5*time.Second ||
		got[1].ID != "backup/prod-eu/config" || got[1].Every != time.Hour {
		t.Errorf("got %+v, want database every 5s and config every 1h only", got)
	}
}

func TestDesired_RefusesBadIntervalsAndNames(t *testing.T) {
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
			_, err := Desired(tt.cluster, map[string]time.Duration{schemas.BackupDatabase: tt.every})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestDesired_FileSyncHourlyUnderTheClustersPrefix(t *testing.T) {
	every := map[string]time.Duration{schemas.BackupDatabase: time.Hour, schemas.FileSyncKind: schemas.FileSyncEvery}
	got := mustDesired(t, "dev", every)
	if len(got) != 2 {
		t.Fatalf("got %d schedules, want database and filesync", len(got))
	}
	s := got[1]
	if s.ID != "backup/dev/filesync" || !strings.HasPrefix(s.ID, schemas.BackupSchedulePrefix("dev")) || s.Every != time.Hour ||
		s.WorkflowType != schemas.FileSyncWorkflow || s.WorkflowKind != schemas.FileSyncKind ||
		s.Input != (schemas.FileSyncInput{Cluster: "dev"}) {
		t.Errorf("file sync schedule %+v", s)
	}
	// What apply writes reads back the same, so a second apply leaves it.
	back, err := observe(s.ID, described(t, s), converter.GetDefaultDataConverter())
	if err != nil {
		t.Fatal(err)
	}
	if d := differences(s, back); len(d) > 0 {
		t.Errorf("read back with differences %v", d)
	}
	if changes := plan(got, []Schedule{back}, false); changes[1].Op != OpUnchanged {
		t.Errorf("apply would %s the schedule it just wrote", changes[1].Op)
	}
	if _, err := Desired("dev", map[string]time.Duration{schemas.FileSyncKind: 1500 * time.Millisecond}); err == nil ||
		!strings.Contains(err.Error(), "file sync interval") {
		t.Errorf("a fractional interval: %v", err)
	}
}

func TestPlan_SaysWhatEachScheduleNeeds(t *testing.T) {
	want := mustDesired(t, "dev", defaultEvery)
	db, files, config := want[0], want[1], want[2]
	faster := db
	faster.Every = 5 * time.Second
	movedQueue := files
	movedQueue.TaskQueue = "elsewhere"
	stray := Schedule{ID: "backup/dev/old"}

	tests := []struct {
		name  string
		have  []Schedule
		prune bool
		want  []Change
	}{
		{
			name: "nothing yet: create all",
			want: []Change{{ID: db.ID, Op: OpCreate, Want: db}, {ID: files.ID, Op: OpCreate, Want: files}, {ID: config.ID, Op: OpCreate, Want: config}},
		},
		{
			name: "all as wanted: nothing changes",
			have: []Schedule{config, db, files},
			want: []Change{{ID: db.ID, Op: OpUnchanged, Want: db}, {ID: files.ID, Op: OpUnchanged, Want: files}, {ID: config.ID, Op: OpUnchanged, Want: config}},
		},
		{
			name: "interval and queue changed: update, saying what differs",
			have: []Schedule{faster, movedQueue, config},
			want: []Change{
				{ID: db.ID, Op: OpUpdate, Want: db, Why: []string{"interval: 5s → 4h"}},
				{ID: files.ID, Op: OpUpdate, Want: files, Why: []string{"task queue: elsewhere → lifeboat"}},
				{ID: config.ID, Op: OpUnchanged, Want: config},
			},
		},
		{
			name: "one missing, one unwanted: create and report",
			have: []Schedule{db, files, stray, stray},
			want: []Change{{ID: db.ID, Op: OpUnchanged, Want: db}, {ID: files.ID, Op: OpUnchanged, Want: files}, {ID: config.ID, Op: OpCreate, Want: config}, {ID: stray.ID, Op: OpUnwanted}},
		},
		{
			name:  "unwanted with prune: delete",
			have:  []Schedule{db, files, config, stray},
			prune: true,
			want:  []Change{{ID: db.ID, Op: OpUnchanged, Want: db}, {ID: files.ID, Op: OpUnchanged, Want: files}, {ID: config.ID, Op: OpUnchanged, Want: config}, {ID: stray.ID, Op: OpDelete}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plan(want, tt.have, tt.prune)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("plan:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// described is what the server hands back for a schedule created from s:
// the action's input and memo as payloads, the workflow type as a name.
func described(t *testing.T, s Schedule) *client.ScheduleDescription {
	t.Helper()
	return describedWith(t, s, converter.GetDefaultDataConverter())
}

// describedWith is described with the input encoded by dc.
func describedWith(t *testing.T, s Schedule, dc converter.DataConverter) *client.ScheduleDescription {
	t.Helper()
	return stored(t, createdSchedule(s.createOptions()), s.attrs(), dc)
}

// createdSchedule is the schedule the server makes of opts.
func createdSchedule(opts client.ScheduleOptions) client.Schedule {
	return client.Schedule{
		Action: opts.Action,
		Spec:   &opts.Spec,
		Policy: &client.SchedulePolicies{Overlap: opts.Overlap, CatchupWindow: opts.CatchupWindow},
		State:  &client.ScheduleState{Note: opts.Note, Paused: opts.Paused},
	}
}

// stored is how the server describes sched once stored: the action's
// input encoded by dc.
func stored(t *testing.T, sched client.Schedule, attrs temporal.SearchAttributes, dc converter.DataConverter) *client.ScheduleDescription {
	t.Helper()
	a := *sched.Action.(*client.ScheduleWorkflowAction)
	p, err := dc.ToPayload(a.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	a.Args = []any{p}
	sched.Action = &a
	return &client.ScheduleDescription{Schedule: sched, TypedSearchAttributes: attrs}
}

func TestObserve_ReadsBackWhatApplyWrites(t *testing.T) {
	for _, s := range mustDesired(t, "dev", defaultEvery) {
		got, err := observe(s.ID, described(t, s), converter.GetDefaultDataConverter())
		if err != nil {
			t.Fatal(err)
		}
		if d := differences(s, got); len(d) > 0 {
			t.Errorf("%s read back with differences %v", s.ID, d)
		}
	}
}

func TestObserve_ReadsAnEncryptedInput(t *testing.T) {
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
	if _, err := observe(s.ID, desc, converter.GetDefaultDataConverter()); err == nil {
		t.Error("the default converter read a sealed input")
	}
	got, err := observe(s.ID, desc, dc)
	if err != nil {
		t.Fatal(err)
	}
	if d := differences(s, got); len(d) > 0 {
		t.Errorf("read back with differences %v", d)
	}
}

func TestObserve_UntypedAttributesAndForeignTiming(t *testing.T) {
	s := mustDesired(t, "dev", defaultEvery)[0]
	desc := described(t, s)
	a := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	kind, _ := converter.GetDefaultDataConverter().ToPayload("backup-database")
	cluster, _ := converter.GetDefaultDataConverter().ToPayload("dev")
	a.TypedSearchAttributes = temporal.SearchAttributes{}
	a.UntypedSearchAttributes = map[string]*commonpb.Payload{schemas.SearchAttrKind: kind, schemas.SearchAttrCluster: cluster}
	desc.Schedule.Spec.Calendars = []client.ScheduleCalendarSpec{{}}
	desc.Schedule.Spec.Intervals[0].Offset = time.Minute

	got, err := observe(s.ID, desc, converter.GetDefaultDataConverter())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"other timing: offset 1m, 1 calendar specs → none"}
	if d := differences(s, got); !reflect.DeepEqual(d, want) {
		t.Errorf("differences = %q, want %q", d, want)
	}
}

func TestCanonicalJSON_IgnoresKeyOrder(t *testing.T) {
	a := canonicalJSON(schemas.FileSyncInput{Cluster: "dev", Tree: "t"})
	b := canonicalJSON(json.RawMessage(`{"tree":"t","cluster":"dev"}`))
	if a != b {
		t.Errorf("%s != %s", a, b)
	}
	if c := canonicalJSON(json.RawMessage(`{"tree":"u","cluster":"dev"}`)); a == c {
		t.Errorf("different inputs compare equal: %s", c)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		4 * time.Hour: "4h", 24 * time.Hour: "24h", 90 * time.Minute: "1h30m", 5 * time.Second: "5s",
		time.Minute: "1m", 0: "0s", time.Hour + time.Second: "1h0m1s",
	} {
		if got := ShortDuration(d); got != want {
			t.Errorf("ShortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
