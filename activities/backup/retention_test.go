package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/schemas"
)

// retentionFixture is a Retention activity over a local store in a
// temporary directory.
func retentionFixture(t *testing.T) (*Retention, objstore.Store, string) {
	t.Helper()
	dir := t.TempDir()
	topo := &schemas.Topology{Cluster: "dev", Backup: schemas.Backup{Store: schemas.Store{Type: schemas.StoreLocal, Path: dir}}}
	return &Retention{Topology: topo, Clients: &activities.Clients{Topology: topo}}, objstore.NewLocal(dir), dir
}

func rtPut(t *testing.T, s objstore.Store, key string, body []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
}

func rtManifest(id string, storedSize int64) schemas.Manifest {
	start := time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC)
	return schemas.Manifest{
		FormatVersion: schemas.ManifestFormatVersion, ID: id, Cluster: "dev", Kind: schemas.BackupDatabase,
		Source: "pg-a2", Object: schemas.BackupDataKey("dev", id), StartTime: start, EndTime: start.Add(time.Minute),
		StartLSN: "0/6000028", StopLSN: "0/6000100", Timeline: 1, PostgresVersion: "15.18",
		PlainSize: 100, StoredSize: storedSize,
		PlainSHA256: strings.Repeat("a", 64), StoredSHA256: strings.Repeat("b", 64),
		Recipients:  []string{"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"},
		Compression: "zstd", CompressionLevel: 3,
	}
}

// rtPutBackup stores a backup: its data of dataSize bytes and a manifest
// claiming claimed bytes (no manifest when claimed < 0).
func rtPutBackup(t *testing.T, s objstore.Store, id string, dataSize, claimed int64) {
	t.Helper()
	if dataSize >= 0 {
		rtPut(t, s, schemas.BackupDataKey("dev", id), bytes.Repeat([]byte{1}, int(dataSize)))
	}
	if claimed >= 0 {
		body, err := json.Marshal(rtManifest(id, claimed))
		if err != nil {
			t.Fatal(err)
		}
		rtPut(t, s, schemas.ManifestKey("dev", id), body)
	}
}

