package backup

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/schemas"
)

func putDrillReport(t *testing.T, s objstore.Store, rep schemas.DrillReport) {
	t.Helper()
	body, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	keys := schemas.DrillReportKeys("dev", rep.ID)
	rtPut(t, s, keys.Markdown, []byte("# drill"))
	rtPut(t, s, keys.JSON, body)
}

// TestLevelEvidence_ReadsBothStoresAndTheNewestDrill builds the evidence
// in real filesystem stores: a backup counts in the replica store only
// once it is replicated, and the newest drill is reported whatever its
// result beside the newest that passed, so a failure after a pass is not
// hidden by it.
func TestLevelEvidence_ReadsBothStoresAndTheNewestDrill(t *testing.T) {
	b, primary, _, id := replicateFixture(t)
	b.Topology.Drill = &schemas.Drill{Every: schemas.Duration(72 * time.Hour)}
	e := &Evidence{Topology: b.Topology, Clients: b.Clients}
	ctx := context.Background()
	in := schemas.LevelEvidenceInput{Cluster: "dev"}

	got, err := e.LevelEvidence(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if got.Backup == nil || got.Backup.ID != id || !got.Backup.EndTime.Equal(rtManifest(id, 0).EndTime) {
		t.Errorf("backup = %+v, want %s ending %s", got.Backup, id, rtManifest(id, 0).EndTime)
	}
	if got.ReplicaBackup != nil || got.ReplicaError != "" || !got.ReplicaStore {
		t.Errorf("before replication: replica backup %+v, error %q, replica store %v; want none, none, true", got.ReplicaBackup, got.ReplicaError, got.ReplicaStore)
	}
	if got.Drill != nil || got.PassedDrill != nil || time.Duration(got.DrillEvery) != 72*time.Hour {
		t.Errorf("drill %+v every %s, want none every 72h", got.Drill, time.Duration(got.DrillEvery))
	}
	// Without a Temporal client the schedule and the monitor are unknown,
	// and said so: never taken as present.
	if len(got.Errors) != 1 || !strings.Contains(got.Errors[0], "backup schedule") || got.Monitor.Running || got.Monitor.Error == "" {
		t.Errorf("errors %v, monitor %+v; want the schedule and monitor reported unreadable", got.Errors, got.Monitor)
	}
	if time.Duration(got.BackupEvery) != schemas.DatabaseBackupEvery || got.BackupSchedule != schemas.ScheduleNone {
		t.Errorf("backup every %s (%s), want the default %s", time.Duration(got.BackupEvery), got.BackupSchedule, schemas.DatabaseBackupEvery)
	}

	if _, err := b.ReplicateBackup(ctx, schemas.ReplicateBackupInput{Cluster: "dev", ID: id}); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	putDrillReport(t, primary, schemas.DrillReport{ID: schemas.NewDrillID(start, "restore"), Cluster: "dev", Kind: "restore",
		StartedAt: start, EndedAt: start.Add(time.Minute), Passed: true})
	later := start.Add(24 * time.Hour)
	putDrillReport(t, primary, schemas.DrillReport{ID: schemas.NewDrillID(later, "full"), Cluster: "dev", Kind: "full",
		StartedAt: later, EndedAt: later.Add(2 * time.Minute), Failures: []string{"RTO 1000s over the target of 900s", "second"}})

	got, err = e.LevelEvidence(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if got.ReplicaBackup == nil || got.ReplicaBackup.ID != id {
		t.Errorf("after replication: replica backup %+v, want %s", got.ReplicaBackup, id)
	}
	want := schemas.DrillEvidence{ID: schemas.NewDrillID(later, "full"), Kind: "full", EndedAt: later.Add(2 * time.Minute),
		Failure: "RTO 1000s over the target of 900s"}
	if got.Drill == nil || *got.Drill != want {
		t.Errorf("drill = %+v, want %+v", got.Drill, want)
	}
	wantPassed := schemas.DrillEvidence{ID: schemas.NewDrillID(start, "restore"), Kind: "restore", EndedAt: start.Add(time.Minute), Passed: true}
	if got.PassedDrill == nil || *got.PassedDrill != wantPassed {
		t.Errorf("passed drill = %+v, want %+v", got.PassedDrill, wantPassed)
	}
}

// TestLevelEvidence_CorruptManifestIsReported: a manifest that does not
// parse is no backup, and the evidence says which.
func TestLevelEvidence_CorruptManifestIsReported(t *testing.T) {
	b, primary, _, _ := replicateFixture(t)
	rtPut(t, primary, schemas.ManifestKey("dev", "20260302T010000Z-database"), []byte("{not json"))
	got, err := (&Evidence{Topology: b.Topology, Clients: b.Clients}).LevelEvidence(context.Background(), schemas.LevelEvidenceInput{Cluster: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Backup != nil || len(got.Errors) == 0 || !strings.Contains(got.Errors[0], "20260302T010000Z-database") {
		t.Errorf("backup %+v, errors %v; want no backup and an error naming the corrupt one", got.Backup, got.Errors)
	}
}

func TestLevelEvidence_UnknownClusterFails(t *testing.T) {
	b, _, _, _ := replicateFixture(t)
	_, err := (&Evidence{Topology: b.Topology, Clients: b.Clients}).LevelEvidence(context.Background(), schemas.LevelEvidenceInput{Cluster: "other"})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != schemas.ErrUnknownCluster {
		t.Errorf("err = %v, want %s", err, schemas.ErrUnknownCluster)
	}
}
