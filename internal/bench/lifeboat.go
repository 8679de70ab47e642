package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/internal/pgos"
	"github.com/runnerhub/lifeboat/schemas"
)

// Activities whose worker's memory is measured.
const (
	backupActivity  = "BackupDatabase"
	restoreActivity = "RestoreBase"
)

// sourceNode is the node the Backup workflow picks on the stack, the
// synchronous replica; the raw pipeline reads from it too.
const (
	sourceNode = "pg-a2"
	sourcePort = devstack.PGA2Port
	// otherReplicaPort is the stack's replica that is not the source.
	otherReplicaPort = devstack.PGB1Port
)

// workflowTimeout bounds one backup or restore, generous for scale 200 on
// a small host under load.
const workflowTimeout = 30 * time.Minute

// backupRun is one Lifeboat backup.
type backupRun struct {
	manifest        schemas.Manifest
	seconds         float64 // wall time of the workflow, start to result
	activitySeconds float64 // the streaming activity alone, from the manifest
	plainBytes      int64
	storedBytes     int64
	peakRSS         int64   // VmHWM of the worker that streamed it; 0 when not measured
	cpuSeconds      float64 // CPU time of that worker and its pg_basebackup; 0 when not measured
}

// restoreRun is one Lifeboat restore.
type restoreRun struct {
	seconds float64 // wall time of the workflow, until the server answered its queries
	steps   []schemas.Step
	peakRSS int64 // VmHWM of the worker that unpacked it
}

// execute runs a workflow and waits for its result; it returns the run so
// its history can be read.
func execute[In, Out any](ctx context.Context, c client.Client, workflow, id string, in In) (Out, client.WorkflowRun, error) {
	var out Out
	ctx, cancel := context.WithTimeout(ctx, workflowTimeout)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: schemas.GlobalTaskQueue, WorkflowExecutionTimeout: workflowTimeout,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflow, in)
	if err != nil {
		return out, nil, fmt.Errorf("start %s: %w", workflow, err)
	}
	if err := run.Get(ctx, &out); err != nil {
		return out, run, fmt.Errorf("%s %s: %w", workflow, id, err)
	}
	return out, run, nil
}

// backup runs the Backup workflow through c. With measure set, c must be of
// the bench namespace: the peak memory and the CPU time of the bench worker
// that streamed the backup are taken.
func (b *bench) backup(ctx context.Context, c client.Client, label string, measure bool) (backupRun, error) {
	var cpuBefore map[int]float64
	if measure {
		if err := b.resetPeaks(); err != nil {
			return backupRun{}, err
		}
		var err error
		if cpuBefore, err = b.workersCPU(); err != nil {
			return backupRun{}, err
		}
	}
	id := fmt.Sprintf("bench/%s/%s", label, time.Now().UTC().Format("20060102T150405.000Z"))
	start := time.Now()
	res, run, err := execute[schemas.BackupInput, schemas.BackupResult](ctx, c, schemas.BackupWorkflow, id,
		schemas.BackupInput{Cluster: devstack.Cluster, Kind: schemas.BackupDatabase, Source: sourceNode})
	if err != nil {
		return backupRun{}, err
	}
	m := res.Manifest
	r := backupRun{
		manifest: m, seconds: time.Since(start).Seconds(), activitySeconds: m.EndTime.Sub(m.StartTime).Seconds(),
		plainBytes: m.PlainSize, storedBytes: m.StoredSize,
	}
	if !measure {
		return r, nil
	}
	pid, err := b.activityWorker(ctx, c, run, backupActivity)
	if err != nil {
		return r, err
	}
	if r.peakRSS, err = peakRSS(pid); err != nil {
		return r, err
	}
	cpu, err := cpuSeconds(pid)
	if err != nil {
		return r, err
	}
	r.cpuSeconds = cpu - cpuBefore[pid]
	return r, nil
}

