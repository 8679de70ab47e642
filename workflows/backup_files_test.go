package workflows

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/schemas"
)

// newPartsEnv is a Backup environment whose topology has the given file trees.
func newPartsEnv(t *testing.T, trees ...schemas.FileTree) *testsuite.TestWorkflowEnvironment {
	env := newEnv(t)
	env.RegisterWorkflow(Backup)
	env.RegisterWorkflowWithOptions(Retention, workflow.RegisterOptions{Name: schemas.RetentionWorkflow})
	env.RegisterActivity(&backup.Backup{})
	topo := twoRegions()
	topo.Files = trees
	env.OnActivity("DescribeCluster", mock.Anything, mock.Anything).Return(schemas.DescribeClusterResult{Topology: topo}, nil)
	env.OnWorkflow(schemas.RetentionWorkflow, mock.Anything, mock.Anything).Return(schemas.RetentionResult{}, nil)
	return env
}

// partOf is the manifest a region's activity returns for its part.
func partOf(kind, id, region, source string, size int64) schemas.Manifest {
	key := schemas.BackupPartKey("dev", id, kind, region)
	return schemas.Manifest{ID: id, Cluster: "dev", Kind: kind, Source: source, Object: key, StoredSize: size,
		Parts: []schemas.BackupPart{{Key: key, Region: region, Source: source, StoredSize: size}}}
}

// queueLog records which region each part was asked of and on which queue.
type queueLog struct {
	mu   sync.Mutex
	seen []string
}

func (q *queueLog) add(ctx context.Context, region string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seen = append(q.seen, region+"@"+activity.GetInfo(ctx).TaskQueue)
}

func (q *queueLog) sorted() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Sorted(slices.Values(q.seen))
}

func TestBackup_FilesRunsOnePartPerRegionWithTreesOnItsQueue(t *testing.T) {
	tests := []struct {
		name      string
		trees     []schemas.FileTree
		want      []string
		wantParts []string
	}{
		{"trees in one region",
			[]schemas.FileTree{{Name: "uploads", Region: "region-a", Path: "/srv/uploads"}, {Name: "media", Region: "region-a", Path: "/srv/media"}},
			[]string{"region-a@lifeboat-region-a"}, []string{"region-a"}},
		{"trees in both regions",
			[]schemas.FileTree{{Name: "media", Region: "region-b", Path: "/srv/media"}, {Name: "uploads", Region: "region-a", Path: "/srv/uploads"}},
			[]string{"region-a@lifeboat-region-a", "region-b@lifeboat-region-b"}, []string{"region-a", "region-b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newPartsEnv(t, tc.trees...)
			var queues queueLog
			env.OnActivity("BackupFiles", mock.Anything, mock.Anything).
				Return(func(ctx context.Context, in schemas.BackupFilesInput) (schemas.BackupFilesResult, error) {
					queues.add(ctx, in.Region)
					if in.Cluster != "dev" || !strings.Contains(in.ID, "-files") {
						return schemas.BackupFilesResult{}, errors.New("bad input")
					}
					return schemas.BackupFilesResult{Manifest: partOf(schemas.BackupFiles, in.ID, in.Region, "trees-of-"+in.Region, 10)}, nil
				})
			var written schemas.Manifest
			env.OnActivity("WriteManifest", mock.Anything, mock.Anything).
				Return(func(_ context.Context, in schemas.WriteManifestInput) (schemas.WriteManifestResult, error) {
					written = in.Manifest
					return schemas.WriteManifestResult{Key: "k"}, nil
				})

			env.ExecuteWorkflow(Backup, schemas.BackupInput{Cluster: "dev", Kind: schemas.BackupFiles})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if got := queues.sorted(); !slices.Equal(got, tc.want) {
				t.Errorf("parts asked of %v, want %v", got, tc.want)
			}
			var regions []string
			for _, p := range written.Parts {
				regions = append(regions, p.Region)
			}
			if !slices.Equal(regions, tc.wantParts) {
				t.Errorf("manifest lists parts of %v, want %v", regions, tc.wantParts)
			}
			if written.Object != written.Parts[0].Key {
				t.Errorf("manifest object %s, want the first part %s", written.Object, written.Parts[0].Key)
			}
			var got schemas.BackupResult
			if err := env.GetWorkflowResult(&got); err != nil {
				t.Fatal(err)
			}
			if len(got.Manifest.Parts) != len(tc.wantParts) {
				t.Errorf("result manifest has %d parts, want %d", len(got.Manifest.Parts), len(tc.wantParts))
			}
			env.AssertNotCalled(t, "DeleteBackup", mock.Anything, mock.Anything)
		})
	}
}

