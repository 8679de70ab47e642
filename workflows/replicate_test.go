package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/schemas"
)

// newReplicatedBackupEnv is newBackupEnv with a replica store in region-b.
func newReplicatedBackupEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *[]string) {
	env := newEnv(t)
	env.RegisterWorkflow(Backup)
	env.RegisterWorkflowWithOptions(Retention, workflow.RegisterOptions{Name: schemas.RetentionWorkflow})
	env.RegisterActivity(&backup.Backup{})
	topo := twoRegions()
	topo.Backup.Replica = &schemas.Store{Type: schemas.StoreLocal, Path: "/srv/replica"}
	topo.Backup.ReplicaRegion = "region-b"
	env.OnActivity("DescribeCluster", mock.Anything, mock.Anything).Return(schemas.DescribeClusterResult{Topology: topo}, nil)
	env.OnActivity("ProbeRegion", mock.Anything, schemas.ProbeRegionInput{Cluster: "dev", Region: "region-a"}).Return(healthyRegionA(), nil)
	env.OnActivity("ProbeRegion", mock.Anything, schemas.ProbeRegionInput{Cluster: "dev", Region: "region-b"}).Return(healthyRegionB(), nil)
	var calls []string
	manifest := schemas.Manifest{ID: "x", Cluster: "dev", Object: "dev/backups/x/data.tar.zst.age", StoredSize: 10}
	env.OnActivity("BackupDatabase", mock.Anything, mock.Anything).Return(schemas.BackupDatabaseResult{Manifest: manifest}, nil)
	env.OnActivity("WriteManifest", mock.Anything, mock.Anything).
		Return(func(context.Context, schemas.WriteManifestInput) (schemas.WriteManifestResult, error) {
			calls = append(calls, "WriteManifest")
			return schemas.WriteManifestResult{Key: "k"}, nil
		})
	env.OnWorkflow(schemas.RetentionWorkflow, mock.Anything, mock.Anything).
		Return(func(workflow.Context, schemas.RetentionInput) (schemas.RetentionResult, error) {
			calls = append(calls, "Retention")
			return schemas.RetentionResult{}, nil
		})
	return env, &calls
}

func TestBackup_ReplicatesOnTheReplicaRegionAfterTheManifestBeforeRetention(t *testing.T) {
	env, calls := newReplicatedBackupEnv(t)
	env.OnActivity("ReplicateBackup", mock.Anything, mock.MatchedBy(func(in schemas.ReplicateBackupInput) bool {
		return in.Cluster == "dev" && strings.Contains(in.ID, "-database-")
	})).Return(func(ctx context.Context, _ schemas.ReplicateBackupInput) (schemas.ReplicateBackupResult, error) {
		*calls = append(*calls, "ReplicateBackup@"+activity.GetInfo(ctx).TaskQueue)
		return schemas.ReplicateBackupResult{Copied: []string{"a", "b"}}, nil
	})
	env.ExecuteWorkflow(Backup, schemas.BackupInput{Cluster: "dev", Kind: schemas.BackupDatabase})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := "WriteManifest,ReplicateBackup@" + schemas.RegionTaskQueue("region-b") + ",Retention"
	if got := strings.Join(*calls, ","); got != want {
		t.Errorf("calls = %s, want %s", got, want)
	}
}

func TestBackup_AFailedReplicationFailsTheWorkflowAndKeepsTheBackup(t *testing.T) {
	env, _ := newReplicatedBackupEnv(t)
	env.OnActivity("ReplicateBackup", mock.Anything, mock.Anything).Return(schemas.ReplicateBackupResult{},
		temporal.NewNonRetryableApplicationError("dev/backups/x/data.tar.zst.age in the replica reads back wrong", schemas.ErrCorrupt, nil)).Once()
	env.ExecuteWorkflow(Backup, schemas.BackupInput{Cluster: "dev", Kind: schemas.BackupDatabase})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != schemas.ErrCorrupt {
		t.Fatalf("error = %v, want the Corrupt error of the replication, not retried", err)
	}
	env.AssertNotCalled(t, "DeleteBackup", mock.Anything, mock.Anything)
}
