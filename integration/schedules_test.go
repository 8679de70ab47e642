package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/runnerhub/lifeboat/schemas"
)

// applyDev runs `lifeboat schedules apply dev` with args and returns the
// one-word outcome it reports per schedule ID.
func applyDev(t *testing.T, args ...string) (map[string]string, string) {
	t.Helper()
	out, stderr, err := lifeboat(t, append([]string{"schedules", "apply", "dev"}, args...)...)
	if err != nil {
		t.Fatalf("lifeboat schedules apply dev %v: %v\n%s%s", args, err, out, stderr)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			got[f[0]] = f[1]
		}
	}
	return got, out
}

func requireOutcomes(t *testing.T, got map[string]string, out string, want map[string]string) {
	t.Helper()
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %q, want %q\n%s", id, got[id], w, out)
		}
	}
}

// TestSchedule_ApplyIsIdempotentAndTheScheduleBacksUp applies the backup
// schedules of cluster dev, checks a second apply changes nothing, that an
// unwanted schedule is reported and deleted only with --prune, that a new
// interval updates the schedule, and that the schedule starts Backup
// workflows that complete.
func TestSchedule_ApplyIsIdempotentAndTheScheduleBacksUp(t *testing.T) {
	c := temporalClient(t)
	sc := c.ScheduleClient()
	dbID := schemas.BackupScheduleID("dev", schemas.BackupDatabase)
	filesID := schemas.BackupScheduleID("dev", schemas.BackupFiles)
	configID := schemas.BackupScheduleID("dev", schemas.BackupConfig)
	strayID := schemas.BackupSchedulePrefix("dev") + "test-stray"
	syncID := schemas.FileSyncScheduleID("dev")
	drillID := schemas.DrillScheduleID("dev")
	ids := []string{dbID, filesID, configID, syncID, drillID, strayID}

	// Schedules left by an interrupted run would make the first apply report
	// "unchanged"; they are removed first, and again at the end, whatever
	// the outcome, with any backup they are still running.
	removeSchedules := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, id := range ids {
			h := sc.GetHandle(ctx, id)
			d, err := h.Describe(ctx)
			var nf *serviceerror.NotFound
			if errors.As(err, &nf) {
				continue
			}
			if err != nil {
				t.Errorf("describe schedule %s: %v", id, err)
				continue
			}
			if err := h.Delete(ctx); err != nil {
				t.Errorf("delete schedule %s: %v", id, err)
			}
			for _, r := range d.Info.RunningWorkflows {
				// Cancelled, not terminated: the workflow removes what it uploaded.
				if err := c.CancelWorkflow(ctx, r.WorkflowID, ""); err != nil {
					t.Logf("cancel %s: %v", r.WorkflowID, err)
				}
			}
		}
	}
	removeSchedules()
	t.Cleanup(removeSchedules)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	got, out := applyDev(t, "--database-every", "1h")
	requireOutcomes(t, got, out, map[string]string{dbID: "created", filesID: "created", configID: "created", syncID: "created", drillID: "created"})
	got, out = applyDev(t, "--database-every", "1h")
	requireOutcomes(t, got, out, map[string]string{dbID: "unchanged", filesID: "unchanged", configID: "unchanged", syncID: "unchanged", drillID: "unchanged"})

	// A schedule under the cluster's prefix that apply does not want.
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID:     strayID,
		Spec:   client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: 24 * time.Hour}}},
		Paused: true,
		Action: &client.ScheduleWorkflowAction{
			Workflow: schemas.BackupWorkflow, TaskQueue: schemas.GlobalTaskQueue,
			Args: []any{schemas.BackupInput{Cluster: "dev", Kind: schemas.BackupDatabase}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The stray is found through visibility, which may lag a little.
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, out = applyDev(t, "--database-every", "1h")
		if got[strayID] != "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	requireOutcomes(t, got, out, map[string]string{dbID: "unchanged", strayID: "unwanted"})
	if _, err := sc.GetHandle(ctx, strayID).Describe(ctx); err != nil {
		t.Errorf("the unwanted schedule was deleted without --prune: %v", err)
	}
	got, out = applyDev(t, "--database-every", "1h", "--prune")
	requireOutcomes(t, got, out, map[string]string{dbID: "unchanged", strayID: "deleted"})
	var nf *serviceerror.NotFound
	if _, err := sc.GetHandle(ctx, strayID).Describe(ctx); !errors.As(err, &nf) {
		t.Errorf("after --prune, describe %s: %v, want not found", strayID, err)
	}

	// Temporal takes intervals in seconds: every 5 s the stack backs up.
	got, out = applyDev(t, "--database-every", "5s")
	requireOutcomes(t, got, out, map[string]string{dbID: "updated", filesID: "unchanged", configID: "unchanged"})
	if !strings.Contains(out, "interval: 1h → 5s") {
		t.Errorf("the update does not say what changed:\n%s", out)
	}

	h := sc.GetHandle(ctx, dbID)
	completed := waitScheduledBackup(ctx, t, c, h)
	desc, err := c.DescribeWorkflowExecution(ctx, completed, "")
	if err != nil {
		t.Fatal(err)
	}
	info := desc.WorkflowExecutionInfo
	if info.TaskQueue != schemas.GlobalTaskQueue || info.Type.GetName() != schemas.BackupWorkflow {
		t.Errorf("scheduled run is %s on %s, want Backup on %s", info.Type.GetName(), info.TaskQueue, schemas.GlobalTaskQueue)
	}
	for attr, want := range map[string]string{schemas.SearchAttrCluster: "dev", schemas.SearchAttrKind: "backup-database"} {
		var v string
		if p := info.SearchAttributes.GetIndexedFields()[attr]; p == nil || converter.GetDefaultDataConverter().FromPayload(p, &v) != nil || v != want {
			t.Errorf("scheduled run's %s = %q, want %q", attr, v, want)
		}
	}
	var res schemas.BackupResult
	if err := c.GetWorkflow(ctx, completed, "").Get(ctx, &res); err != nil || res.Manifest.Cluster != "dev" || res.Manifest.Kind != schemas.BackupDatabase {
		t.Errorf("scheduled run's result %+v, %v; want a database backup of dev", res.Manifest, err)
	}

	// An operator pauses the schedule; a later apply changes the interval
	// and leaves it paused.
	if err := h.Pause(ctx, client.SchedulePauseOptions{Note: "paused by the test"}); err != nil {
		t.Fatal(err)
	}
	got, out = applyDev(t, "--database-every", "1h")
	requireOutcomes(t, got, out, map[string]string{dbID: "updated"})
	d, err := h.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Schedule.State.Paused || d.Schedule.State.Note != "paused by the test" {
		t.Errorf("after apply the schedule is paused = %v with note %q; want it paused as the operator left it", d.Schedule.State.Paused, d.Schedule.State.Note)
	}
	// Let the runs it started finish, so the last run's status is final.
	for len(d.Info.RunningWorkflows) > 0 && ctx.Err() == nil {
		time.Sleep(time.Second)
		if d, err = h.Describe(ctx); err != nil {
			t.Fatal(err)
		}
	}

	out, stderr, err := lifeboat(t, "schedules", "list", "dev")
	if err != nil {
		t.Fatalf("lifeboat schedules list dev: %v\n%s", err, stderr)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = line
		}
	}
	for id, want := range map[string]*regexp.Regexp{
		dbID:     regexp.MustCompile(`^\S+\s+1h\s+PAUSED: paused by the test\s+\S+Z, \S+Z\s+completed, started \S+ \(backup/dev/database-`),
		filesID:  regexp.MustCompile(`^\S+\s+24h\s+no\s+\S+T00:00:00Z, \S+T00:00:00Z\s+(never run|failed)`),
		configID: regexp.MustCompile(`^\S+\s+24h\s+no\s+`),
	} {
		if !want.MatchString(rows[id]) {
			t.Errorf("list row of %s = %q, want it to match %s\n%s", id, rows[id], want, out)
		}
	}
	if rows[strayID] != "" {
		t.Errorf("list shows the pruned schedule:\n%s", out)
	}
}

