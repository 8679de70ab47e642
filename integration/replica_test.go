package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/schemas"
)

// stackTopology loads the topology the stack's workers run with.
func stackTopology(t *testing.T) *schemas.Topology {
	t.Helper()
	topo, err := schemas.LoadTopology(stack.TopologyPath())
	if err != nil {
		t.Fatal(err)
	}
	if topo.Backup.Replica == nil {
		t.Fatal("the stack's topology names no replica store: restart the stack (lifeboat-dev down && up)")
	}
	return topo
}

// replicaStoreOf opens the stack's replica store (versitygw-b).
func replicaStoreOf(t *testing.T, topo *schemas.Topology) objstore.Store {
	t.Helper()
	store, err := objstore.Open(context.Background(), *topo.Backup.Replica, stackSecrets().Value)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func getAll(t *testing.T, s objstore.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s from %s: %v", key, s, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s from %s: %v", key, s, err)
	}
	return b
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestReplica_BackupIsCopiedAndVerifiedInTheSecondStore runs the Backup
// workflow and checks the replica store on its own: the manifest parses and
// equals the primary's, and the data's checksum is the manifest's.
func TestReplica_BackupIsCopiedAndVerifiedInTheSecondStore(t *testing.T) {
	topo := stackTopology(t)
	m := backupNow(t)
	replica := replicaStoreOf(t, topo)

	body := getAll(t, replica, schemas.ManifestKey("dev", m.ID))
	got, err := schemas.ParseManifest(body)
	if err != nil {
		t.Fatalf("the replica's manifest does not parse: %v\n%s", err, body)
	}
	if !bytes.Equal(body, getAll(t, storeOf(t, topo), schemas.ManifestKey("dev", m.ID))) {
		t.Error("the replica's manifest differs from the primary's")
	}
	data := getAll(t, replica, got.Object)
	if sum := sha256Hex(data); sum != got.StoredSHA256 || int64(len(data)) != got.StoredSize {
		t.Fatalf("the replica's %s: %d bytes with sha256 %s; the manifest says %d bytes with %s",
			got.Object, len(data), sum, got.StoredSize, got.StoredSHA256)
	}
	t.Logf("backup %s replicated: %d bytes", m.ID, len(data))
}

