// Command lifeboat is the operator's CLI: it validates topologies and starts,
// signals and reads Lifeboat's workflows.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/runnerhub/lifeboat/internal/tclient"
	"github.com/runnerhub/lifeboat/schemas"
)

const usage = `lifeboat: protect and recover a PostgreSQL and Redis stack

usage:
  lifeboat validate FILE              check a topology file, reporting every problem
  lifeboat check CLUSTER [--json]     probe every node of a cluster and print its health
  lifeboat wal-push PATH              archive one WAL file (PostgreSQL's archive_command, %p)
  lifeboat wal-fetch NAME DEST        restore one WAL file (restore_command, %f %p)
      both read --topology FILE (LIFEBOAT_TOPOLOGY) and the secrets it names
  lifeboat retention CLUSTER [--dry-run] [--json]  remove backups and WAL the retention policy lets go
  lifeboat backup CLUSTER [--kind database|files|config] [--source NODE] [--wait] [--json]
                                      start a backup; --wait follows it and prints its manifest
  lifeboat schedules apply CLUSTER [--database-every 4h] [--files-every 24h] [--config-every 24h] [--filesync-every 1h] [--drill-every 168h] [--prune]
                                      create or update the cluster's backup, file sync and restore drill schedules
  lifeboat schedules list [CLUSTER]   print schedules: interval, next runs, last run, paused
  lifeboat files sync CLUSTER [--tree T] [--rehash] [--batch-files N] [--batch-mb N] [--wait] [--json]
                                      copy what changed in the file trees to their copies (joins a sync running)
  lifeboat files verify CLUSTER [--tree T] [--json]
                                      rehash every copy and report each difference (exit 1 if any)
  lifeboat restore CLUSTER --target-dir DIR --port N [--backup ID|latest] [--until RFC3339] [--region R] [--json]
                                      restore a database backup (PITR with --until) as a running server
  lifeboat drill CLUSTER [--kind restore|failover|full] [--json]
                                      rehearse recovery on scratch servers, measure RTO and RPO, store the report
  lifeboat drills CLUSTER [--limit N] [--json]
                                      past drills: achieved RTO and RPO, pass or fail, newest first
  lifeboat drill report ID [--cluster C] [--json]
                                      print a stored drill report (Markdown)
  lifeboat monitor CLUSTER            start the cluster's HealthMonitor (no-op when it runs)
  lifeboat status CLUSTER [--json]    the monitor's view: each component's state, circuit, latency, lag
  lifeboat pause CLUSTER [--reason R] / lifeboat resume CLUSTER
                                      hold or release automatic failover
  lifeboat history CLUSTER [--json]   failovers, switchovers and rejoins with their timings and epochs
  lifeboat switchover CLUSTER --to NODE
                                      planned, lossless move of the primary role
  lifeboat failover CLUSTER [--force] [--region R]
                                      fail over by hand; --force promotes a lagging replica, showing the loss
  lifeboat codec-server --ui-origin URL [--listen HOST:PORT]
                                      serve the payload codec (/encode, /decode) to the Web UI of that origin
  lifeboat codec-key [ID]             print a new key for LIFEBOAT_CODEC_KEYS
  lifeboat deploy promote --region R --build ID [--workflows=false] [--wait 30s]
                                      make a build current (Worker Versioning): region R's activities and,
                                      unless --workflows=false, new workflows run on it
  lifeboat deploy status [--region R] [--json]
                                      each deployment's builds: current, draining, drained

Temporal connection flags (every command that talks to Temporal):
  --temporal-address HOST:PORT (LIFEBOAT_TEMPORAL_ADDRESS, default 127.0.0.1:17233)
  --namespace NAME (LIFEBOAT_NAMESPACE), --tls-cert, --tls-key, --tls-ca, --tls-server-name;
  LIFEBOAT_API_KEY for Temporal Cloud; LIFEBOAT_CODEC_KEYS (id:base64,..., current key first)
  encrypts every payload sent to Temporal
`

// errUsage makes main print the usage and exit 2.
var errUsage = errors.New("usage")

