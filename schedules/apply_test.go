package schedules

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/runnerhub/lifeboat/schemas"
)

// ops are the IDs and ops of a plan, as "ID op".
func ops(plan []Change) []string {
	var s []string
	for _, ch := range plan {
		s = append(s, ch.ID+" "+string(ch.Op))
	}
	return s
}

func mustPlan(t *testing.T, c Client, want []Schedule, prune bool) []Change {
	t.Helper()
	plan, err := Plan(context.Background(), c, converter.GetDefaultDataConverter(), "dev", want, prune)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func mustApply(t *testing.T, c Client, plan []Change) {
	t.Helper()
	for _, ch := range plan {
		if err := Apply(context.Background(), c, ch); err != nil {
			t.Fatal(err)
		}
	}
}

func TestApply_WhatItWritesPlansAsUnchanged(t *testing.T) {
	f := newFake(t)
	want := mustDesired(t, "dev", map[string]time.Duration{
		schemas.BackupDatabase: time.Hour, schemas.FileSyncKind: time.Hour, schemas.DrillKind: schemas.DefaultDrillEvery,
	})
	mustApply(t, f, mustPlan(t, f, want, false))
	wantCalls := []string{"create backup/dev/database", "create backup/dev/filesync", "create backup/dev/drill"}
	if !reflect.DeepEqual(f.calls, wantCalls) {
		t.Errorf("first apply: %q, want %q", f.calls, wantCalls)
	}
	if d := f.descs["backup/dev/database"]; d.Schedule.State.Note != note {
		t.Errorf("created with note %q, want %q", d.Schedule.State.Note, note)
	}
	got := ops(mustPlan(t, f, want, false))
	wantOps := []string{"backup/dev/database unchanged", "backup/dev/filesync unchanged", "backup/dev/drill unchanged"}
	if !reflect.DeepEqual(got, wantOps) {
		t.Errorf("second plan: %q, want %q", got, wantOps)
	}
	if wantQuery := "ScheduleId STARTS_WITH 'backup/dev/'"; f.queries[0] != wantQuery {
		t.Errorf("listed with %q, want %q", f.queries[0], wantQuery)
	}
}

func TestApply_UpdateKeepsWhatTheOperatorPausedAndWhy(t *testing.T) {
	f := newFake(t)
	hourly := mustDesired(t, "dev", map[string]time.Duration{schemas.BackupDatabase: time.Hour})
	mustApply(t, f, mustPlan(t, f, hourly, false))
	f.descs["backup/dev/database"].Schedule.State = &client.ScheduleState{Paused: true, Note: "disk swap"}

	fast := mustDesired(t, "dev", map[string]time.Duration{schemas.BackupDatabase: 5 * time.Second})
	plan := mustPlan(t, f, fast, false)
	if len(plan) != 1 || plan[0].Op != OpUpdate || !reflect.DeepEqual(plan[0].Why, []string{"interval: 1h → 5s"}) {
		t.Fatalf("plan %+v, want one update of the interval", plan)
	}
	mustApply(t, f, plan)
	d := f.descs["backup/dev/database"]
	if st := d.Schedule.State; !st.Paused || st.Note != "disk swap" {
		t.Errorf("after the update: paused %v, note %q; want paused as the operator left it", st.Paused, st.Note)
	}
	if every, _ := SplitSpec(*d.Schedule.Spec); every != 5*time.Second {
		t.Errorf("after the update every %v, want 5s", every)
	}
}

func TestPlan_ListedButGoneIsCreatedAndTheRestAreUnwanted(t *testing.T) {
	f := newFake(t)
	want := mustDesired(t, "dev", defaultEvery)
	mustApply(t, f, mustPlan(t, f, want[:1], false))
	// Visibility still lists the config schedule, deleted a moment ago,
	// and a stray twice.
	f.listed = []string{"backup/dev/stray", "backup/dev/config", "backup/dev/database", "backup/dev/stray"}

	got := ops(mustPlan(t, f, want, false))
	wantOps := []string{"backup/dev/database unchanged", "backup/dev/files create", "backup/dev/config create", "backup/dev/stray unwanted"}
	if !reflect.DeepEqual(got, wantOps) {
		t.Errorf("plan %q, want %q", got, wantOps)
	}
	got = ops(mustPlan(t, f, want, true))
	if last := got[len(got)-1]; last != "backup/dev/stray delete" {
		t.Errorf("with prune the stray is %q, want deleted", last)
	}
}

func TestApply_DeletingAGoneScheduleIsDone(t *testing.T) {
	f := newFake(t)
	if err := Apply(context.Background(), f, Change{ID: "backup/dev/stray", Op: OpDelete}); err != nil {
		t.Errorf("delete of a schedule already gone: %v", err)
	}
	if err := Apply(context.Background(), f, Change{ID: "backup/dev/stray", Op: "rename"}); err == nil {
		t.Error("an unknown op was applied")
	}
}

func TestApply_ErrorsNameTheSchedule(t *testing.T) {
	f := newFake(t)
	s := mustDesired(t, "dev", defaultEvery)[0]
	mustApply(t, f, []Change{{ID: s.ID, Op: OpCreate, Want: s}})
	err := Apply(context.Background(), f, Change{ID: s.ID, Op: OpCreate, Want: s})
	if err == nil || !strings.HasPrefix(err.Error(), "create schedule backup/dev/database: ") {
		t.Errorf("create over an existing schedule: %v", err)
	}
	err = Apply(context.Background(), f, Change{ID: "backup/dev/files", Op: OpUpdate, Want: s})
	if err == nil || !strings.HasPrefix(err.Error(), "update schedule backup/dev/files: ") || !isNotFound(err) {
		t.Errorf("update of a missing schedule: %v", err)
	}
}

func TestPlan_RefusesWhatItCannotRead(t *testing.T) {
	want := mustDesired(t, "dev", defaultEvery)
	f := newFake(t)
	f.failDescribe = errors.New("connection refused")
	if _, err := Plan(context.Background(), f, converter.GetDefaultDataConverter(), "dev", want, false); err == nil ||
		err.Error() != "describe schedule backup/dev/database: connection refused" {
		t.Errorf("a failed describe: %v", err)
	}
	if _, err := Plan(context.Background(), newFake(t), converter.GetDefaultDataConverter(), "dev' OR ScheduleId != '", nil, true); err == nil {
		t.Error("a name that breaks out of the query was planned")
	}
	f = newFake(t)
	f.descs["backup/dev/database"] = &client.ScheduleDescription{}
	if _, err := Plan(context.Background(), f, converter.GetDefaultDataConverter(), "dev", want, false); err == nil ||
		!strings.Contains(err.Error(), "does not start a workflow") {
		t.Errorf("a schedule that starts no workflow: %v", err)
	}
}

func TestList_TheClustersSchedulesByIDWithoutTheDeleted(t *testing.T) {
	f := newFake(t)
	mustApply(t, f, mustPlan(t, f, mustDesired(t, "dev", defaultEvery), false))
	f.listed = []string{"backup/dev/files", "backup/dev/gone", "backup/dev/config", "backup/dev/database", "backup/dev/files"}

	got, err := List(context.Background(), f, "dev")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range got {
		ids = append(ids, e.ID)
		if e.Desc != f.descs[e.ID] {
			t.Errorf("%s: not the server's description", e.ID)
		}
	}
	if want := f.ids(); !slices.Equal(ids, want) {
		t.Errorf("listed %q, want %q", ids, want)
	}
	wantQuery := "LifeboatCluster = 'dev' OR ScheduleId STARTS_WITH 'backup/dev/'"
	if q := f.queries[len(f.queries)-1]; q != wantQuery {
		t.Errorf("query %q, want %q", q, wantQuery)
	}
	if _, err := List(context.Background(), f, ""); err != nil || f.queries[len(f.queries)-1] != "" {
		t.Errorf("every schedule: query %q, err %v; want no query", f.queries[len(f.queries)-1], err)
	}
	if _, err := List(context.Background(), f, "Dev"); err == nil {
		t.Error("listed a cluster name the topology refuses")
	}
}
