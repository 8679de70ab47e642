package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/runnerhub/lifeboat/internal/tclient"
	"github.com/runnerhub/lifeboat/schemas"
)

// restore starts the Restore workflow and waits for the restored server:
//
//	lifeboat restore CLUSTER --target-dir DIR --port N [--backup ID|latest] [--until TIME] [--region R] [--json]
func restore(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	var conn tclient.Options
	conn.RegisterFlags(fs)
	var in schemas.RestoreInput
	fs.StringVar(&in.Backup, "backup", schemas.LatestBackup, `backup ID, or "latest"`)
	fs.StringVar(&in.Until, "until", "", "recover up to this time (RFC 3339), replaying archived WAL")
	fs.StringVar(&in.Region, "region", "", "region whose worker restores (default: the DR region)")
	fs.StringVar(&in.DataDir, "target-dir", "", "new data directory on that worker's host (must not exist or be empty)")
	fs.IntVar(&in.Port, "port", 0, "port of the restored server")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	timeout := fs.Duration("timeout", 12*time.Hour, "how long to wait")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 1 {
		return errUsage
	}
	in.Cluster = pos[0]
	c, ctx, done, err := session(conn, *timeout)
	if err != nil {
		return err
	}
	defer done()
	id := fmt.Sprintf("restore/%s/%s", in.Cluster, time.Now().UTC().Format("20060102T150405.000Z"))
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: schemas.GlobalTaskQueue}, schemas.RestoreWorkflow, in)
	if err != nil {
		return fmt.Errorf("start restore: %w", err)
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "restore %s started (workflow %s); waiting…\n", in.Cluster, id)
	}
	var res schemas.RestoreResult
	if err := run.Get(ctx, &res); err != nil {
		return workflowFailure("restore", id, err)
	}
	if *asJSON {
		return writeJSON(stdout, res)
	}
	printRestore(stdout, res)
	return nil
}

func printRestore(w io.Writer, res schemas.RestoreResult) {
	fmt.Fprintf(w, "restored backup %s in region %s: PostgreSQL on 127.0.0.1:%d, data in %s\n", res.BackupID, res.Region, res.Port, res.DataDir)
	last := "none replayed"
	if res.LastCommit != nil {
		last = res.LastCommit.UTC().Format(time.RFC3339Nano)
	}
	fmt.Fprintf(w, "recovered to LSN %s, last commit %s\n", res.RecoveredLSN, last)
	fmt.Fprintf(w, "achieved RTO %.1fs:", res.Seconds)
	for _, s := range res.Steps {
		fmt.Fprintf(w, "  %s %.1fs", s.Name, s.Seconds)
	}
	fmt.Fprintln(w)
}
