package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/schemas"
)

func newBackupEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	env := newEnv(t)
	env.RegisterWorkflow(Backup)
	env.RegisterWorkflowWithOptions(Retention, workflow.RegisterOptions{Name: schemas.RetentionWorkflow})
	env.RegisterActivity(&backup.Backup{})
	env.OnActivity("DescribeCluster", mock.Anything, mock.Anything).Return(schemas.DescribeClusterResult{Topology: twoRegions()}, nil)
	env.OnActivity("ProbeRegion", mock.Anything, schemas.ProbeRegionInput{Cluster: "dev", Region: "region-a"}).Return(healthyRegionA(), nil)
	env.OnActivity("ProbeRegion", mock.Anything, schemas.ProbeRegionInput{Cluster: "dev", Region: "region-b"}).Return(healthyRegionB(), nil)
	env.OnActivity("ProbeSources", mock.Anything, schemas.ProbeSourcesInput{Cluster: "dev"}).
		Return(schemas.ProbeSourcesResult{Regions: []schemas.ProbeRegionResult{healthyRegionA(), healthyRegionB()}}, nil)
	return env
}

func TestBackup_StreamsFromTheSyncReplicaAndWritesTheManifestLast(t *testing.T) {
	env := newBackupEnv(t)
	var calls []string
	manifest := schemas.Manifest{ID: "x", Cluster: "dev", Object: "dev/backups/x/data.tar.zst.age", StoredSize: 10}
	env.OnActivity("BackupDatabase", mock.Anything, mock.MatchedBy(func(in schemas.BackupDatabaseInput) bool {
		return in.Cluster == "dev" && in.Source == "pg-a2" && strings.Contains(in.ID, "-database-")
	})).Return(func(_ context.Context, in schemas.BackupDatabaseInput) (schemas.BackupDatabaseResult, error) {
		calls = append(calls, "BackupDatabase")
		return schemas.BackupDatabaseResult{Manifest: manifest}, nil
	})
	env.OnActivity("WriteManifest", mock.Anything, schemas.WriteManifestInput{Manifest: manifest}).
		Return(func(_ context.Context, _ schemas.WriteManifestInput) (schemas.WriteManifestResult, error) {
			calls = append(calls, "WriteManifest")
			return schemas.WriteManifestResult{Key: "k"}, nil
		})

	retained := false
	env.OnWorkflow(schemas.RetentionWorkflow, mock.Anything, schemas.RetentionInput{Cluster: "dev"}).
		Return(func(workflow.Context, schemas.RetentionInput) (schemas.RetentionResult, error) {
			retained = true
			return schemas.RetentionResult{}, nil
		})

	env.ExecuteWorkflow(Backup, schemas.BackupInput{Cluster: "dev", Kind: schemas.BackupDatabase})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if !retained {
		t.Error("retention did not run after the backup")
	}
	// The source is chosen from one local probe of the PostgreSQL nodes.
	env.AssertCalled(t, "ProbeSources", mock.Anything, schemas.ProbeSourcesInput{Cluster: "dev"})
	env.AssertNotCalled(t, "ProbeRegion", mock.Anything, mock.Anything)
	var got schemas.BackupResult
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if got.Manifest.ID != "x" {
		t.Errorf("manifest id %q, want x", got.Manifest.ID)
	}
	if strings.Join(calls, ",") != "BackupDatabase,WriteManifest" {
		t.Errorf("calls = %v, want the upload then the manifest", calls)
	}
	env.AssertNotCalled(t, "DeleteBackup", mock.Anything, mock.Anything)
}