// exitError carries an exit code without a message of its own.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	var ee exitError
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		_, _ = io.WriteString(os.Stderr, usage)
		os.Exit(2)
	case errors.As(err, &ee):
		os.Exit(ee.code)
	default:
		fmt.Fprintln(os.Stderr, "lifeboat:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "validate":
		return validate(args[1:], stdout, stderr)
	case "check":
		return check(args[1:], stdout)
	case "wal-push":
		return walPush(args[1:], stderr)
	case "wal-fetch":
		return walFetch(args[1:], stderr)
	case "retention":
		return retention(args[1:], stdout)
	case "backup":
		return backup(args[1:], stdout, stderr)
	case "schedules":
		return schedulesCmd(args[1:], stdout)
	case "files":
		return files(args[1:], stdout, stderr)
	case "drill":
		return drill(args[1:], stdout)
	case "drills":
		return drills(args[1:], stdout)
	case "restore":
		return restore(args[1:], stdout)
	case "monitor":
		return monitorStart(args[1:], stdout)
	case "status":
		return status(args[1:], stdout)
	case "pause":
		return pauseResume(schemas.SignalPause)(args[1:], stdout)
	case "resume":
		return pauseResume(schemas.SignalResume)(args[1:], stdout)
	case "history":
		return history(args[1:], stdout)
	case "switchover":
		return switchover(args[1:], stdout)
	case "failover":
		return failoverCmd(args[1:], stdout)
	case "codec-server":
		return codecServer(args[1:], stderr)
	case "codec-key":
		return codecKey(args[1:], stdout)
	case "deploy":
		return deployCmd(args[1:], stdout)
	case "help", "-h", "--help":
		_, _ = io.WriteString(stdout, usage)
		return nil
	default:
		return errUsage
	}
}

// parseInterspersed parses flags that may come before or after the
// positional arguments (`lifeboat check dev --json`), returning the latter.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func validate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 1 {
		return errUsage
	}
	topo, err := schemas.LoadTopology(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError{code: 1}
	}
	fmt.Fprintf(stdout, "%s: cluster %s is valid (%d regions)\n", pos[0], topo.Cluster, len(topo.Regions))
	return nil
}

// dial connects to Temporal with the CLI's quiet logger: the SDK's own
// informational lines would mix with what the command prints.
func dial(o tclient.Options) (client.Client, error) {
	copts, err := o.ClientOptions()
	if err != nil {
		return nil, err
	}
	copts.Logger = quietLogger{}
	c, err := client.Dial(copts)
	if err != nil {
		return nil, fmt.Errorf("connect to temporal at %s (is the stack up? `make dev`): %w", o.Address, err)
	}
	return c, nil
}

// session dials Temporal for a command that waits at most timeout; close
// releases both the connection and the deadline.
func session(o tclient.Options, timeout time.Duration) (c client.Client, ctx context.Context, close func(), err error) {
	c, err = dial(o)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	return c, ctx, func() { cancel(); c.Close() }, nil
}

func check(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	var conn tclient.Options
	conn.RegisterFlags(fs)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait for the report")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != 1 {
		return errUsage
	}
	c, ctx, done, err := session(conn, *timeout)
	if err != nil {
		return err
	}
	defer done()
	res, err := runCheck(ctx, c, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, res)
	}
	printCheck(stdout, res)
	return nil
}

// runCheck starts a CheckCluster workflow and waits for its report.
func runCheck(ctx context.Context, c client.Client, cluster string) (schemas.CheckClusterResult, error) {
	var res schemas.CheckClusterResult
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       fmt.Sprintf("check/%s/%s", cluster, time.Now().UTC().Format("20060102T150405.000Z")),
		TaskQueue:                schemas.GlobalTaskQueue,
		WorkflowExecutionTimeout: 2 * time.Minute,
	}, schemas.CheckClusterWorkflow, schemas.CheckClusterInput{Cluster: cluster})
	if err != nil {
		return res, fmt.Errorf("start check: %w", err)
	}
	if err := run.Get(ctx, &res); err != nil {
		return res, fmt.Errorf("check %s (workflow %s): %w", cluster, run.GetID(), err)
	}
	return res, nil
}
