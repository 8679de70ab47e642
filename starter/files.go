package main

import (
	"flag"
	"fmt"
	"io"
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

// files runs `lifeboat files sync|verify`.
func files(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "sync":
		return filesSync(args[1:], stdout, stderr)
	case "verify":
		return filesVerify(args[1:], stdout)
	}
	return errUsage
}

// filesSync starts the cluster's file sync, or joins the one running:
//
//	lifeboat files sync CLUSTER [--tree NAME] [--rehash] [--batch-files N] [--batch-mb N] [--wait] [--json]
func filesSync(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("files sync", flag.ContinueOnError)
	var conn tclient.Options
	conn.RegisterFlags(fs)
	var in schemas.FileSyncInput
	fs.StringVar(&in.Tree, "tree", "", "sync only this file tree (default: every tree with a sync target)")
	fs.BoolVar(&in.Rehash, "rehash", false, "read every file of the copy again rather than trust files unchanged on disk")
	fs.IntVar(&in.BatchFiles, "batch-files", 0, fmt.Sprintf("files per transfer batch (default %d)", schemas.DefaultBatchFiles))
	fs.IntVar(&in.BatchMB, "batch-mb", 0, fmt.Sprintf("MiB per transfer batch (default %d)", schemas.DefaultBatchMB))
	wait := fs.Bool("wait", false, "wait for the sync, showing its progress, then print what it did")
	asJSON := fs.Bool("json", false, "print JSON: the FileSyncResult with --wait, the workflow's IDs without")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 1 {
		return errUsage
	}
	in.Cluster = pos[0]
	if err := schemas.CheckClusterName(in.Cluster); err != nil {
		return err
	}
	c, dc, ctx, done, err := waitingSession(conn)
	if err != nil {
		return err
	}
	defer done()
	id := schemas.FileSyncWorkflowID(in.Cluster)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                schemas.GlobalTaskQueue,
		WorkflowExecutionTimeout: schemas.FileSyncRunTimeout,
		StaticSummary:            fmt.Sprintf("file sync of cluster %s (lifeboat files sync)", in.Cluster),
		TypedSearchAttributes:    temporal.NewSearchAttributes(clusterKey.ValueSet(in.Cluster), kindKey.ValueSet(schemas.FileSyncKind)),
		// A sync already running (the schedule's) is joined, not doubled.
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, schemas.FileSyncWorkflow, in)
	if err != nil {
		return fmt.Errorf("start file sync: %w", err)
	}
	if !*wait {
		if *asJSON {
			return writeJSON(stdout, map[string]string{"workflow_id": run.GetID(), "run_id": run.GetRunID()})
		}
		fmt.Fprintf(stdout, "file sync of %s: workflow %s (run %s)\nfollow it with `lifeboat files sync %s --wait`, `temporal workflow describe -w %s` or in the Web UI\n",
			in.Cluster, id, run.GetRunID(), in.Cluster, id)
		return nil
	}
	progressOut := stdout
	if *asJSON {
		progressOut = stderr
	}
	var res schemas.FileSyncResult
	err = waitShowing(ctx, run, &res, progressOut, isTerminal(progressOut), func() string {
		return workflowStatus(ctx, c, run.GetID(), run.GetRunID(), "file sync", func(details *commonpb.Payloads) (string, bool) {
			return syncProgress(dc, details)
		})
	})
	if ctx.Err() != nil {
		return fmt.Errorf("stopped waiting; file sync %s goes on (`temporal workflow describe -w %s`)", id, id)
	}
	if err != nil {
		return workflowFailure("file sync", id, err)
	}
	if *asJSON {
		return writeJSON(stdout, res)
	}
	printFileSync(stdout, id, res)
	return nil
}

// syncProgress renders a file sync activity's heartbeat.
func syncProgress(dc converter.DataConverter, details *commonpb.Payloads) (string, bool) {
	var p schemas.FileSyncProgress
	if dc.FromPayloads(details, &p) != nil || p.Phase == "" {
		return "", false
	}
	line := fmt.Sprintf("%s %s: %d", p.Tree, p.Phase, p.Done)
	if p.Total > 0 {
		line += fmt.Sprintf(" of %d", p.Total)
	}
	line += " files, " + humanBytes(p.Bytes)
	if p.Phase == schemas.PhaseSend || p.Phase == schemas.PhaseApply {
		line = fmt.Sprintf("%s (batch %d)", line, p.Batch)
	}
	return line, true
}