// restore runs the Restore workflow of backup id in the bench namespace to
// a server on port, checks the server holds the data, then stops it and
// removes its directory.
func (b *bench) restore(ctx context.Context, id string, port int) (_ restoreRun, err error) {
	dir := filepath.Join(b.stack.RestoreDir(), fmt.Sprintf("bench-%d-%d", port, time.Now().UnixNano()))
	defer func() {
		if stopErr := stopServer(dir); stopErr != nil {
			err = errors.Join(err, stopErr) // and its files stay, under a live server
			return
		}
		err = errors.Join(err, os.RemoveAll(dir), os.RemoveAll(dir+".lifeboat-partial"))
	}()
	if err := b.resetPeaks(); err != nil {
		return restoreRun{}, err
	}
	start := time.Now()
	res, run, err := execute[schemas.RestoreInput, schemas.RestoreResult](ctx, b.benchClient, schemas.RestoreWorkflow,
		fmt.Sprintf("bench/restore/%d", time.Now().UnixNano()),
		schemas.RestoreInput{Cluster: devstack.Cluster, Backup: id, DataDir: dir, Port: port})
	if err != nil {
		return restoreRun{}, err
	}
	r := restoreRun{seconds: time.Since(start).Seconds(), steps: res.Steps}
	pid, err := b.activityWorker(ctx, b.benchClient, run, restoreActivity)
	if err != nil {
		return r, err
	}
	if r.peakRSS, err = peakRSS(pid); err != nil {
		return r, err
	}
	// Outside the timing: the restored server must hold what was backed up.
	conn, err := b.connect(ctx, port, Database)
	if err != nil {
		return r, fmt.Errorf("restored server: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// A server another restore left on the port would answer too.
	var dataDir string
	if err := conn.QueryRow(ctx, "SHOW data_directory").Scan(&dataDir); err != nil {
		return r, fmt.Errorf("query the restored server: %w", err)
	}
	if dataDir != dir {
		return r, fmt.Errorf("port %d is served from %s, not from the restore's %s: another server took the port", port, dataDir, dir)
	}
	var branches int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pgbench_branches").Scan(&branches); err != nil {
		return r, fmt.Errorf("query the restored server: %w", err)
	}
	if branches != b.cfg.Scale {
		return r, fmt.Errorf("the restored server holds %d pgbench branches, want %d", branches, b.cfg.Scale)
	}
	return r, nil
}

// activityWorker returns the pid of the bench worker that ran the activity
// of the given type in run, found by the identity its history records
// ("pid@host@").
func (b *bench) activityWorker(ctx context.Context, c client.Client, run client.WorkflowRun, activityType string) (int, error) {
	pid, err := activityPID(ctx, c, run, activityType)
	if err != nil {
		return 0, err
	}
	if !b.ownWorker(pid) {
		return 0, fmt.Errorf("%s ran in pid %d, not in a bench worker: another worker polls namespace %s; stop it", activityType, pid, BenchNamespace)
	}
	return pid, nil
}

// activityPID reads from a workflow's history the pid of the worker that
// ran its (last) activity of a type.
func activityPID(ctx context.Context, c client.Client, run client.WorkflowRun, activityType string) (int, error) {
	it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	scheduled := map[int64]bool{}
	identity := ""
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return 0, fmt.Errorf("history of %s: %w", run.GetID(), err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == activityType {
			scheduled[ev.GetEventId()] = true
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] {
			identity = a.GetIdentity()
		}
	}
	pidText, _, _ := strings.Cut(identity, "@")
	pid, err := strconv.Atoi(pidText)
	if err != nil {
		return 0, fmt.Errorf("history of %s: no %s started by a worker with a pid@host identity (identity %q)", run.GetID(), activityType, identity)
	}
	return pid, nil
}

// stopServer stops the restored server running from dir, if any.
func stopServer(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); err != nil {
		return nil
	}
	u, err := pgos.PostgresUser()
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(devstack.PostgresBinDir, "pg_ctl"), "stop", "-D", dir, "-m", "fast", "-w")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.Cred}
	cmd.Dir = "/" // the caller's directory may be closed to the PostgreSQL user
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("stop the restored server in %s: %w: %s", dir, err, out)
	}
	return nil
}
