package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/schemas"
)

// retentionStart is when the tested runs start: a Sunday noon, UTC.
var retentionStart = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

func storedBackup(kind string, end time.Time, timeline int64, startLSN string) schemas.StoredBackup {
	id := schemas.NewBackupID(end, kind)
	return schemas.StoredBackup{
		Manifest: schemas.Manifest{ID: id, Cluster: "dev", Kind: kind, StartTime: end.Add(-time.Minute), EndTime: end,
			Object: schemas.BackupDataKey("dev", id), Timeline: timeline, StartLSN: startLSN},
		Keys: []string{schemas.BackupDataKey("dev", id), schemas.ManifestKey("dev", id)},
	}
}

// retentionListing is three days of database backups, two on the last day,
// an old and a young orphan, and WAL on two timelines.
func retentionListing() schemas.ListBackupsResult {
	day := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, time.UTC) }
	return schemas.ListBackupsResult{
		Backups: []schemas.StoredBackup{
			storedBackup(schemas.BackupDatabase, day(13, 1), 1, "0/3000028"),
			storedBackup(schemas.BackupDatabase, day(14, 1), 1, "0/5000028"),
			storedBackup(schemas.BackupDatabase, day(15, 1), 2, "0/7000028"),
			storedBackup(schemas.BackupDatabase, day(15, 9), 2, "0/9000028"),
		},
		Orphans: []schemas.OrphanBackup{
			{ID: "20260310T010000Z-database", Keys: []string{"dev/backups/20260310T010000Z-database/data.tar.zst.age"}, Bytes: 5, LastModified: day(10, 2)},
			{ID: "20260315T110000Z-database", Keys: []string{"dev/backups/20260315T110000Z-database/data.tar.zst.age"}, Bytes: 5, LastModified: day(15, 11)},
		},
		WAL: []string{
			"000000010000000000000003", "000000010000000000000004", "000000010000000000000005",
			"000000010000000000000006", "00000002.history", "000000020000000000000006",
			"000000020000000000000007", "000000020000000000000008",
		},
	}
}

func withRetention(daily, weekly, monthly int) schemas.Topology {
	topo := twoRegions()
	topo.Backup.Retention = &schemas.Retention{Daily: &daily, Weekly: &weekly, Monthly: &monthly}
	return topo
}

func newRetentionEnv(t *testing.T, topo schemas.Topology, list schemas.ListBackupsResult) (*testsuite.TestWorkflowEnvironment, *[][]string) {
	t.Helper()
	env := newEnv(t)
	env.SetStartTime(retentionStart)
	env.RegisterWorkflow(Retention)
	env.RegisterActivity(&backup.Retention{})
	env.OnActivity("DescribeCluster", mock.Anything, schemas.DescribeClusterInput{Cluster: "dev"}).
		Return(schemas.DescribeClusterResult{Topology: topo}, nil)
	env.OnActivity("ListBackups", mock.Anything, schemas.ListBackupsInput{Cluster: "dev"}).Return(list, nil)
	var batches [][]string
	env.OnActivity("DeleteObjects", mock.Anything, mock.Anything).Maybe().
		Return(func(_ context.Context, in schemas.DeleteObjectsInput) (schemas.DeleteObjectsResult, error) {
			if in.Cluster != "dev" {
				return schemas.DeleteObjectsResult{}, fmt.Errorf("cluster %q", in.Cluster)
			}
			batches = append(batches, in.Keys)
			return schemas.DeleteObjectsResult{Deleted: len(in.Keys)}, nil
		})
	return env, &batches
}

