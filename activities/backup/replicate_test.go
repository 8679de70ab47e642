package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/schemas"
)

// replicateFixture is a Backup activity over two local stores holding one
// backup, id, in the primary.
func replicateFixture(t *testing.T) (b *Backup, primary, replica objstore.Store, id string) {
	t.Helper()
	pdir, rdir := t.TempDir(), t.TempDir()
	topo := &schemas.Topology{Cluster: "dev", Backup: schemas.Backup{
		Store:   schemas.Store{Type: schemas.StoreLocal, Path: pdir},
		Replica: &schemas.Store{Type: schemas.StoreLocal, Path: rdir},
	}}
	primary, replica = objstore.NewLocal(pdir), objstore.NewLocal(rdir)
	id = "20260301T010000Z-database"
	data := bytes.Repeat([]byte("sealed backup bytes "), 5000)
	sum := sha256.Sum256(data)
	m := rtManifest(id, int64(len(data)))
	m.StoredSHA256 = hex.EncodeToString(sum[:])
	rtPut(t, primary, m.Object, data)
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	rtPut(t, primary, schemas.ManifestKey("dev", id), body)
	return &Backup{Topology: topo, Clients: &activities.Clients{Topology: topo}}, primary, replica, id
}

func objectBytes(t *testing.T, s objstore.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s from %s: %v", key, s, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReplicateBackup_CopiesEveryObjectAndTheReplicaMatches(t *testing.T) {
	b, primary, replica, id := replicateFixture(t)
	res, err := b.ReplicateBackup(context.Background(), schemas.ReplicateBackupInput{Cluster: "dev", ID: id})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{schemas.BackupDataKey("dev", id), schemas.ManifestKey("dev", id)}
	if !slices.Equal(res.Copied, want) {
		t.Errorf("copied %v, want %v (data first, manifest last)", res.Copied, want)
	}
	for _, key := range want {
		if !bytes.Equal(objectBytes(t, replica, key), objectBytes(t, primary, key)) {
			t.Errorf("%s differs between the stores", key)
		}
	}
}

func TestReplicateBackup_AgainCopiesNothing(t *testing.T) {
	b, _, _, id := replicateFixture(t)
	in := schemas.ReplicateBackupInput{Cluster: "dev", ID: id}
	if _, err := b.ReplicateBackup(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	res, err := b.ReplicateBackup(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Copied) != 0 || len(res.Verified) != 2 {
		t.Errorf("second run copied %v, verified %v; want nothing copied, both verified", res.Copied, res.Verified)
	}
}

func TestReplicateBackup_RecopiesADamagedReplicaCopy(t *testing.T) {
	b, primary, replica, id := replicateFixture(t)
	in := schemas.ReplicateBackupInput{Cluster: "dev", ID: id}
	if _, err := b.ReplicateBackup(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	key := schemas.BackupDataKey("dev", id)
	damaged := objectBytes(t, replica, key)
	damaged[len(damaged)/2] ^= 0x01
	rtPut(t, replica, key, damaged)

	res, err := b.ReplicateBackup(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Copied, []string{key}) {
		t.Errorf("copied %v, want the damaged %s copied again", res.Copied, key)
	}
	if !bytes.Equal(objectBytes(t, replica, key), objectBytes(t, primary, key)) {
		t.Error("the replica's copy is still damaged")
	}
}

func TestReplicateBackup_ADamagedPrimaryIsCorruptAndNotReplicated(t *testing.T) {
	b, primary, replica, id := replicateFixture(t)
	key := schemas.BackupDataKey("dev", id)
	data := objectBytes(t, primary, key)
	data[10] ^= 0x01
	rtPut(t, primary, key, data)

	_, err := b.ReplicateBackup(context.Background(), schemas.ReplicateBackupInput{Cluster: "dev", ID: id})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != schemas.ErrCorrupt || !appErr.NonRetryable() {
		t.Fatalf("err = %v, want a non-retryable Corrupt error", err)
	}
	if !strings.Contains(err.Error(), key) {
		t.Errorf("error does not name %s: %v", key, err)
	}
	for _, k := range []string{key, schemas.ManifestKey("dev", id)} {
		if _, err := replica.Stat(context.Background(), k); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("%s is in the replica (stat err %v): a damaged backup was replicated", k, err)
		}
	}
}

func TestReplicateBackup_MissingBackupAndMissingReplicaAreNonRetryable(t *testing.T) {
	b, _, _, _ := replicateFixture(t)
	for _, tc := range []struct {
		name     string
		mutate   func(*Backup)
		wantType string
	}{
		{"no such backup", func(*Backup) {}, schemas.ErrNoSuchBackup},
		{"no replica store", func(b *Backup) {
			topo := *b.Topology
			topo.Backup.Replica = nil
			b.Topology, b.Clients = &topo, &activities.Clients{Topology: &topo}
		}, schemas.ErrInvalidInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bb := *b
			tc.mutate(&bb)
			id := "20260101T000000Z-database"
			if tc.wantType == schemas.ErrInvalidInput {
				id = "20260301T010000Z-database"
			}
			_, err := bb.ReplicateBackup(context.Background(), schemas.ReplicateBackupInput{Cluster: "dev", ID: id})
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != tc.wantType || !appErr.NonRetryable() {
				t.Fatalf("err = %v, want non-retryable %s", err, tc.wantType)
			}
		})
	}
}