// waitScheduledBackup waits until the schedule has started a Backup that
// completed, and returns its workflow ID.
func waitScheduledBackup(ctx context.Context, t *testing.T, c client.Client, h client.ScheduleHandle) string {
	t.Helper()
	for {
		d, err := h.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range d.Info.RecentActions {
			if a.StartWorkflowResult == nil {
				continue
			}
			id := a.StartWorkflowResult.WorkflowID
			if !strings.HasPrefix(id, h.GetID()+"-") {
				t.Errorf("scheduled workflow ID %s is not derived from the schedule ID %s", id, h.GetID())
			}
			wd, err := c.DescribeWorkflowExecution(ctx, id, "")
			if err != nil {
				t.Fatal(err)
			}
			switch s := wd.WorkflowExecutionInfo.Status; s {
			case enums.WORKFLOW_EXECUTION_STATUS_COMPLETED:
				t.Logf("scheduled backup %s completed", id)
				return id
			case enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
			default:
				t.Fatalf("scheduled backup %s ended %v", id, s)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no scheduled backup completed: %v", ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// summaryField reads one "  name  value" line of the backup summary.
func summaryField(t *testing.T, out, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  ` + name + `\s+(.+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("summary has no %s line:\n%s", name, out)
	}
	return m[1]
}

// TestBackupCLI_WaitPrintsTheManifestSummary backs up dev from the CLI and
// checks the summary against the manifest in the store.
func TestBackupCLI_WaitPrintsTheManifestSummary(t *testing.T) {
	out, stderr, err := lifeboat(t, "backup", "dev", "--kind", "database", "--wait")
	if err != nil {
		t.Fatalf("lifeboat backup dev --wait: %v\n%s%s", err, out, stderr)
	}
	head := regexp.MustCompile(`(?m)^backup (\S+-database-[0-9a-f]{6}) of cluster dev: done in \S+s$`).FindStringSubmatch(out)
	if head == nil {
		t.Fatalf("no summary heading:\n%s", out)
	}
	if wf := summaryField(t, out, "workflow"); !regexp.MustCompile(`^backup/dev/database/\d{8}T\d{6}\.\d{3}Z$`).MatchString(wf) {
		t.Errorf("workflow ID %q, want backup/dev/database/<UTC time>", wf)
	}
	if src := summaryField(t, out, "source"); !strings.HasPrefix(src, "pg-a2 (PostgreSQL 15") {
		t.Errorf("source %q, want the synchronous replica pg-a2 with its version", src)
	}
	lsn := summaryField(t, out, "LSN")
	if !regexp.MustCompile(`^[0-9A-F]+/[0-9A-F]+ to [0-9A-F]+/[0-9A-F]+, timeline [1-9]`).MatchString(lsn) {
		t.Errorf("LSN line %q, want a range and a timeline", lsn)
	}
	if size := summaryField(t, out, "size"); !regexp.MustCompile(`^\S+ [kMG]?B plain, \S+ [kMG]?B stored \(ratio \d+\.\dx\)$`).MatchString(size) {
		t.Errorf("size line %q, want plain and stored sizes and the ratio", size)
	}

	// Reported done means the manifest is in the store.
	topo, err := schemas.LoadTopology(stack.TopologyPath())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := storeOf(t, topo).Get(context.Background(), schemas.ManifestKey("dev", head[1]))
	if err != nil {
		t.Fatalf("backup %s reported done but its manifest is not stored: %v", head[1], err)
	}
	raw.Close()
}

// TestBackupCLI_JSON checks both JSON outputs: without --wait the started
// workflow's IDs, with it the BackupResult.
func TestBackupCLI_JSON(t *testing.T) {
	out, stderr, err := lifeboat(t, "backup", "dev", "--json")
	if err != nil {
		t.Fatalf("lifeboat backup dev --json: %v\n%s", err, stderr)
	}
	var started struct {
		WorkflowID string `json:"workflow_id"`
		RunID      string `json:"run_id"`
	}
	if err := json.Unmarshal([]byte(out), &started); err != nil || started.RunID == "" || !strings.HasPrefix(started.WorkflowID, "backup/dev/database/") {
		t.Fatalf("output %q (%v), want the workflow's IDs", out, err)
	}
	c := temporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.GetWorkflow(ctx, started.WorkflowID, started.RunID).Get(ctx, nil); err != nil {
		t.Fatalf("backup started without --wait: %v", err)
	}

	out, stderr, err = lifeboat(t, "backup", "dev", "--json", "--wait")
	if err != nil {
		t.Fatalf("lifeboat backup dev --json --wait: %v\n%s", err, stderr)
	}
	var res schemas.BackupResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout is not only the BackupResult: %v\n%s", err, out)
	}
	if m := res.Manifest; m.Cluster != "dev" || m.Kind != schemas.BackupDatabase || m.StoredSize <= 0 || m.StartLSN == "" || res.Seconds <= 0 {
		t.Errorf("result %+v, want a finished database backup of dev", res)
	}
}

// TestBackupCLI_FailureGivesTheErrorType checks a failed backup exits 1
// with the workflow's failure message and its application error type.
func TestBackupCLI_FailureGivesTheErrorType(t *testing.T) {
	out, stderr, err := lifeboat(t, "backup", "dev", "--source", "no-such-node", "--wait")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("err = %v, want exit code 1\n%s%s", err, out, stderr)
	}
	want := fmt.Sprintf(`failed: %s: invalid input: source: "no-such-node" is not a PostgreSQL node of cluster dev`, schemas.ErrInvalidInput)
	if !strings.Contains(stderr, want) || !strings.Contains(stderr, "backup/dev/database/") {
		t.Errorf("stderr %q, want the workflow ID and %q", stderr, want)
	}
}
