package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/runnerhub/lifeboat/internal/tclient"
	"github.com/runnerhub/lifeboat/schedules"
	"github.com/runnerhub/lifeboat/schemas"
)

// schedulesCmd runs `lifeboat schedules apply|list`.
func schedulesCmd(args []string, stdout io.Writer) error {
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
	cluster := pos[0]
	intervals := map[string]time.Duration{}
	for k, v := range every {
		intervals[k] = *v
	}
	want, err := schedules.Desired(cluster, intervals)
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
	sc := schedules.SDKClient(c.ScheduleClient())
	plan, err := schedules.Plan(ctx, sc, dc, cluster, want, *prune)
	if err != nil {
		return err
	}
	// A line as each change is made, so a failure part way shows what was done.
	width := idWidth(want)
	for _, ch := range plan {
		if err := schedules.Apply(ctx, sc, ch); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-*s  %s\n", width, ch.ID, applied(ch))
	}
	return nil
}

// applied says what `schedules apply` did to one schedule.
func applied(ch schedules.Change) string {
	every := "every " + schedules.ShortDuration(ch.Want.Every)
	switch ch.Op {
	case schedules.OpCreate:
		return "created    " + every
	case schedules.OpUpdate:
		return "updated    " + every + " (" + strings.Join(ch.Why, "; ") + ")"
	case schedules.OpUnchanged:
		return "unchanged  " + every
	case schedules.OpUnwanted:
		return "unwanted   kept; `lifeboat schedules apply --prune` deletes it"
	case schedules.OpDelete:
		return "deleted    no longer wanted"
	}
	return string(ch.Op)
}

func idWidth(want []schedules.Schedule) int {
	n := 0
	for _, s := range want {
		n = max(n, len(s.ID))
	}
	return n
}

func schedulesList(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("schedules list", flag.ContinueOnError)
	var conn tclient.Options
	conn.RegisterFlags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) > 1 {
		return errUsage
	}
	cluster := ""
	if len(pos) == 1 {
		cluster = pos[0]
		if err := schemas.CheckClusterName(cluster); err != nil {
			return err
		}
	}
	c, err := dial(conn)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	found, err := schedules.List(ctx, schedules.SDKClient(c.ScheduleClient()), cluster)
	if err != nil {
		return err
	}
	var rows []scheduleRow
	for _, e := range found {
		rows = append(rows, scheduleRow{ID: e.ID, Desc: e.Desc, LastStatus: lastRunStatus(ctx, c, e.Desc)})
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
			e, other := schedules.SplitSpec(*r.Desc.Schedule.Spec)
			every = schedules.ShortDuration(e)
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