// TestReplica_WALSegmentArchivedByPostgresIsInBothStores waits for
// PostgreSQL's archiver to push a segment and finds it in both stores.
func TestReplica_WALSegmentArchivedByPostgresIsInBothStores(t *testing.T) {
	topo := stackTopology(t)
	seg := strings.TrimSpace(psql(t, devstack.PGA1Port,
		"CREATE TABLE IF NOT EXISTS lifeboat_wal_test(t timestamptz); INSERT INTO lifeboat_wal_test VALUES (now());"+
			"SELECT pg_walfile_name(pg_current_wal_lsn());"))
	psql(t, devstack.PGA1Port, "SELECT pg_switch_wal();")
	deadline := time.Now().Add(60 * time.Second)
	for {
		out := strings.TrimSpace(psql(t, devstack.PGA1Port, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver"))
		if out >= seg {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment %s not archived within 60 s (last archived %q)", seg, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	primary, replica := storeOf(t, topo), replicaStoreOf(t, topo)
	for _, key := range []string{schemas.WALKey("dev", seg), schemas.WALRecordKey("dev", seg)} {
		for _, s := range []objstore.Store{primary, replica} {
			if _, err := s.Stat(context.Background(), key); err != nil {
				t.Errorf("%s not in %s: %v", key, s, err)
			}
		}
	}
	if !bytes.Equal(getAll(t, primary, schemas.WALKey("dev", seg)), getAll(t, replica, schemas.WALKey("dev", seg))) {
		t.Error("the segment's object differs between the stores; a push seals once and stores the same bytes in both")
	}
}

// TestReplica_RestoreFromTheSecondStoreAfterLosingThePrimaryCopy removes a
// backup from the primary store and restores it with store "replica".
func TestReplica_RestoreFromTheSecondStoreAfterLosingThePrimaryCopy(t *testing.T) {
	topo := stackTopology(t)
	table := fmt.Sprintf("replica_restore_%d", time.Now().UnixNano())
	psql(t, devstack.PGA1Port, "CREATE TABLE "+table+"(n int); INSERT INTO "+table+" SELECT generate_series(1, 1000);")
	m := backupNow(t)
	t.Cleanup(func() { psql(t, devstack.PGA1Port, "DROP TABLE IF EXISTS "+table+";") })

	// The disaster: the primary store loses the backup (only this test's).
	primary := storeOf(t, topo)
	for _, key := range []string{schemas.ManifestKey("dev", m.ID), m.Object} {
		if err := primary.Delete(context.Background(), key); err != nil {
			t.Fatal(err)
		}
	}

	port := 15540
	res, err := runWorkflow[schemas.RestoreInput, schemas.RestoreResult](t, schemas.RestoreWorkflow,
		fmt.Sprintf("test-restore-replica/%d", time.Now().UnixNano()),
		schemas.RestoreInput{Cluster: "dev", Backup: m.ID, DataDir: scratchDir(t, "replica"), Port: port, Store: schemas.StoreReplica})
	if err != nil {
		t.Fatalf("Restore from the replica: %v", err)
	}
	if res.Store != schemas.StoreReplica || res.BackupID != m.ID {
		t.Errorf("restored %s from %q, want %s from the replica", res.BackupID, res.Store, m.ID)
	}
	if got := strings.TrimSpace(psql(t, port, "SELECT count(*) FROM "+table)); got != "1000" {
		t.Errorf("restored table holds %s rows, want 1000", got)
	}
	t.Logf("restored %s from the replica in %.1fs", m.ID, res.Seconds)
}

// TestReplica_AutoStoreFallsBackWhenThePrimaryIsUnreachable runs FindBackup
// and RestoreBase in-process with the primary store pointed at a port
// nothing listens on: both read the replica and say so.
func TestReplica_AutoStoreFallsBackWhenThePrimaryIsUnreachable(t *testing.T) {
	topo := stackTopology(t)
	m := backupNow(t)
	topo.Backup.Store.Endpoint = "http://127.0.0.1:1"
	r := &backup.Restore{Topology: topo, Clients: &activities.Clients{Topology: topo, Secrets: stackSecrets()}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	found, err := r.FindBackup(ctx, schemas.FindBackupInput{Cluster: "dev", Backup: m.ID, Kind: schemas.BackupDatabase})
	if err != nil {
		t.Fatalf("FindBackup with the primary unreachable: %v", err)
	}
	if found.Store != schemas.StoreReplica || found.Manifest.StoredSHA256 != m.StoredSHA256 {
		t.Fatalf("found %s in %q, want %s in the replica", found.Manifest.ID, found.Store, m.ID)
	}
	dir := filepath.Join(t.TempDir(), "target")
	res, err := r.RestoreBase(ctx, schemas.RestoreBaseInput{Cluster: "dev", Manifest: found.Manifest, DataDir: dir})
	if err != nil {
		t.Fatalf("RestoreBase with the primary unreachable: %v", err)
	}
	if res.Store != schemas.StoreReplica || res.Files == 0 {
		t.Errorf("RestoreBase = %+v, want files unpacked from the replica", res)
	}

	// Asked for the primary only, the same read fails and names it.
	_, err = r.FindBackup(ctx, schemas.FindBackupInput{Cluster: "dev", Backup: m.ID, Kind: schemas.BackupDatabase, Store: schemas.StorePrimary})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("FindBackup from the unreachable primary only: err = %v, want one naming 127.0.0.1:1", err)
	}
}

// TestReplica_ReplicateBackupRecopiesADamagedCopy flips a byte of the
// replica's copy of a backup and runs ReplicateBackup again in-process: the
// verify finds the damage and the object is copied again (the decision: the
// primary's copy is proven against the manifest, so repairing is safe and
// better than leaving the replica broken), and the replica is whole after.
func TestReplica_ReplicateBackupRecopiesADamagedCopy(t *testing.T) {
	topo := stackTopology(t)
	m := backupNow(t)
	replica := replicaStoreOf(t, topo)
	data := getAll(t, replica, m.Object)
	data[len(data)/2] ^= 0x01
	if err := replica.Put(context.Background(), m.Object, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}

	b := &backup.Backup{Topology: topo, Clients: &activities.Clients{Topology: topo, Secrets: stackSecrets()}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := b.ReplicateBackup(ctx, schemas.ReplicateBackupInput{Cluster: "dev", ID: m.ID})
	if err != nil {
		t.Fatalf("ReplicateBackup: %v", err)
	}
	if !slices.Equal(res.Copied, []string{m.Object}) || !slices.Contains(res.Verified, schemas.ManifestKey("dev", m.ID)) {
		t.Errorf("copied %v, verified %v; want only the damaged %s copied again", res.Copied, res.Verified, m.Object)
	}
	if sum := sha256Hex(getAll(t, replica, m.Object)); sum != m.StoredSHA256 {
		t.Errorf("the replica's copy has sha256 %s after the repair, want %s", sum, m.StoredSHA256)
	}
}