func TestListBackups_SortsValidInvalidOrphansAndWAL(t *testing.T) {
	r, store, dir := retentionFixture(t)
	rtPutBackup(t, store, "20260301T010000Z-database", 10, 10)
	rtPutBackup(t, store, "20260302T010000Z-database", 10, 11) // size mismatch
	rtPutBackup(t, store, "20260303T010000Z-database", -1, 10) // data missing
	rtPut(t, store, schemas.ManifestKey("dev", "20260304T010000Z-database"), []byte(`{"id": "nope"}`))
	rtPutBackup(t, store, "20260305T010000Z-database", 7, -1) // orphan
	rtPutBackup(t, store, "20260306T010000Z-database", 10, 10)
	rtPut(t, store, "dev/backups/stray", []byte("x"))
	rtPut(t, store, schemas.WALKey("dev", "000000010000000000000002"), []byte("w"))
	rtPut(t, store, schemas.WALRecordKey("dev", "000000010000000000000002"), []byte("{}"))
	rtPut(t, store, schemas.WALKey("dev", "000000010000000000000002.partial"), []byte("w"))
	rtPut(t, store, schemas.WALRecordKey("dev", "00000002.history"), []byte("{}"))
	rtPut(t, store, schemas.WALKey("dev", "00000002.history"), []byte("h"))
	rtPut(t, store, "dev/wal/notes.txt", []byte("?"))
	rtPut(t, store, schemas.ManifestKey("other", "20260301T010000Z-database"), []byte("{}"))
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "dev/backups/20260305T010000Z-database/data.tar.zst.age"), old, old); err != nil {
		t.Fatal(err)
	}

	got, err := r.ListBackups(context.Background(), schemas.ListBackupsInput{Cluster: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	var valid []string
	for _, b := range got.Backups {
		valid = append(valid, b.Manifest.ID)
		if want := []string{schemas.BackupDataKey("dev", b.Manifest.ID), schemas.ManifestKey("dev", b.Manifest.ID)}; !slices.Equal(b.Keys, want) {
			t.Errorf("keys of %s = %v, want %v", b.Manifest.ID, b.Keys, want)
		}
	}
	if want := []string{"20260301T010000Z-database", "20260306T010000Z-database"}; !slices.Equal(valid, want) {
		t.Errorf("valid backups %v, want %v", valid, want)
	}
	wantInvalid := map[string]string{
		"20260302T010000Z-database": "holds 10 bytes, the manifest says 11",
		"20260303T010000Z-database": "is missing",
		"20260304T010000Z-database": "does not parse",
	}
	if len(got.Invalid) != len(wantInvalid) {
		t.Errorf("invalid = %+v, want %d", got.Invalid, len(wantInvalid))
	}
	for _, inv := range got.Invalid {
		if want := wantInvalid[inv.ID]; want == "" || !strings.Contains(inv.Problem, want) {
			t.Errorf("invalid %s: %q, want a problem containing %q", inv.ID, inv.Problem, want)
		}
	}
	if len(got.Orphans) != 1 || got.Orphans[0].ID != "20260305T010000Z-database" || got.Orphans[0].Bytes != 7 ||
		!got.Orphans[0].LastModified.Equal(old) || len(got.Orphans[0].Keys) != 1 {
		t.Errorf("orphans = %+v, want 20260305T010000Z-database, 7 bytes, last modified %s", got.Orphans, old)
	}
	if want := []string{"000000010000000000000002", "000000010000000000000002.partial", "00000002.history"}; !slices.Equal(got.WAL, want) {
		t.Errorf("wal = %v, want %v", got.WAL, want)
	}
	if want := []string{"dev/backups/stray", "dev/wal/notes.txt"}; !slices.Equal(got.Unrecognized, want) {
		t.Errorf("unrecognized = %v, want %v", got.Unrecognized, want)
	}
}

func TestListBackups_RefusesAnotherCluster(t *testing.T) {
	r, _, _ := retentionFixture(t)
	_, err := r.ListBackups(context.Background(), schemas.ListBackupsInput{Cluster: "prod"})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != schemas.ErrUnknownCluster {
		t.Fatalf("err = %v, want UnknownCluster", err)
	}
}

// rtRecordingStore records deletions and fails the one numbered failAt (from 1).
type rtRecordingStore struct {
	objstore.Store
	deleted []string
	failAt  int
}

func (s *rtRecordingStore) Delete(ctx context.Context, key string) error {
	if len(s.deleted)+1 == s.failAt {
		s.failAt = 0
		return errors.New("connection reset")
	}
	s.deleted = append(s.deleted, key)
	return s.Store.Delete(ctx, key)
}

func TestDeleteObjects_DeletesManifestsFirstAndRepeatsHarmlessly(t *testing.T) {
	r, store, _ := retentionFixture(t)
	rtPutBackup(t, store, "a", 3, 3)
	rtPutBackup(t, store, "b", 3, 3)
	rtPut(t, store, schemas.WALKey("dev", "000000010000000000000002"), []byte("w"))
	rtPut(t, store, schemas.WALRecordKey("dev", "000000010000000000000002"), []byte("{}"))
	rec := &rtRecordingStore{Store: store, failAt: 3}
	r.Clients.StoreOverride = rec
	keys := []string{
		schemas.BackupDataKey("dev", "a"), schemas.ManifestKey("dev", "a"),
		schemas.WALKey("dev", "000000010000000000000002"), schemas.WALRecordKey("dev", "000000010000000000000002"),
		schemas.BackupDataKey("dev", "b"), schemas.ManifestKey("dev", "b"),
	}
	in := schemas.DeleteObjectsInput{Cluster: "dev", Keys: keys}

	if _, err := r.DeleteObjects(context.Background(), in); err == nil {
		t.Fatal("a failing store did not fail the deletion")
	}
	// Both manifests went before the failure: no backup is left looking whole.
	if want := []string{schemas.ManifestKey("dev", "a"), schemas.ManifestKey("dev", "b")}; !slices.Equal(rec.deleted, want) {
		t.Errorf("deleted before the failure %v, want %v", rec.deleted, want)
	}

	rec.deleted = nil
	res, err := r.DeleteObjects(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		schemas.ManifestKey("dev", "a"), schemas.ManifestKey("dev", "b"),
		schemas.WALRecordKey("dev", "000000010000000000000002"),
		schemas.BackupDataKey("dev", "a"), schemas.WALKey("dev", "000000010000000000000002"), schemas.BackupDataKey("dev", "b"),
	}
	if !slices.Equal(rec.deleted, want) || res.Deleted != len(keys) {
		t.Errorf("deleted %v (%d)\nwant    %v", rec.deleted, res.Deleted, want)
	}
	left, err := store.List(context.Background(), "dev/")
	if err != nil || len(left) != 0 {
		t.Errorf("left in the store: %v, %v", left, err)
	}
	if _, err := r.DeleteObjects(context.Background(), in); err != nil {
		t.Errorf("deleting again: %v, want success", err)
	}
}

func TestDeleteObjects_RefusesKeysOutsideTheClustersBackupsAndWAL(t *testing.T) {
	r, _, _ := retentionFixture(t)
	for _, key := range []string{"other/backups/a/manifest.json", "dev/config.yaml", "dev/backups/", "dev/wal/"} {
		_, err := r.DeleteObjects(context.Background(), schemas.DeleteObjectsInput{Cluster: "dev", Keys: []string{schemas.ManifestKey("dev", "a"), key}})
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || appErr.Type() != schemas.ErrInvalidInput || !strings.Contains(err.Error(), "keys[1]") {
			t.Errorf("%q: err = %v, want InvalidInput naming keys[1]", key, err)
		}
	}
}
