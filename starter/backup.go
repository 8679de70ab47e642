package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/internal/tclient"
	"github.com/runnerhub/lifeboat/schemas"
)

// Progress polling: a terminal redraws its bar often; a log gets a line
// every few seconds at most, and one at least every progressQuiet.
const (
	progressPollTerminal = 500 * time.Millisecond
	progressPollLog      = 5 * time.Second
	progressQuiet        = 30 * time.Second
	progressBarWidth     = 24
)

// The search attributes the CLI's starts set, as a schedule's do, so that
// a run is found by cluster and kind however it was started.
var (
	clusterKey = temporal.NewSearchAttributeKeyKeyword(schemas.SearchAttrCluster)
	kindKey    = temporal.NewSearchAttributeKeyKeyword(schemas.SearchAttrKind)
)

// backupWorkflowID names a backup started from the CLI; the schedules'
// runs are named `backup/<cluster>/<kind>-<time>` by Temporal.
func backupWorkflowID(cluster, kind string, now time.Time) string {
	return fmt.Sprintf("backup/%s/%s/%s", cluster, kind, now.UTC().Format("20060102T150405.000Z"))
}

// backup runs `lifeboat backup CLUSTER`.
func backup(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	var conn tclient.Options
	conn.RegisterFlags(fs)
	kind := fs.String("kind", schemas.BackupDatabase, "what to back up: "+strings.Join(schemas.BackupKinds, ", "))
	source := fs.String("source", "", "PostgreSQL node to copy (default: the healthiest replica, the synchronous one first)")
	wait := fs.Bool("wait", false, "wait for the backup, showing its progress, then print its manifest")
	asJSON := fs.Bool("json", false, "print JSON: the BackupResult with --wait, the workflow's IDs without")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 1 {
		return errUsage
	}
	cluster := pos[0]
	if err := schemas.CheckClusterName(cluster); err != nil {
		return err
	}
	if !slices.Contains(schemas.BackupKinds, *kind) {
		return fmt.Errorf("--kind %q: want one of %s", *kind, strings.Join(schemas.BackupKinds, ", "))
	}
	c, dc, ctx, done, err := waitingSession(conn)
	if err != nil {
		return err
	}
	defer done()
	id := backupWorkflowID(cluster, *kind, time.Now())
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                schemas.GlobalTaskQueue,
		WorkflowExecutionTimeout: schemas.BackupRunTimeout,
		StaticSummary:            fmt.Sprintf("%s backup of cluster %s (lifeboat backup)", *kind, cluster),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			clusterKey.ValueSet(cluster), kindKey.ValueSet("backup-"+*kind)),
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, schemas.BackupWorkflow, schemas.BackupInput{Cluster: cluster, Kind: *kind, Source: *source})
	if err != nil {
		return fmt.Errorf("start backup: %w", err)
	}
	if !*wait {
		if *asJSON {
			return writeJSON(stdout, map[string]string{"workflow_id": run.GetID(), "run_id": run.GetRunID()})
		}
		fmt.Fprintf(stdout, "started %s backup of %s: workflow %s\nfollow it with `temporal workflow describe -w %s` or in the Web UI\n",
			*kind, cluster, run.GetID(), run.GetID())
		return nil
	}

	// With --json stdout carries only the result, so progress goes to stderr.
	progressOut := stdout
	if *asJSON {
		progressOut = stderr
	}
	res, err := waitBackup(ctx, c, dc, run, progressOut, isTerminal(progressOut))
	if ctx.Err() != nil {
		return fmt.Errorf("stopped waiting; backup %s goes on (`temporal workflow describe -w %s`)", id, id)
	}
	if err != nil {
		return workflowFailure("backup", id, err)
	}
	if *asJSON {
		return writeJSON(stdout, res)
	}
	printBackup(stdout, id, res)
	return nil
}

