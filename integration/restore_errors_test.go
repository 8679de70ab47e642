package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/schemas"
)

// damageBackup replaces a backup's data object with damage(data) and
// restores the original when the test ends.
func damageBackup(t *testing.T, m schemas.Manifest, damage func([]byte) []byte) {
	t.Helper()
	topo, err := schemas.LoadTopology(stack.TopologyPath())
	if err != nil {
		t.Fatal(err)
	}
	damageObject(t, storeOf(t, topo), m.Object, damage)
}

// restoreFails runs a restore of m that must fail with errType before the
// target directory exists, and returns the error's text.
func restoreFails(t *testing.T, m schemas.Manifest, errType string) string {
	t.Helper()
	return restoreRefused(t, schemas.RestoreInput{Cluster: "dev", Backup: m.ID, DataDir: scratchDir(t, strings.ToLower(errType)), Port: 15520}, errType)
}

func TestRestore_FlippedByteIsCaughtBeforeTheTarget(t *testing.T) {
	m := backupNow(t)
	damageBackup(t, m, func(b []byte) []byte { b[len(b)/2] ^= 0x01; return b })
	msg := restoreFails(t, m, schemas.ErrCorrupt)
	for _, want := range []string{m.Object, m.StoredSHA256} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not name %s:\n%s", want, msg)
		}
	}
	if !regexp.MustCompile(`actual [0-9a-f]{64} over`).MatchString(msg) {
		t.Errorf("error does not give the actual checksum of the stored object:\n%s", msg)
	}
}

func TestRestore_TruncatedObjectIsCaughtBeforeTheTarget(t *testing.T) {
	m := backupNow(t)
	damageBackup(t, m, func(b []byte) []byte { return b[:len(b)*2/3] })
	msg := restoreFails(t, m, schemas.ErrCorrupt)
	if !strings.Contains(msg, m.Object) || !strings.Contains(msg, fmt.Sprint(m.StoredSize)) {
		t.Errorf("error does not name the object and its expected size %d:\n%s", m.StoredSize, msg)
	}
}

// TestRestore_WrongIdentityNamesTheRecipients runs the restore activity in
// this process with an identity the backup was not made for.
func TestRestore_WrongIdentityNamesTheRecipients(t *testing.T) {
	m := backupNow(t)
	topo, err := schemas.LoadTopology(stack.TopologyPath())
	if err != nil {
		t.Fatal(err)
	}
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "wrong-identity.txt")
	if err := os.WriteFile(keyFile, []byte(other.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	topo.Backup.Identity = &schemas.Secret{File: keyFile}
	r := &backup.Restore{Topology: topo, Clients: &activities.Clients{Topology: topo, Secrets: stackSecrets()}}
	dir := filepath.Join(t.TempDir(), "target")
	_, err = r.RestoreBase(context.Background(), schemas.RestoreBaseInput{Cluster: "dev", Manifest: m, DataDir: dir})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != schemas.ErrWrongKey || !appErr.NonRetryable() {
		t.Fatalf("err = %v, want a non-retryable WrongKey error", err)
	}
	if !strings.Contains(err.Error(), m.Recipients[0]) {
		t.Errorf("error does not name the recipient %s the backup was made for:\n%v", m.Recipients[0], err)
	}
	if _, statErr := os.Stat(dir); !os.IsNotExist(statErr) {
		t.Errorf("the target was created")
	}
}

// TestRestore_UnreachableStoreIsRetryableAndNamesTheEndpoint points the
// activity at a port nothing listens on.
func TestRestore_UnreachableStoreIsRetryableAndNamesTheEndpoint(t *testing.T) {
	topo, err := schemas.LoadTopology(stack.TopologyPath())
	if err != nil {
		t.Fatal(err)
	}
	topo.Backup.Store.Endpoint = "http://127.0.0.1:1"
	// Without a replica to fall back to (TestReplica_AutoStoreFallsBack...
	// covers the fallback).
	topo.Backup.Replica = nil
	r := &backup.Restore{Topology: topo, Clients: &activities.Clients{Topology: topo, Secrets: stackSecrets()}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = r.FindBackup(ctx, schemas.FindBackupInput{Cluster: "dev", Backup: schemas.LatestBackup, Kind: schemas.BackupDatabase})
	if err == nil {
		t.Fatal("FindBackup succeeded against an unreachable store")
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() {
		t.Errorf("err = %v: an unreachable store may come back, so the error must be retryable", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error does not name the endpoint: %v", err)
	}
}