// printFileSync writes what a sync did, tree by tree.
func printFileSync(w io.Writer, id string, res schemas.FileSyncResult) {
	if res.Skipped != "" {
		fmt.Fprintf(w, "file sync skipped: %s\n", res.Skipped)
		return
	}
	took := time.Duration(res.Seconds * float64(time.Second)).Round(100 * time.Millisecond)
	fmt.Fprintf(w, "file sync done in %s (workflow %s)\n", took, id)
	for _, t := range res.Trees {
		fmt.Fprintf(w, "  %s → %s, %.1fs\n", t.Tree, t.Target, t.Seconds)
		fmt.Fprintf(w, "    source     %d files, %s; %d read and hashed, the rest unchanged on disk\n", t.Files, humanBytes(t.Bytes), t.Hashed)
		ratio := ""
		if t.SentBytes > 0 {
			ratio = fmt.Sprintf(", %s sent compressed and encrypted", humanBytes(t.SentBytes))
		}
		fmt.Fprintf(w, "    copied     %d files, %s%s, in %d batches\n", t.Copied, humanBytes(t.CopiedBytes), ratio, t.Batches)
		fmt.Fprintf(w, "    at copy    %d made from content it held (renames), %d deleted, %d kept, %d metadata only; %d files reread\n",
			t.Local, t.Deleted, t.Kept, t.Metadata, t.Rehashed)
		if len(t.Damaged) > 0 {
			fmt.Fprintf(w, "    repaired   %s\n", strings.Join(t.Damaged, ", "))
		}
		if t.Resumed > 0 {
			fmt.Fprintf(w, "    resumed    %d files found written by an earlier attempt\n", t.Resumed)
		}
		for _, s := range t.Skipped {
			fmt.Fprintf(w, "    skipped    %s\n", s)
		}
		for _, c := range t.Conflicts {
			fmt.Fprintf(w, "    conflict   %s: another type at the copy; allow_deletes lets the sync replace it\n", c)
		}
		fmt.Fprintf(w, "    recovery point %s\n", t.SourceTime.UTC().Format(time.RFC3339))
	}
}

// filesVerify rehashes every copy and reports every difference; it exits
// 1 when there is any:
//
//	lifeboat files verify CLUSTER [--tree NAME] [--json]
func filesVerify(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("files verify", flag.ContinueOnError)
	var conn tclient.Options
	conn.RegisterFlags(fs)
	var in schemas.VerifyFilesInput
	fs.StringVar(&in.Tree, "tree", "", "verify only this file tree's copy")
	asJSON := fs.Bool("json", false, "print the VerifyFilesResult as JSON")
	timeout := fs.Duration("timeout", 12*time.Hour, "how long to wait")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 1 {
		return errUsage
	}
	in.Cluster = pos[0]
	if err := schemas.CheckClusterName(in.Cluster); err != nil {
		return err
	}
	c, ctx, done, err := session(conn, *timeout)
	if err != nil {
		return err
	}
	defer done()
	id := fmt.Sprintf("filesync-verify/%s/%s", in.Cluster, time.Now().UTC().Format("20060102T150405.000Z"))
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: schemas.GlobalTaskQueue,
		StaticSummary:         fmt.Sprintf("verification of the file copies of cluster %s (lifeboat files verify)", in.Cluster),
		TypedSearchAttributes: temporal.NewSearchAttributes(clusterKey.ValueSet(in.Cluster), kindKey.ValueSet(schemas.VerifyFilesKind)),
	}, schemas.VerifyFilesWorkflow, in)
	if err != nil {
		return fmt.Errorf("start verification: %w", err)
	}
	var res schemas.VerifyFilesResult
	if err := run.Get(ctx, &res); err != nil {
		return workflowFailure("verification", id, err)
	}
	if *asJSON {
		err = writeJSON(stdout, res)
	} else {
		printVerify(stdout, in.Cluster, res)
	}
	if err == nil && res.Differences > 0 {
		return exitError{code: 1}
	}
	return err
}

// printVerify writes every difference a verification found.
func printVerify(w io.Writer, cluster string, res schemas.VerifyFilesResult) {
	for _, t := range res.Trees {
		synced := "never synced"
		if !t.Synced.IsZero() {
			synced = "synced from the source as of " + t.Synced.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s → %s (%s): %d files, %s read and hashed\n", t.Tree, t.Target, synced, t.Files, humanBytes(t.Bytes))
		for _, d := range []struct {
			what  string
			paths []string
			count int
		}{
			{"damaged", t.Damaged, t.DamagedCount},
			{"missing", t.Missing, t.MissingCount},
			{"changed", t.Changed, t.ChangedCount},
			{"extra", t.Extra, t.ExtraCount},
		} {
			for _, p := range d.paths {
				fmt.Fprintf(w, "  %-8s %s\n", d.what, p)
			}
			if more := d.count - len(d.paths); more > 0 {
				fmt.Fprintf(w, "  %-8s … and %d more\n", d.what, more)
			}
		}
		if t.Differences() == 0 {
			fmt.Fprintln(w, "  no difference")
		}
	}
	switch {
	case res.Differences == 0:
		fmt.Fprintf(w, "the copies hold what the last syncs wrote (%.1fs)\n", res.Seconds)
	default:
		fmt.Fprintf(w, "%d differences (%.1fs): damaged files are read again and copied by the next sync (`lifeboat files sync %s`)\n",
			res.Differences, res.Seconds, cluster)
	}
}
