package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/runnerhub/lifeboat/internal/tclient"
	"github.com/runnerhub/lifeboat/schemas"
)

// retention runs `lifeboat retention CLUSTER [--dry-run] [--json]`.
func retention(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("retention", flag.ContinueOnError)
	var conn tclient.Options
	conn.RegisterFlags(fs)
	dryRun := fs.Bool("dry-run", false, "plan and print what would be removed, delete nothing")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	timeout := fs.Duration("timeout", 30*time.Minute, "how long to wait for the result")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 1 {
		return errUsage
	}
	c, ctx, done, err := session(conn, *timeout)
	if err != nil {
		return err
	}
	defer done()
	res, err := runRetention(ctx, c, pos[0], *dryRun)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, res)
	}
	printRetention(stdout, res)
	return nil
}

// runRetention starts a Retention workflow and waits for its result.
func runRetention(ctx context.Context, c client.Client, cluster string, dryRun bool) (schemas.RetentionResult, error) {
	var res schemas.RetentionResult
	what := "retention"
	if dryRun {
		what = "retention dry run"
	}
	id := schemas.RetentionWorkflowID(cluster)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                schemas.GlobalTaskQueue,
		WorkflowExecutionTimeout:                 time.Hour,
		StaticSummary:                            fmt.Sprintf("%s of cluster %s (lifeboat retention)", what, cluster),
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, schemas.RetentionWorkflow, schemas.RetentionInput{Cluster: cluster, DryRun: dryRun})
	var running *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &running) {
		return res, fmt.Errorf("a retention run of %s is already going (workflow %s): wait for it to end (temporal workflow describe -w %s)", cluster, id, id)
	}
	if err != nil {
		return res, fmt.Errorf("start retention: %w", err)
	}
	if err := run.Get(ctx, &res); err != nil {
		return res, fmt.Errorf("retention of %s (workflow %s): %w", cluster, run.GetID(), err)
	}
	return res, nil
}

// printRetention writes what a run kept and removed, newest first per kind,
// with each decision's reason.
func printRetention(w io.Writer, res schemas.RetentionResult) {
	fmt.Fprintf(w, "cluster %s: retention %s, planned %s\n", res.Cluster, res.Policy, res.PlannedAt.Format("2006-01-02 15:04:05Z07:00"))
	removed := "removed"
	if res.DryRun {
		removed = "to remove"
		fmt.Fprintln(w, "dry run: nothing was deleted")
	}
	fmt.Fprintln(w)

	type row struct {
		action string
		b      schemas.BackupSummary
	}
	var rows []row
	for _, b := range res.Kept {
		rows = append(rows, row{"keep", b})
	}
	for _, b := range res.Removed {
		rows = append(rows, row{"remove", b})
	}
	kindRank := func(k string) int {
		if i := slices.Index(schemas.BackupKinds, k); i >= 0 {
			return i
		}
		return len(schemas.BackupKinds)
	}
	slices.SortStableFunc(rows, func(a, b row) int {
		if d := kindRank(a.b.Kind) - kindRank(b.b.Kind); d != 0 {
			return d
		}
		return b.b.EndTime.Compare(a.b.EndTime)
	})
	if len(rows) == 0 {
		fmt.Fprintln(w, "no backups")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ACTION\tBACKUP\tKIND\tENDED\tREASON")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.action, r.b.ID, r.b.Kind, r.b.EndTime.Format("2006-01-02 15:04Z07:00"), r.b.Reason)
		}
		_ = tw.Flush()
	}
	fmt.Fprintf(w, "\n%d kept, %d %s\n", len(res.Kept), len(res.Removed), removed)

	if len(res.Orphans) > 0 {
		fmt.Fprintln(w, "\nbackups without a manifest:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, o := range res.Orphans {
			action := "keep"
			if o.Removed {
				action = "remove"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d objects, %d bytes\t%s\n", action, o.ID, o.Objects, o.Bytes, o.Reason)
		}
		_ = tw.Flush()
	}

	switch {
	case res.WALRemoved == 0:
		fmt.Fprintf(w, "\nWAL: %d files kept, none %s\n", res.WALKept, removed)
	default:
		fmt.Fprintf(w, "\nWAL: %d files %s (%s … %s), %d kept\n", res.WALRemoved, removed,
			res.WALFirstRemoved, res.WALLastRemoved, res.WALKept)
	}
	if !res.DryRun {
		fmt.Fprintf(w, "deleted %d objects\n", res.DeletedObjects)
	}
	if len(res.Problems) > 0 {
		fmt.Fprintln(w, "\nproblems (left alone):")
		for _, p := range res.Problems {
			fmt.Fprintln(w, "  -", p)
		}
	}
}