// waitingSession dials Temporal for a command that starts a workflow and
// may follow it until Ctrl-C, which stops the waiting, not the workflow.
// dc decodes the heartbeats it shows, which the SDK hands back raw.
func waitingSession(conn tclient.Options) (c client.Client, dc converter.DataConverter, ctx context.Context, done func(), err error) {
	if dc, err = conn.DataConverter(); err != nil {
		return nil, nil, nil, nil, err
	}
	if c, err = dial(conn); err != nil {
		return nil, nil, nil, nil, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	return c, dc, ctx, func() { stop(); c.Close() }, nil
}

// isTerminal says whether w is a character device, where a bar can be
// redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// waitBackup waits for the backup's result, showing its progress on w.
// dc decodes the heartbeats, which the SDK hands back raw.
func waitBackup(ctx context.Context, c client.Client, dc converter.DataConverter, run client.WorkflowRun, w io.Writer, terminal bool) (schemas.BackupResult, error) {
	var res schemas.BackupResult
	err := waitShowing(ctx, run, &res, w, terminal, func() string {
		return workflowStatus(ctx, c, run.GetID(), run.GetRunID(), "backup", func(details *commonpb.Payloads) (string, bool) {
			var p schemas.BackupProgress
			if dc.FromPayloads(details, &p) != nil {
				return "", false
			}
			return progressBar(p, progressBarWidth), true
		})
	})
	return res, err
}

// waitShowing waits for run's result into res, showing status on w as it
// goes: a line redrawn in place on a terminal, a line now and then
// otherwise.
func waitShowing(ctx context.Context, run client.WorkflowRun, res any, w io.Writer, terminal bool, status func() string) error {
	done := make(chan error, 1)
	go func() { done <- run.Get(ctx, res) }()

	poll := progressPollLog
	if terminal {
		poll = progressPollTerminal
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var last string
	var lastAt time.Time
	drawn := false
	for {
		select {
		case err := <-done:
			if drawn {
				fmt.Fprint(w, "\r\033[K")
			}
			return err
		case <-tick.C:
		}
		line := status()
		switch {
		case terminal:
			fmt.Fprint(w, "\r"+line+"\033[K")
			drawn = true
		case line != last || time.Since(lastAt) >= progressQuiet:
			fmt.Fprintln(w, line)
			last, lastAt = line, time.Now()
		}
	}
}

// workflowStatus is one line on where a running workflow is: what progress
// makes of a pending activity's last heartbeat, or what the first pending
// activity waits for. what names the workflow when nothing is pending.
func workflowStatus(ctx context.Context, c client.Client, id, runID, what string, progress func(*commonpb.Payloads) (string, bool)) string {
	desc, err := c.DescribeWorkflowExecution(ctx, id, runID)
	if err != nil {
		return "progress unknown: " + err.Error()
	}
	for _, pa := range desc.PendingActivities {
		if pa.HeartbeatDetails == nil {
			continue
		}
		if line, ok := progress(pa.HeartbeatDetails); ok {
			if pa.Attempt > 1 {
				line += fmt.Sprintf(" (attempt %d)", pa.Attempt)
			}
			return line
		}
	}
	for _, pa := range desc.PendingActivities {
		line := fmt.Sprintf("%s: %s", pa.ActivityType.GetName(), activityState(pa.State))
		if pa.Attempt > 1 {
			line += fmt.Sprintf(", attempt %d, last failure: %s", pa.Attempt, pa.LastFailure.GetMessage())
		}
		return line
	}
	return what + " " + strings.ToLower(desc.WorkflowExecutionInfo.Status.String())
}

func activityState(s enumspb.PendingActivityState) string {
	switch s {
	case enumspb.PENDING_ACTIVITY_STATE_SCHEDULED:
		return "waiting for a worker"
	case enumspb.PENDING_ACTIVITY_STATE_STARTED:
		return "running"
	case enumspb.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED:
		return "cancelling"
	}
	return strings.ToLower(s.String())
}

// progressBar renders an upload's progress in one line. The total is an
// estimate (the database size before compression), so the bar stops at
// 99 % until the upload is done; an unknown total shows no fraction.
func progressBar(p schemas.BackupProgress, width int) string {
	rate := fmt.Sprintf("%.1f MB/s", p.MBPerSecond)
	if p.EstimatedTotal <= 0 {
		return fmt.Sprintf("[%s]    ?  %s of unknown total, %s", strings.Repeat("?", width), humanBytes(p.BytesDone), rate)
	}
	pct := min(p.BytesDone*100/p.EstimatedTotal, 99)
	filled := int(pct) * width / 100
	bar := strings.Repeat("#", filled) + strings.Repeat(".", width-filled)
	return fmt.Sprintf("[%s] %3d%%  %s of ~%s, %s", bar, pct, humanBytes(p.BytesDone), humanBytes(p.EstimatedTotal), rate)
}

// humanBytes writes a size in decimal units, as MB/s is.
func humanBytes(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, unit := range []string{"kB", "MB", "GB", "TB"} {
		f /= 1000
		if f < 1000 {
			return fmt.Sprintf("%.1f %s", f, unit)
		}
	}
	return fmt.Sprintf("%.1f PB", f/1000)
}

// workflowFailure turns a failed run into the CLI's error: the workflow's
// failure message with its application error type, which says what went
// wrong (InvalidInput, UnknownCluster, Corrupt, ...).
func workflowFailure(what, id string, err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return fmt.Errorf("%s %s failed: %s: %s", what, id, appErr.Type(), appErr.Message())
	}
	return fmt.Errorf("%s %s failed: %w", what, id, err)
}

// printBackup writes the manifest summary of a finished backup.
func printBackup(w io.Writer, id string, res schemas.BackupResult) {
	m := res.Manifest
	took := time.Duration(res.Seconds * float64(time.Second)).Round(100 * time.Millisecond)
	fmt.Fprintf(w, "backup %s of cluster %s: done in %s\n", m.ID, m.Cluster, took)
	fmt.Fprintf(w, "  workflow  %s\n", id)
	source := m.Source
	if m.PostgresVersion != "" {
		source += " (PostgreSQL " + m.PostgresVersion + ")"
	}
	fmt.Fprintf(w, "  source    %s\n", source)
	if m.StartLSN != "" {
		fmt.Fprintf(w, "  LSN       %s to %s, timeline %d\n", m.StartLSN, m.StopLSN, m.Timeline)
	}
	ratio := ""
	if m.StoredSize > 0 {
		ratio = fmt.Sprintf(" (ratio %.1fx)", float64(m.PlainSize)/float64(m.StoredSize))
	}
	fmt.Fprintf(w, "  size      %s plain, %s stored%s\n", humanBytes(m.PlainSize), humanBytes(m.StoredSize), ratio)
	fmt.Fprintf(w, "  object    %s\n", m.Object)
	fmt.Fprintf(w, "  sha256    %s (stored)\n", m.StoredSHA256)
}