func TestBackup_RemovesTheUploadWhenTheManifestCannotBeWritten(t *testing.T) {
	env := newBackupEnv(t)
	env.OnActivity("BackupDatabase", mock.Anything, mock.Anything).Return(schemas.BackupDatabaseResult{Manifest: schemas.Manifest{ID: "x"}}, nil)
	env.OnActivity("WriteManifest", mock.Anything, mock.Anything).Return(schemas.WriteManifestResult{},
		temporal.NewNonRetryableApplicationError("size mismatch", schemas.ErrCorrupt, nil))
	deleted := false
	env.OnActivity("DeleteBackup", mock.Anything, mock.MatchedBy(func(in schemas.DeleteBackupInput) bool {
		return in.Cluster == "dev" && strings.Contains(in.ID, "-database-")
	})).Return(func(_ context.Context, _ schemas.DeleteBackupInput) (schemas.DeleteBackupResult, error) {
		deleted = true
		return schemas.DeleteBackupResult{}, nil
	})

	env.ExecuteWorkflow(Backup, schemas.BackupInput{Cluster: "dev", Kind: schemas.BackupDatabase})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != schemas.ErrCorrupt {
		t.Fatalf("error = %v, want a Corrupt application error", err)
	}
	if !deleted {
		t.Error("the failed backup's objects were not removed")
	}
}

func TestBackup_RejectsBadInputNamingTheField(t *testing.T) {
	for _, tc := range []struct {
		in    schemas.BackupInput
		field string
	}{
		{schemas.BackupInput{Kind: schemas.BackupDatabase}, "cluster"},
		{schemas.BackupInput{Cluster: "dev", Kind: "snapshot"}, "kind"},
		{schemas.BackupInput{Cluster: "dev"}, "kind"},
	} {
		env := newEnv(t)
		env.RegisterWorkflow(Backup)
		env.ExecuteWorkflow(Backup, tc.in)
		var appErr *temporal.ApplicationError
		err := env.GetWorkflowError()
		if !errors.As(err, &appErr) || appErr.Type() != schemas.ErrInvalidInput || !appErr.NonRetryable() ||
			!strings.Contains(appErr.Error(), tc.field+":") {
			t.Errorf("%+v: error = %v, want a non-retryable InvalidInput naming %s", tc.in, err, tc.field)
		}
	}
}

func TestChooseBackupSource(t *testing.T) {
	topo := twoRegions()
	healthy := Summarize(topo, []schemas.ProbeRegionResult{healthyRegionA(), healthyRegionB()})
	syncDown := Summarize(topo, func() []schemas.ProbeRegionResult {
		a := healthyRegionA()
		a.Nodes[1].Healthy, a.Nodes[1].Error = false, "connection refused"
		return []schemas.ProbeRegionResult{a, healthyRegionB()}
	}())
	// After a failover the primary names its standbys ANY 1 (…).
	quorum := Summarize(topo, func() []schemas.ProbeRegionResult {
		a := healthyRegionA()
		a.Nodes[0].Standbys[0].SyncState, a.Nodes[0].Standbys[1].SyncState = schemas.SyncStateAsync, schemas.SyncStateQuorum
		return []schemas.ProbeRegionResult{a, healthyRegionB()}
	}())
	onlyPrimary := Summarize(topo, func() []schemas.ProbeRegionResult {
		a, b := healthyRegionA(), healthyRegionB()
		a.Nodes[1].Healthy, b.Nodes[0].Healthy = false, false
		return []schemas.ProbeRegionResult{a, b}
	}())
	tests := []struct {
		name      string
		health    schemas.CheckClusterResult
		requested string
		want      string
		wantErr   string
	}{
		{"synchronous replica first", healthy, "", "pg-a2", ""},
		{"then the other replica", syncDown, "", "pg-b1", ""},
		{"a quorum standby is synchronous", quorum, "", "pg-b1", ""},
		{"primary when no replica is healthy", onlyPrimary, "", "pg-a1", ""},
		{"named node", healthy, "pg-a1", "pg-a1", ""},
		{"named node that is down", syncDown, "pg-a2", "", "not healthy"},
		{"unknown node", healthy, "pg-zz", "", "source:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ChooseBackupSource(topo, tc.health, tc.requested)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got.Name != tc.want {
				t.Fatalf("got %s, %v; want %s", got.Name, err, tc.want)
			}
		})
	}
}