func TestBackup_ConfigReadsEveryRegionOnItsQueue(t *testing.T) {
	env := newPartsEnv(t)
	var queues queueLog
	env.OnActivity("BackupConfig", mock.Anything, mock.Anything).
		Return(func(ctx context.Context, in schemas.BackupConfigInput) (schemas.BackupConfigResult, error) {
			queues.add(ctx, in.Region)
			return schemas.BackupConfigResult{Manifest: partOf(schemas.BackupConfig, in.ID, in.Region, "nodes-of-"+in.Region, 5)}, nil
		})
	var written schemas.Manifest
	env.OnActivity("WriteManifest", mock.Anything, mock.Anything).
		Return(func(_ context.Context, in schemas.WriteManifestInput) (schemas.WriteManifestResult, error) {
			written = in.Manifest
			return schemas.WriteManifestResult{Key: "k"}, nil
		})

	env.ExecuteWorkflow(Backup, schemas.BackupInput{Cluster: "dev", Kind: schemas.BackupConfig})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := []string{"region-a@lifeboat-region-a", "region-b@lifeboat-region-b"}
	if got := queues.sorted(); !slices.Equal(got, want) {
		t.Errorf("parts asked of %v, want %v", got, want)
	}
	if len(written.Parts) != 2 || written.Source != "nodes-of-region-a,nodes-of-region-b" ||
		!strings.Contains(written.ID, "-config") {
		t.Errorf("manifest %+v, want both regions' parts, sources joined in region order", written)
	}
}

func TestBackup_FilesRemovesEveryPartWhenARegionFails(t *testing.T) {
	env := newPartsEnv(t,
		schemas.FileTree{Name: "uploads", Region: "region-a", Path: "/srv/uploads"},
		schemas.FileTree{Name: "media", Region: "region-b", Path: "/srv/media"})
	var mu sync.Mutex
	var calls []string
	env.OnActivity("BackupFiles", mock.Anything, mock.Anything).
		Return(func(_ context.Context, in schemas.BackupFilesInput) (schemas.BackupFilesResult, error) {
			mu.Lock()
			calls = append(calls, in.Region)
			mu.Unlock()
			if in.Region == "region-b" {
				return schemas.BackupFilesResult{}, temporal.NewApplicationError(
					"file media/a changed while it was read", "FileChangedError")
			}
			return schemas.BackupFilesResult{Manifest: partOf(schemas.BackupFiles, in.ID, in.Region, "uploads", 10)}, nil
		})
	deleted := false
	env.OnActivity("DeleteBackup", mock.Anything, mock.Anything).
		Return(func(_ context.Context, in schemas.DeleteBackupInput) (schemas.DeleteBackupResult, error) {
			deleted = strings.Contains(in.ID, "-files")
			return schemas.DeleteBackupResult{}, nil
		})

	env.ExecuteWorkflow(Backup, schemas.BackupInput{Cluster: "dev", Kind: schemas.BackupFiles})
	err := env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), "media/a changed") || !strings.Contains(err.Error(), "region-b") {
		t.Fatalf("error = %v, want one naming the changed file and its region", err)
	}
	if !deleted {
		t.Error("the failed backup's parts were not removed")
	}
	env.AssertNotCalled(t, "WriteManifest", mock.Anything, mock.Anything)
	// A changed file is retryable: region-b's part is tried three times.
	if slices.Sort(calls); !slices.Equal(calls, []string{"region-a", "region-b", "region-b", "region-b"}) {
		t.Errorf("parts run: %v, want region-a once and region-b three times", calls)
	}
}

func TestBackup_FilesWithoutTreesIsBadInput(t *testing.T) {
	env := newPartsEnv(t)
	env.ExecuteWorkflow(Backup, schemas.BackupInput{Cluster: "dev", Kind: schemas.BackupFiles})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != schemas.ErrInvalidInput {
		t.Fatalf("error = %v, want InvalidInput", err)
	}
}

func TestMergeParts_ListsEveryPartAndSpansTheirTimes(t *testing.T) {
	a := partOf(schemas.BackupConfig, "x", "region-a", "pg-a1", 5)
	b := partOf(schemas.BackupConfig, "x", "region-b", "pg-b1", 7)
	a.StartTime, a.EndTime = a.StartTime.AddDate(2026, 0, 1), a.StartTime.AddDate(2026, 0, 3)
	b.StartTime, b.EndTime = a.StartTime.AddDate(0, 0, -1), a.StartTime.AddDate(0, 0, 1)
	got := MergeParts([]schemas.Manifest{a, b})
	if got.Object != a.Object || got.StoredSize != 5 || len(got.Parts) != 2 || got.Parts[1].Key != b.Object {
		t.Errorf("merged %+v: want part a at the top and both listed", got)
	}
	if !got.StartTime.Equal(b.StartTime) || !got.EndTime.Equal(a.EndTime) || got.Source != "pg-a1,pg-b1" {
		t.Errorf("merged times %s..%s source %q, want %s..%s and both sources", got.StartTime, got.EndTime, got.Source, b.StartTime, a.EndTime)
	}
}
