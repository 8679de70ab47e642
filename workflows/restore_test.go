package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/schemas"
)

func newRestoreEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	env := newEnv(t)
	env.RegisterWorkflow(Restore)
	env.RegisterActivity(&backup.Restore{})
	topo := twoRegions()
	topo.Backup.DRRegion = "region-b"
	env.OnActivity("DescribeCluster", mock.Anything, mock.Anything).Return(schemas.DescribeClusterResult{Topology: topo}, nil)
	return env
}

var validRestore = schemas.RestoreInput{Cluster: "dev", Backup: "latest", DataDir: "/srv/restore", Port: 15500}

func TestRestore_RunsEveryStepInTheDRRegionAndReportsTheRTO(t *testing.T) {
	env := newRestoreEnv(t)
	m := schemas.Manifest{ID: "20261129T052643Z-database", Cluster: "dev"}
	until := "2026-11-29T06:00:00Z"
	env.OnActivity("FindBackup", mock.Anything, mock.MatchedBy(func(in schemas.FindBackupInput) bool {
		return in.Backup == "latest" && in.Kind == schemas.BackupDatabase && in.Before != nil && in.Before.Format(time.RFC3339) == until
	})).Return(schemas.FindBackupResult{Manifest: m}, nil)
	env.OnActivity("RestoreBase", mock.Anything, schemas.RestoreBaseInput{Cluster: "dev", Manifest: m, DataDir: "/srv/restore"}).
		Return(schemas.RestoreBaseResult{Files: 10}, nil)
	env.OnActivity("StartRestored", mock.Anything, schemas.StartRestoredInput{Cluster: "dev", DataDir: "/srv/restore", Port: 15500, Until: until}).
		Return(schemas.StartRestoredResult{RecoveredLSN: "0/5000000"}, nil)
	env.OnActivity("VerifyRestored", mock.Anything, schemas.VerifyRestoredInput{Port: 15500}).
		Return(schemas.VerifyRestoredResult{Tables: 3}, nil)

	in := validRestore
	in.Until = until
	env.ExecuteWorkflow(Restore, in)
	var got schemas.RestoreResult
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if got.BackupID != m.ID || got.Region != "region-b" || got.RecoveredLSN != "0/5000000" || len(got.Steps) != 4 {
		t.Errorf("result %+v: want backup %s restored in region-b at 0/5000000 with 4 timed steps", got, m.ID)
	}
}

func TestRestore_StopsAtAMissingBackupWithoutRetrying(t *testing.T) {
	env := newRestoreEnv(t)
	env.OnActivity("FindBackup", mock.Anything, mock.Anything).Return(schemas.FindBackupResult{},
		temporal.NewNonRetryableApplicationError("no such backup: x; the newest backups are: a, b", schemas.ErrNoSuchBackup, nil)).Once()
	in := validRestore
	in.Backup = "20200101T000000Z-database"
	env.ExecuteWorkflow(Restore, in)
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != schemas.ErrNoSuchBackup || !strings.Contains(err.Error(), "newest backups") {
		t.Fatalf("error = %v, want NoSuchBackup listing the newest backups", err)
	}
	env.AssertNotCalled(t, "RestoreBase", mock.Anything, mock.Anything)
}

func TestRestore_RejectsBadInputNamingTheField(t *testing.T) {
	tests := []struct {
		change func(*schemas.RestoreInput)
		field  string
	}{
		{func(in *schemas.RestoreInput) { in.Cluster = "" }, "cluster"},
		{func(in *schemas.RestoreInput) { in.Backup = "" }, "backup"},
		{func(in *schemas.RestoreInput) { in.Backup = "yesterday" }, "backup"},
		{func(in *schemas.RestoreInput) { in.DataDir = "relative/dir" }, "data_dir"},
		{func(in *schemas.RestoreInput) { in.Port = 80 }, "port"},
		{func(in *schemas.RestoreInput) { in.Until = "last tuesday" }, "until"},
		{func(in *schemas.RestoreInput) { in.Region = "region-z" }, "region"},
		{func(in *schemas.RestoreInput) { in.Store = "secondary" }, "store"},
	}
	for _, tc := range tests {
		env := newRestoreEnv(t)
		in := validRestore
		tc.change(&in)
		env.ExecuteWorkflow(Restore, in)
		var appErr *temporal.ApplicationError
		err := env.GetWorkflowError()
		if !errors.As(err, &appErr) || appErr.Type() != schemas.ErrInvalidInput || !appErr.NonRetryable() ||
			!strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("%+v: error = %v, want a non-retryable InvalidInput naming %s", in, err, tc.field)
		}
	}
}
