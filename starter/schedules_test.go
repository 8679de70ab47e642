package main

import (
	"bytes"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/runnerhub/lifeboat/schedules"
)

func TestApplied_SaysWhatApplyDidToEachSchedule(t *testing.T) {
	every4h := schedules.Schedule{Every: 4 * time.Hour}
	tests := []struct {
		ch   schedules.Change
		want string
	}{
		{schedules.Change{Op: schedules.OpCreate, Want: every4h}, "created    every 4h"},
		{schedules.Change{Op: schedules.OpUpdate, Want: every4h, Why: []string{"interval: 5s → 4h", "task queue: a → lifeboat"}},
			"updated    every 4h (interval: 5s → 4h; task queue: a → lifeboat)"},
		{schedules.Change{Op: schedules.OpUnchanged, Want: every4h}, "unchanged  every 4h"},
		{schedules.Change{Op: schedules.OpUnwanted}, "unwanted   kept; `lifeboat schedules apply --prune` deletes it"},
		{schedules.Change{Op: schedules.OpDelete}, "deleted    no longer wanted"},
	}
	for _, tt := range tests {
		if got := applied(tt.ch); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.ch.Op, got, tt.want)
		}
	}
}

func TestPrintSchedules_IntervalPauseNextAndLastRun(t *testing.T) {
	next := []time.Time{time.Date(2025, 1, 2, 4, 0, 0, 0, time.UTC), time.Date(2025, 1, 2, 8, 0, 0, 0, time.UTC), time.Date(2025, 1, 2, 12, 0, 0, 0, time.UTC)}
	rows := []scheduleRow{
		{ID: "backup/dev/database", LastStatus: "never run", Desc: &client.ScheduleDescription{
			Schedule: client.Schedule{
				Spec:  &client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: 4 * time.Hour, Offset: time.Minute}}},
				State: &client.ScheduleState{Paused: true, Note: "disk swap"},
			},
			Info: client.ScheduleInfo{NextActionTimes: next},
		}},
		{ID: "backup/dev/hand-made", LastStatus: "never run", Desc: &client.ScheduleDescription{
			Schedule: client.Schedule{Spec: &client.ScheduleSpec{CronExpressions: []string{"0 * * * *"}}},
		}},
	}
	var out bytes.Buffer
	printSchedules(&out, rows)
	want := "SCHEDULE              EVERY                 PAUSED             NEXT RUNS                                   LAST RUN\n" +
		"backup/dev/database   4h + offset 1m        PAUSED: disk swap  2025-01-02T04:00:00Z, 2025-01-02T08:00:00Z  never run\n" +
		"backup/dev/hand-made  - + 1 calendar specs  no                 -                                           never run\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	if printSchedules(&out, nil); out.String() != "no schedules\n" {
		t.Errorf("no rows: %q", out.String())
	}
}
