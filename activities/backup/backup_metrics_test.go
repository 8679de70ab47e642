package backup

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/internal/promtest"
	"github.com/runnerhub/lifeboat/schemas"
)

func putManifest(t *testing.T, s objstore.Store, m schemas.Manifest) {
	t.Helper()
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	rtPut(t, s, schemas.ManifestKey("dev", m.ID), body)
}

func TestBackupCollector_NewestOfEachKindFromTheStore(t *testing.T) {
	dir := t.TempDir()
	topo := &schemas.Topology{Cluster: "dev", Backup: schemas.Backup{Store: schemas.Store{Type: schemas.StoreLocal, Path: dir}}}
	store := objstore.NewLocal(dir)
	older := rtManifest("20260301T010000Z-database", 500)
	newer := rtManifest("20260302T010000Z-database", 700)
	newer.StartTime = older.StartTime.Add(24 * time.Hour)
	newer.EndTime = newer.StartTime.Add(10 * time.Second)
	newer.PlainSize = 1000
	files := rtManifest("20260301T020000Z-files", 300)
	files.Kind = schemas.BackupFiles
	files.StartLSN, files.StopLSN, files.Timeline, files.PostgresVersion = "", "", 0, ""
	files.Parts = []schemas.BackupPart{
		{Key: files.Object, Region: "region-a", PlainSize: files.PlainSize, StoredSize: files.StoredSize,
			PlainSHA256: files.PlainSHA256, StoredSHA256: files.StoredSHA256},
		{Key: files.Object + ".b", Region: "region-b", PlainSize: 20, StoredSize: 30,
			PlainSHA256: strings.Repeat("c", 64), StoredSHA256: strings.Repeat("d", 64)},
	}
	for _, m := range []schemas.Manifest{older, newer, files} {
		putManifest(t, store, m)
	}
	c := BackupCollector(&Backup{Topology: topo, Clients: &activities.Clients{Topology: topo}})

	got := promtest.Gather(t, c)
	want := map[string]float64{
		"lifeboat_backup_store_readable{cluster=dev}":                               1,
		"lifeboat_backup_last_success_timestamp_seconds{cluster=dev,kind=database}": float64(newer.EndTime.Unix()),
		"lifeboat_backup_last_success_size_bytes{cluster=dev,kind=database}":        700,
		"lifeboat_backup_throughput_bytes_per_second{cluster=dev,kind=database}":    100, // 1000 bytes in 10 s
		"lifeboat_backup_last_success_timestamp_seconds{cluster=dev,kind=files}":    float64(files.EndTime.Unix()),
		"lifeboat_backup_last_success_size_bytes{cluster=dev,kind=files}":           330, // both regions\' parts
		"lifeboat_backup_throughput_bytes_per_second{cluster=dev,kind=files}":       float64(files.PlainSize+20) / 60,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("metrics:\n got %v\nwant %v", got, want)
	}
}

func TestBackupCollector_UnreadableStoreSaysSo(t *testing.T) {
	dir := t.TempDir()
	topo := &schemas.Topology{Cluster: "dev", Backup: schemas.Backup{Store: schemas.Store{Type: schemas.StoreLocal, Path: dir}}}
	putManifest(t, objstore.NewLocal(dir), rtManifest("20260301T010000Z-database", 500))
	c := BackupCollector(&Backup{Topology: topo, Clients: &activities.Clients{Topology: topo}})
	if got := promtest.Gather(t, c)["lifeboat_backup_store_readable{cluster=dev}"]; got != 1 {
		t.Fatalf("readable = %v on a good store", got)
	}
	// A manifest that does not parse makes the read fail: the last values
	// stay, flagged as stale.
	rtPut(t, objstore.NewLocal(dir), schemas.ManifestKey("dev", "20260309T000000Z-database"), []byte("{not json"))
	c.(*backupMetrics).read = time.Time{}
	got := promtest.Gather(t, c)
	if got["lifeboat_backup_store_readable{cluster=dev}"] != 0 {
		t.Errorf("readable = %v after a failed read, want 0", got["lifeboat_backup_store_readable{cluster=dev}"])
	}
	if got["lifeboat_backup_last_success_size_bytes{cluster=dev,kind=database}"] != 500 {
		t.Errorf("the last good values are gone: %v", got)
	}
}
