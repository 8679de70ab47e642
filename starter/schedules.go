package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/internal/tclient"
	"github.com/runnerhub/lifeboat/schemas"
)

// scheduleCatchup is how late a run missed while Temporal was down may
// still start. An hour late is still a useful backup; the skip policy means
// at most one such run is taken anyway.
const scheduleCatchup = time.Hour

// scheduleNote is the note a schedule is created with; the Web UI shows it.
// Updates keep the note, since an operator who pauses a schedule writes why.
const scheduleNote = "managed by `lifeboat schedules apply`: changes made elsewhere are undone by the next apply"

var (
	clusterKey = temporal.NewSearchAttributeKeyKeyword(schemas.SearchAttrCluster)
	kindKey    = temporal.NewSearchAttributeKeyKeyword(schemas.SearchAttrKind)
)

// backupSchedule is the part of a Temporal Schedule that `schedules apply`
// manages. Two schedules with equal backupSchedules start the same
// workflows at the same times.
type backupSchedule struct {
	ID    string
	Every time.Duration
	// OtherTiming describes timing apply never sets (calendars, offsets,
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

// fields names and renders what two schedules are compared by, in the
// order differences are reported.
func (s backupSchedule) fields() [][2]string {
	input := canonicalJSON(s.Input)
	return [][2]string{
		{"interval", shortDuration(s.Every)},
		{"other timing", orNone(s.OtherTiming)},
		{"overlap policy", s.Overlap.String()},
		{"catchup window", shortDuration(s.Catchup)},
		{"workflow type", s.WorkflowType},
		{"workflow ID", s.WorkflowID},
		{"task queue", s.TaskQueue},
		{"execution timeout", shortDuration(s.Timeout)},
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
func differences(want, have backupSchedule) []string {
	var d []string
	w, h := want.fields(), have.fields()
	for i := range w {
		if w[i][1] != h[i][1] {
			d = append(d, fmt.Sprintf("%s: %s → %s", w[i][0], h[i][1], w[i][1]))
		}
	}
	return d
}

// desiredSchedules is every schedule a cluster should have. every gives
// each backup kind's interval; a kind missing from it has no schedule.
func desiredSchedules(cluster string, every map[string]time.Duration) ([]backupSchedule, error) {
	if err := schemas.CheckClusterName(cluster); err != nil {
		return nil, err
	}
	var out []backupSchedule
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

// clusterSchedule is a schedule of cluster's that starts workflowType with
// input every d, skipping a run while the last one runs; kind is the
// LifeboatKind the workflow sets, what the summary's words for it.
func clusterSchedule(cluster, id string, d, timeout time.Duration, workflowType string, input any, what, kind string) backupSchedule {
	return backupSchedule{
		ID:              id,
		Every:           d,
		Overlap:         enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Catchup:         scheduleCatchup,
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

// scheduleOp is what apply does, or did, to one schedule.
type scheduleOp string

const (
	opCreate    scheduleOp = "create"
	opUpdate    scheduleOp = "update"
	opUnchanged scheduleOp = "unchanged"
	// opUnwanted is a schedule under the cluster's prefix that is no longer
	// wanted and is kept because --prune was not given.
	opUnwanted scheduleOp = "unwanted"
	opDelete   scheduleOp = "delete"
)

// scheduleChange is one line of apply's plan.
type scheduleChange struct {
	ID   string
	Op   scheduleOp
	Want backupSchedule // for create and update
	// Why lists the differences an update fixes.
	Why []string
}

// planSchedules compares the schedules a cluster should have with those it
// has (found under its prefix, one entry per ID) and says what to do with each: wanted ones
// first in their order, then the unwanted ones by ID. Unwanted schedules
// are deleted only when prune is set.
func planSchedules(want, have []backupSchedule, prune bool) []scheduleChange {
	existing := map[string]backupSchedule{}
	for _, h := range have {
		existing[h.ID] = h
	}
	var plan []scheduleChange
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w.ID] = true
		h, ok := existing[w.ID]
		switch d := differences(w, h); {
		case !ok:
			plan = append(plan, scheduleChange{ID: w.ID, Op: opCreate, Want: w})
		case len(d) > 0:
			plan = append(plan, scheduleChange{ID: w.ID, Op: opUpdate, Want: w, Why: d})
		default:
			plan = append(plan, scheduleChange{ID: w.ID, Op: opUnchanged, Want: w})
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
		op := opUnwanted
		if prune {
			op = opDelete
		}
		plan = append(plan, scheduleChange{ID: id, Op: op})
	}
	return plan
}

// scheduleSpec is the timing of s.
func (s backupSchedule) scheduleSpec() *client.ScheduleSpec {
	return &client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: s.Every}}}
}

// action is the workflow start s makes at each scheduled time.
func (s backupSchedule) action() *client.ScheduleWorkflowAction {
	return &client.ScheduleWorkflowAction{
		ID:                       s.WorkflowID,
		Workflow:                 s.WorkflowType,
		Args:                     []any{s.Input},
		TaskQueue:                s.TaskQueue,
		WorkflowExecutionTimeout: s.Timeout,
		StaticSummary:            s.Summary,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			clusterKey.ValueSet(s.WorkflowCluster), kindKey.ValueSet(s.WorkflowKind)),
	}
}

func (s backupSchedule) scheduleAttrs() temporal.SearchAttributes {
	return temporal.NewSearchAttributes(clusterKey.ValueSet(s.ScheduleCluster))
}

// createOptions are the options that create s.
func (s backupSchedule) createOptions() client.ScheduleOptions {
	return client.ScheduleOptions{
		ID:            s.ID,
		Spec:          *s.scheduleSpec(),
		Action:        s.action(),
		Overlap:       s.Overlap,
		CatchupWindow: s.Catchup,
		Note:          scheduleNote,
		Memo: map[string]any{
			"description": s.Summary,
			"managed_by":  "lifeboat schedules apply",
		},
		TypedSearchAttributes: s.scheduleAttrs(),
	}
}

// update replaces what s manages and keeps the schedule's state: a
// schedule an operator paused stays paused, with its note.
func (s backupSchedule) update(state *client.ScheduleState) *client.ScheduleUpdate {
	if state == nil {
		state = &client.ScheduleState{Note: scheduleNote}
	}
	attrs := s.scheduleAttrs()
	return &client.ScheduleUpdate{
		Schedule: &client.Schedule{
			Action: s.action(),
			Spec:   s.scheduleSpec(),
			Policy: &client.SchedulePolicies{Overlap: s.Overlap, CatchupWindow: s.Catchup},
			State:  state,
		},
		TypedSearchAttributes: &attrs,
	}
}

// observeSchedule reads the managed part of an existing schedule; dc
// decodes its workflow input.
func observeSchedule(id string, d *client.ScheduleDescription, dc converter.DataConverter) (backupSchedule, error) {
	s := backupSchedule{ID: id}
	sched := d.Schedule
	if sched.Spec != nil {
		s.Every, s.OtherTiming = splitSpec(*sched.Spec)
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

// splitSpec returns a spec's single interval, and a description of
// anything else in it.
func splitSpec(spec client.ScheduleSpec) (every time.Duration, other string) {
	var o []string
	for i, iv := range spec.Intervals {
		if i == 0 {
			every = iv.Every
		} else {
			o = append(o, "another interval of "+shortDuration(iv.Every))
		}
		if iv.Offset != 0 {
			o = append(o, "offset "+shortDuration(iv.Offset))
		}
	}
	if n := len(spec.Calendars) + len(spec.CronExpressions); n > 0 {
		o = append(o, fmt.Sprintf("%d calendar specs", n))
	}
	if len(spec.Skip) > 0 {
		o = append(o, fmt.Sprintf("%d skip specs", len(spec.Skip)))
	}
	if spec.Jitter != 0 {
		o = append(o, "jitter "+shortDuration(spec.Jitter))
	}
	if !spec.StartAt.IsZero() || !spec.EndAt.IsZero() {
		o = append(o, "start or end time")
	}
	return every, strings.Join(o, ", ")
}

// shortDuration writes 4h rather than 4h0m0s.
func shortDuration(d time.Duration) string {
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

// schedules runs `lifeboat schedules apply|list`.
func schedules(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "apply":
		return schedulesApply(args[1:], stdout)
	case "list":
		return schedulesList(args[1:], stdout)
	}
	return errUsage
}

func schedulesApply(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("schedules apply", flag.ContinueOnError)
	var conn tclient.Options
	conn.RegisterFlags(fs)
	every := map[string]*time.Duration{
		schemas.BackupDatabase: fs.Duration("database-every", schemas.DatabaseBackupEvery, "interval of database backups"),
		schemas.BackupFiles:    fs.Duration("files-every", schemas.FilesBackupEvery, "interval of files backups"),
		schemas.BackupConfig:   fs.Duration("config-every", schemas.ConfigBackupEvery, "interval of config backups"),
		schemas.FileSyncKind:   fs.Duration("filesync-every", schemas.FileSyncEvery, "interval of file syncs"),
		schemas.DrillKind:      fs.Duration("drill-every", schemas.DefaultDrillEvery, "interval of restore drills"),
	}
	prune := fs.Bool("prune", false, "delete the cluster's backup schedules that are no longer wanted")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 1 {
		return errUsage
	}
	intervals := map[string]time.Duration{}
	for k, v := range every {
		intervals[k] = *v
	}
	want, err := desiredSchedules(pos[0], intervals)
	if err != nil {
		return err
	}
	c, err := dial(conn)
	if err != nil {
		return err
	}
	defer c.Close()
	dc, err := conn.DataConverter()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return applySchedules(ctx, c.ScheduleClient(), dc, pos[0], want, *prune, stdout)
}

// applySchedules brings the cluster's schedules to want, printing one line
// per schedule as it goes, so a failure part way shows what was done. dc
// decodes the inputs of existing schedules, which the SDK hands back raw.
func applySchedules(ctx context.Context, sc client.ScheduleClient, dc converter.DataConverter, cluster string, want []backupSchedule, prune bool, w io.Writer) error {
	var have []backupSchedule
	// The wanted schedules are described one by one rather than listed:
	// listing goes through visibility, which lags behind a fresh change.
	for _, s := range want {
		d, err := sc.GetHandle(ctx, s.ID).Describe(ctx)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("describe schedule %s: %w", s.ID, err)
		}
		o, err := observeSchedule(s.ID, d, dc)
		if err != nil {
			return err
		}
		have = append(have, o)
	}
	ids, err := listScheduleIDs(ctx, sc, fmt.Sprintf("ScheduleId STARTS_WITH '%s'", schemas.BackupSchedulePrefix(cluster)))
	if err != nil {
		return err
	}
	for _, id := range ids {
		// A wanted schedule the list still shows after Describe found it
		// gone was just deleted: it is created again, not updated.
		if !slices.ContainsFunc(want, func(s backupSchedule) bool { return s.ID == id }) {
			have = append(have, backupSchedule{ID: id})
		}
	}

	for _, ch := range planSchedules(want, have, prune) {
		var done string
		switch ch.Op {
		case opCreate:
			if _, err := sc.Create(ctx, ch.Want.createOptions()); err != nil {
				return fmt.Errorf("create schedule %s: %w", ch.ID, err)
			}
			done = "created    every " + shortDuration(ch.Want.Every)
		case opUpdate:
			err := sc.GetHandle(ctx, ch.ID).Update(ctx, client.ScheduleUpdateOptions{
				DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
					return ch.Want.update(in.Description.Schedule.State), nil
				},
			})
			if err != nil {
				return fmt.Errorf("update schedule %s: %w", ch.ID, err)
			}
			done = "updated    every " + shortDuration(ch.Want.Every) + " (" + strings.Join(ch.Why, "; ") + ")"
		case opUnchanged:
			done = "unchanged  every " + shortDuration(ch.Want.Every)
		case opUnwanted:
			done = "unwanted   kept; `lifeboat schedules apply --prune` deletes it"
		case opDelete:
			if err := sc.GetHandle(ctx, ch.ID).Delete(ctx); err != nil && !isNotFound(err) {
				return fmt.Errorf("delete schedule %s: %w", ch.ID, err)
			}
			done = "deleted    no longer wanted"
		}
		fmt.Fprintf(w, "%-*s  %s\n", idWidth(want), ch.ID, done)
	}
	return nil
}

func idWidth(want []backupSchedule) int {
	n := 0
	for _, s := range want {
		n = max(n, len(s.ID))
	}
	return n
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// listScheduleIDs returns the IDs of the schedules matching a visibility
// query ("" for all), sorted.
func listScheduleIDs(ctx context.Context, sc client.ScheduleClient, query string) ([]string, error) {
	it, err := sc.List(ctx, client.ScheduleListOptions{Query: query})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	var ids []string
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		ids = append(ids, e.ID)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

func schedulesList(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("schedules list", flag.ContinueOnError)
	var conn tclient.Options
	conn.RegisterFlags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) > 1 {
		return errUsage
	}
	query := ""
	if len(pos) == 1 {
		cluster := pos[0]
		if err := schemas.CheckClusterName(cluster); err != nil {
			return err
		}
		query = fmt.Sprintf("%s = '%s' OR ScheduleId STARTS_WITH '%s'",
			schemas.SearchAttrCluster, cluster, schemas.BackupSchedulePrefix(cluster))
	}
	c, err := dial(conn)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	sc := c.ScheduleClient()
	ids, err := listScheduleIDs(ctx, sc, query)
	if err != nil {
		return err
	}
	var rows []scheduleRow
	for _, id := range ids {
		d, err := sc.GetHandle(ctx, id).Describe(ctx)
		if isNotFound(err) {
			continue // deleted since the list was read
		}
		if err != nil {
			return fmt.Errorf("describe schedule %s: %w", id, err)
		}
		rows = append(rows, scheduleRow{ID: id, Desc: d, LastStatus: lastRunStatus(ctx, c, d)})
	}
	printSchedules(stdout, rows)
	return nil
}

// scheduleRow is one schedule as `schedules list` shows it.
type scheduleRow struct {
	ID   string
	Desc *client.ScheduleDescription
	// LastStatus is the status of the newest workflow the schedule started.
	LastStatus string
}

// lastRunStatus reads the status of the newest workflow a schedule started.
func lastRunStatus(ctx context.Context, c client.Client, d *client.ScheduleDescription) string {
	acts := d.Info.RecentActions
	if len(acts) == 0 || acts[len(acts)-1].StartWorkflowResult == nil {
		return "never run"
	}
	last := acts[len(acts)-1]
	desc, err := c.DescribeWorkflowExecution(ctx, last.StartWorkflowResult.WorkflowID, "")
	if err != nil {
		// Shown, not hidden: the run may have aged out of retention.
		return "unknown (" + err.Error() + ")"
	}
	status := strings.ToLower(desc.WorkflowExecutionInfo.Status.String())
	return fmt.Sprintf("%s, started %s (%s)", status, last.ActualTime.UTC().Format(time.RFC3339), last.StartWorkflowResult.WorkflowID)
}

// printSchedules writes the schedules as a table.
func printSchedules(w io.Writer, rows []scheduleRow) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "no schedules")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCHEDULE\tEVERY\tPAUSED\tNEXT RUNS\tLAST RUN")
	for _, r := range rows {
		every := "-"
		if r.Desc.Schedule.Spec != nil {
			e, other := splitSpec(*r.Desc.Schedule.Spec)
			every = shortDuration(e)
			if e == 0 {
				every = "-"
			}
			if other != "" {
				every += " + " + other
			}
		}
		paused := "no"
		if st := r.Desc.Schedule.State; st != nil && st.Paused {
			paused = "PAUSED"
			if st.Note != "" {
				paused += ": " + st.Note
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, every, paused, nextRuns(r.Desc.Info.NextActionTimes, 2), r.LastStatus)
	}
	_ = tw.Flush()
}

// nextRuns renders the first n of a schedule's next run times.
func nextRuns(ts []time.Time, n int) string {
	if len(ts) == 0 {
		return "-"
	}
	var s []string
	for _, t := range ts[:min(n, len(ts))] {
		s = append(s, t.UTC().Format(time.RFC3339))
	}
	return strings.Join(s, ", ")
}