func runRetention(t *testing.T, env *testsuite.TestWorkflowEnvironment, in schemas.RetentionInput) schemas.RetentionResult {
	t.Helper()
	env.ExecuteWorkflow(Retention, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res schemas.RetentionResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func summaryIDs(ss []schemas.BackupSummary) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

func TestRetention_DeletesWhatThePlanRemovesManifestsFirst(t *testing.T) {
	env, batches := newRetentionEnv(t, withRetention(2, 0, 0), retentionListing())
	res := runRetention(t, env, schemas.RetentionInput{Cluster: "dev"})

	if got, want := summaryIDs(res.Kept), []string{"20260315T090000Z-database", "20260314T010000Z-database"}; !slices.Equal(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
	if got, want := summaryIDs(res.Removed), []string{"20260315T010000Z-database", "20260313T010000Z-database"}; !slices.Equal(got, want) {
		t.Errorf("removed %v, want %v", got, want)
	}
	if r := res.Kept[0].Reason; r != "newest database backup, daily 2026-03-15" {
		t.Errorf("reason of the newest = %q", r)
	}
	// The oldest kept backup starts at 0/5000028 on timeline 1.
	if res.WALRemoved != 2 || res.WALFirstRemoved != "000000010000000000000003" || res.WALLastRemoved != "000000010000000000000004" || res.WALKept != 6 {
		t.Errorf("wal removed %d (%s … %s), kept %d; want 2 (…03 … …04), 6 kept",
			res.WALRemoved, res.WALFirstRemoved, res.WALLastRemoved, res.WALKept)
	}
	if len(res.Orphans) != 2 || !res.Orphans[0].Removed || res.Orphans[1].Removed {
		t.Errorf("orphans %+v, want the 5-day-old one removed and the 1-hour-old one kept", res.Orphans)
	}

	if len(*batches) != 1 {
		t.Fatalf("DeleteObjects called %d times, want once", len(*batches))
	}
	want := []string{
		"dev/backups/20260315T010000Z-database/manifest.json",
		"dev/backups/20260313T010000Z-database/manifest.json",
		"dev/backups/20260315T010000Z-database/data.tar.zst.age",
		"dev/backups/20260313T010000Z-database/data.tar.zst.age",
		"dev/backups/20260310T010000Z-database/data.tar.zst.age",
		"dev/wal/000000010000000000000003.json",
		"dev/wal/000000010000000000000004.json",
		"dev/wal/000000010000000000000003.zst.age",
		"dev/wal/000000010000000000000004.zst.age",
	}
	if got := (*batches)[0]; !slices.Equal(got, want) {
		t.Errorf("deleted\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res.DeletedObjects != len(want) || res.DryRun {
		t.Errorf("deleted_objects %d, dry_run %v; want %d, false", res.DeletedObjects, res.DryRun, len(want))
	}
}

func TestRetention_DryRunPlansTheSameAndDeletesNothing(t *testing.T) {
	env, batches := newRetentionEnv(t, withRetention(2, 0, 0), retentionListing())
	res := runRetention(t, env, schemas.RetentionInput{Cluster: "dev", DryRun: true})
	if len(*batches) != 0 {
		t.Errorf("a dry run deleted %v", *batches)
	}
	if !res.DryRun || res.DeletedObjects != 0 || len(res.Removed) != 2 || res.WALRemoved != 2 {
		t.Errorf("dry run result %+v, want dry_run, nothing deleted, 2 backups and 2 WAL files planned", res)
	}
}

func TestRetention_UsesTheDefaultPolicyWhenTheTopologyHasNone(t *testing.T) {
	env, _ := newRetentionEnv(t, twoRegions(), retentionListing())
	res := runRetention(t, env, schemas.RetentionInput{Cluster: "dev", DryRun: true})
	if want := (schemas.RetentionPolicy{Daily: 7, Weekly: 4, Monthly: 12}); res.Policy != want {
		t.Errorf("policy %+v, want %+v", res.Policy, want)
	}
	if got := summaryIDs(res.Removed); !slices.Equal(got, []string{"20260315T010000Z-database"}) {
		t.Errorf("removed %v, want only the older backup of the last day", got)
	}
}

func TestRetention_DeletesInBatchesInPlanOrder(t *testing.T) {
	list := retentionListing()
	list.Orphans = nil
	list.WAL = nil
	for i := range 1200 {
		list.WAL = append(list.WAL, schemas.WALSegmentName(1, schemas.LSN(i)*schemas.WALSegmentSize))
	}
	for i := range 1500 {
		list.Backups = append(list.Backups, storedBackup(schemas.BackupFiles, retentionStart.Add(-time.Duration(i+1)*time.Hour), 0, ""))
	}
	env, batches := newRetentionEnv(t, withRetention(2, 0, 0), list)
	res := runRetention(t, env, schemas.RetentionInput{Cluster: "dev"})

	// Segments 0 to 4 of timeline 1 come before the oldest kept backup.
	if res.WALRemoved != 5 || res.WALFirstRemoved != "000000010000000000000000" || res.WALLastRemoved != "000000010000000000000004" {
		t.Errorf("wal removed %d (%s … %s), want 5 (…00 … …04)", res.WALRemoved, res.WALFirstRemoved, res.WALLastRemoved)
	}
	var all []string
	for _, b := range *batches {
		if len(b) > deleteBatch {
			t.Errorf("a batch of %d keys, want at most %d", len(b), deleteBatch)
		}
		all = append(all, b...)
	}
	wantKeys := 2*len(res.Removed) + 2*res.WALRemoved
	if len(*batches) < 3 || len(all) != wantKeys || res.DeletedObjects != wantKeys {
		t.Fatalf("%d batches, %d keys, %d reported deleted; want several batches holding all %d keys",
			len(*batches), len(all), res.DeletedObjects, wantKeys)
	}
	firstData := slices.IndexFunc(all, func(k string) bool { return !strings.HasSuffix(k, "/manifest.json") })
	if firstData != len(res.Removed) {
		t.Errorf("the first %d keys are manifests, want all %d removed manifests first", firstData, len(res.Removed))
	}
}

func TestRetention_RejectsBadInputNamingTheField(t *testing.T) {
	for _, tc := range []struct {
		name  string
		topo  schemas.Topology
		in    schemas.RetentionInput
		field string
	}{
		{"no cluster", twoRegions(), schemas.RetentionInput{}, "cluster"},
		{"negative daily", withRetention(-1, 4, 12), schemas.RetentionInput{Cluster: "dev"}, "backup.retention.daily"},
		{"negative monthly", withRetention(7, 4, -3), schemas.RetentionInput{Cluster: "dev"}, "backup.retention.monthly"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, batches := newRetentionEnv(t, tc.topo, retentionListing())
			env.ExecuteWorkflow(Retention, tc.in)
			var appErr *temporal.ApplicationError
			err := env.GetWorkflowError()
			if !errors.As(err, &appErr) || appErr.Type() != schemas.ErrInvalidInput || !appErr.NonRetryable() ||
				!strings.Contains(appErr.Error(), tc.field+":") {
				t.Errorf("error = %v, want a non-retryable InvalidInput naming %s", err, tc.field)
			}
			if len(*batches) != 0 {
				t.Error("deleted something after refusing the input")
			}
		})
	}
}

func TestRetention_FailsWhenDeletionFails(t *testing.T) {
	env := newEnv(t)
	env.SetStartTime(retentionStart)
	env.RegisterWorkflow(Retention)
	env.RegisterActivity(&backup.Retention{})
	env.OnActivity("DescribeCluster", mock.Anything, mock.Anything).Return(schemas.DescribeClusterResult{Topology: withRetention(2, 0, 0)}, nil)
	env.OnActivity("ListBackups", mock.Anything, mock.Anything).Return(retentionListing(), nil)
	env.OnActivity("DeleteObjects", mock.Anything, mock.Anything).Return(schemas.DeleteObjectsResult{},
		temporal.NewNonRetryableApplicationError("store refused", "AccessDenied", nil))
	env.ExecuteWorkflow(Retention, schemas.RetentionInput{Cluster: "dev"})
	if err := env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "delete objects") {
		t.Fatalf("error = %v, want the deletion's failure", err)
	}
}

func TestPlanRetentionRun(t *testing.T) {
	policy := schemas.RetentionPolicy{Daily: 2}
	tests := []struct {
		name          string
		edit          func(*schemas.ListBackupsResult)
		wantWALRemove int
		wantProblem   string
	}{
		{"a clean listing removes WAL", func(*schemas.ListBackupsResult) {}, 2, ""},
		{
			name: "an unreadable manifest keeps every WAL file and is reported",
			edit: func(l *schemas.ListBackupsResult) {
				l.Invalid = []schemas.InvalidBackup{{ID: "20260301T010000Z-database", Problem: "manifest does not parse: not JSON"}}
			},
			wantProblem: "backup 20260301T010000Z-database left in place: manifest does not parse",
		},
		{
			name:        "a WAL name of another segment size keeps every WAL file",
			edit:        func(l *schemas.ListBackupsResult) { l.WAL = append(l.WAL, "000000020000000000000100") },
			wantProblem: "no WAL removed: ",
		},
		{
			name:          "unrecognized objects are reported and left",
			edit:          func(l *schemas.ListBackupsResult) { l.Unrecognized = []string{"dev/backups/stray"} },
			wantWALRemove: 2,
			wantProblem:   "1 objects are neither backups nor WAL and were left alone, such as dev/backups/stray",
		},
		{
			name:        "without database backups no WAL is removed",
			edit:        func(l *schemas.ListBackupsResult) { l.Backups = nil },
			wantProblem: "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list := retentionListing()
			tc.edit(&list)
			res, keys := PlanRetentionRun("dev", list, policy, retentionStart)
			if res.WALRemoved != tc.wantWALRemove || res.WALKept+res.WALRemoved != len(list.WAL) {
				t.Errorf("wal removed %d kept %d, want %d removed of %d", res.WALRemoved, res.WALKept, tc.wantWALRemove, len(list.WAL))
			}
			walKeys := slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return !strings.HasPrefix(k, "dev/wal/") })
			if len(walKeys) != 2*tc.wantWALRemove {
				t.Errorf("wal keys to delete %v, want %d", walKeys, 2*tc.wantWALRemove)
			}
			joined := strings.Join(res.Problems, "\n")
			if (tc.wantProblem == "") != (joined == "") || !strings.Contains(joined, tc.wantProblem) {
				t.Errorf("problems %q, want %q", joined, tc.wantProblem)
			}
			again, againKeys := PlanRetentionRun("dev", list, policy, retentionStart)
			if !slices.Equal(againKeys, keys) || len(again.Removed) != len(res.Removed) {
				t.Error("the same listing planned twice gave two plans")
			}
		})
	}
}
