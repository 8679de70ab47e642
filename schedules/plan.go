package schedules

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/schemas"
)

// Op is what Apply does, or did, to one schedule.
type Op string

// The ops of a Change. OpUnchanged and OpUnwanted leave the schedule as
// it is.
const (
	OpCreate    Op = "create"
	OpUpdate    Op = "update"
	OpUnchanged Op = "unchanged"
	// OpUnwanted is a schedule under the cluster's prefix that is no
	// longer wanted and is kept because prune was not asked for.
	OpUnwanted Op = "unwanted"
	OpDelete   Op = "delete"
)

// Change is one step of a plan.
type Change struct {
	ID string
	Op Op
	// Want is the schedule as it should be, for OpCreate, OpUpdate and
	// OpUnchanged.
	Want Schedule
	// Why lists the differences an update fixes, as "what: old → new".
	Why []string
}

// Plan reads the cluster's schedules from the server and says what Apply
// must do to bring them to want: the wanted ones first in their order,
// then the unwanted ones by ID. The cluster's schedules are those under
// schemas.BackupSchedulePrefix; no other is touched, and an unwanted one
// is deleted only when prune is set. dc decodes the inputs of existing
// schedules, which the SDK hands back raw.
func Plan(ctx context.Context, c Client, dc converter.DataConverter, cluster string, want []Schedule, prune bool) ([]Change, error) {
	if err := schemas.CheckClusterName(cluster); err != nil {
		return nil, err
	}
	var have []Schedule
	// The wanted schedules are described one by one rather than listed:
	// listing goes through visibility, which lags behind a fresh change.
	for _, s := range want {
		d, err := c.Describe(ctx, s.ID)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("describe schedule %s: %w", s.ID, err)
		}
		o, err := observe(s.ID, d, dc)
		if err != nil {
			return nil, err
		}
		have = append(have, o)
	}
	ids, err := listIDs(ctx, c, fmt.Sprintf("ScheduleId STARTS_WITH '%s'", schemas.BackupSchedulePrefix(cluster)))
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		// A wanted schedule the list still shows after Describe found it
		// gone was just deleted: it is created again, not updated.
		if !slices.ContainsFunc(want, func(s Schedule) bool { return s.ID == id }) {
			have = append(have, Schedule{ID: id})
		}
	}
	return plan(want, have, prune), nil
}

// plan compares the schedules a cluster should have with those it has,
// where an ID may come more than once, and orders the changes as Plan
// says.
func plan(want, have []Schedule, prune bool) []Change {
	existing := map[string]Schedule{}
	for _, h := range have {
		existing[h.ID] = h
	}
	var changes []Change
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w.ID] = true
		h, ok := existing[w.ID]
		switch d := differences(w, h); {
		case !ok:
			changes = append(changes, Change{ID: w.ID, Op: OpCreate, Want: w})
		case len(d) > 0:
			changes = append(changes, Change{ID: w.ID, Op: OpUpdate, Want: w, Why: d})
		default:
			changes = append(changes, Change{ID: w.ID, Op: OpUnchanged, Want: w})
		}
	}
	var extra []string
	for _, h := range have {
		if !wanted[h.ID] && !slices.Contains(extra, h.ID) {
			extra = append(extra, h.ID)
		}
	}
	slices.Sort(extra)
	for _, id := range extra {
		op := OpUnwanted
		if prune {
			op = OpDelete
		}
		changes = append(changes, Change{ID: id, Op: op})
	}
	return changes
}

// observe reads the managed part of an existing schedule; dc decodes its
// workflow input.
func observe(id string, d *client.ScheduleDescription, dc converter.DataConverter) (Schedule, error) {
	s := Schedule{ID: id}
	sched := d.Schedule
	if sched.Spec != nil {
		s.Every, s.OtherTiming = SplitSpec(*sched.Spec)
	}
	if sched.Policy != nil {
		s.Overlap = sched.Policy.Overlap
		s.Catchup = sched.Policy.CatchupWindow
	}
	s.ScheduleCluster, _ = d.TypedSearchAttributes.GetKeyword(clusterKey)
	a, ok := sched.Action.(*client.ScheduleWorkflowAction)
	if !ok {
		return s, fmt.Errorf("schedule %s does not start a workflow (action %T)", id, sched.Action)
	}
	s.WorkflowType, _ = a.Workflow.(string)
	s.WorkflowID = a.ID
	s.TaskQueue = a.TaskQueue
	s.Timeout = a.WorkflowExecutionTimeout
	s.Summary = a.StaticSummary
	if len(a.Args) == 1 {
		if p, ok := a.Args[0].(*commonpb.Payload); ok {
			var raw json.RawMessage
			if err := dc.FromPayload(p, &raw); err != nil {
				return s, fmt.Errorf("schedule %s: decode workflow input: %w", id, err)
			}
			s.Input = raw
		}
	}
	s.WorkflowCluster = actionKeyword(a, clusterKey)
	s.WorkflowKind = actionKeyword(a, kindKey)
	return s, nil
}

// actionKeyword reads a keyword attribute of a scheduled action, typed or,
// when the server returned it without its type, untyped.
func actionKeyword(a *client.ScheduleWorkflowAction, key temporal.SearchAttributeKeyKeyword) string {
	if v, ok := a.TypedSearchAttributes.GetKeyword(key); ok {
		return v
	}
	var v string
	if p := a.UntypedSearchAttributes[key.GetName()]; p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &v)
	}
	return v
}

// SplitSpec returns a spec's first interval, and a description of
// anything else in it: the timing Apply does not set.
func SplitSpec(spec client.ScheduleSpec) (every time.Duration, other string) {
	var o []string
	for i, iv := range spec.Intervals {
		if i == 0 {
			every = iv.Every
		} else {
			o = append(o, "another interval of "+ShortDuration(iv.Every))
		}
		if iv.Offset != 0 {
			o = append(o, "offset "+ShortDuration(iv.Offset))
		}
	}
	if n := len(spec.Calendars) + len(spec.CronExpressions); n > 0 {
		o = append(o, fmt.Sprintf("%d calendar specs", n))
	}
	if len(spec.Skip) > 0 {
		o = append(o, fmt.Sprintf("%d skip specs", len(spec.Skip)))
	}
	if spec.Jitter != 0 {
		o = append(o, "jitter "+ShortDuration(spec.Jitter))
	}
	if !spec.StartAt.IsZero() || !spec.EndAt.IsZero() {
		o = append(o, "start or end time")
	}
	return every, strings.Join(o, ", ")
}
