package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/schemas"
)

// damageObject replaces the object key of store with damage(content), or
// removes it when damage returns nil, and puts the original back when the
// test ends.
func damageObject(t *testing.T, store objstore.Store, key string, damage func([]byte) []byte) {
	t.Helper()
	orig := getAll(t, store, key)
	ctx := context.Background()
	bad := damage(bytes.Clone(orig))
	var err error
	if bad == nil {
		err = store.Delete(ctx, key)
	} else {
		err = store.Put(ctx, key, bytes.NewReader(bad), int64(len(bad)))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := store.Put(context.Background(), key, bytes.NewReader(orig), int64(len(orig))); err != nil {
			t.Errorf("put %s back: %v", key, err)
		}
	})
}

// restoreRefused runs a restore that must fail with errType before its
// target directory exists, and returns the error's text.
func restoreRefused(t *testing.T, in schemas.RestoreInput, errType string) string {
	t.Helper()
	_, err := runWorkflow[schemas.RestoreInput, schemas.RestoreResult](t, schemas.RestoreWorkflow,
		fmt.Sprintf("test-restore-%s/%d", errType, time.Now().UnixNano()), in)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != errType || !appErr.NonRetryable() {
		t.Fatalf("err = %v, want a non-retryable %s application error", err, errType)
	}
	if _, statErr := os.Stat(in.DataDir); !os.IsNotExist(statErr) {
		t.Errorf("the target %s was created although the store is damaged", in.DataDir)
	}
	if _, statErr := os.Stat(in.DataDir + ".lifeboat-partial"); !os.IsNotExist(statErr) {
		t.Errorf("the staging directory was left behind")
	}
	t.Logf("the operator reads: %v", err)
	return err.Error()
}

// TestChaosCorruptStore damages the store under one backup in each way a
// store goes bad: a flipped byte and a truncated data object, a manifest
// that does not parse, and a WAL segment deleted in the middle of the range
// a point-in-time restore replays (from both stores, as wal-fetch reads
// either). Each restore must fail with a Corrupt error that names what is
// damaged before anything is written to its target.
func TestChaosCorruptStore(t *testing.T) {
	row := chaosRow{Scenario: "corrupted store", LostWrites: -1}
	recordChaos(t, &row)
	topo := stackTopology(t)
	store, replica := storeOf(t, topo), replicaStoreOf(t, topo)
	m := backupNow(t)
	restoreOf := func(name string) schemas.RestoreInput {
		return schemas.RestoreInput{Cluster: "dev", Backup: m.ID, DataDir: scratchDir(t, "chaos-"+name), Port: 15521}
	}

	var checked []string
	check := func(name string, f func(t *testing.T)) {
		if t.Run(name, f) {
			checked = append(checked, name)
		}
	}
	check("flipped byte", func(t *testing.T) {
		damageObject(t, store, m.Object, func(b []byte) []byte { b[len(b)/3] ^= 0x40; return b })
		msg := restoreRefused(t, restoreOf("flipped"), schemas.ErrCorrupt)
		requireSaid(t, msg, m.Object, m.StoredSHA256)
	})
	check("truncated object", func(t *testing.T) {
		damageObject(t, store, m.Object, func(b []byte) []byte { return b[:len(b)-len(b)/5] })
		msg := restoreRefused(t, restoreOf("truncated"), schemas.ErrCorrupt)
		requireSaid(t, msg, m.Object, fmt.Sprint(m.StoredSize))
	})
	check("manifest that does not parse", func(t *testing.T) {
		key := schemas.ManifestKey("dev", m.ID)
		damageObject(t, store, key, func(b []byte) []byte { return b[:len(b)/2] })
		msg := restoreRefused(t, restoreOf("manifest"), schemas.ErrCorrupt)
		requireSaid(t, msg, key, "does not parse")
	})
	check("WAL segment deleted mid-PITR range", func(t *testing.T) {
		in, gone := walGap(t, store, replica, m)
		msg := restoreRefused(t, in, schemas.ErrCorrupt)
		requireSaid(t, msg, gone, "missing")
	})
	row.Detail = fmt.Sprintf("%d of 4 cases detected before the target was written (%s): Corrupt, naming the damage", len(checked), strings.Join(checked, ", "))
}

// walGap writes rows over a few WAL segments after backup m, picks a time
// after them, deletes the middle segment from both stores and returns a
// restore of m to that time and the deleted segment. Before the deletion
// the archive must pass the same check, on its real history of timelines.
func walGap(t *testing.T, store, replica objstore.Store, m schemas.Manifest) (schemas.RestoreInput, string) {
	table := fmt.Sprintf("chaos_wal_%d", time.Now().UnixNano())
	primary := primaryPort(t)
	psql(t, primary, "CREATE TABLE "+table+"(n int, at timestamptz DEFAULT clock_timestamp());")
	t.Cleanup(func() { psql(t, primaryPort(t), "DROP TABLE IF EXISTS "+table+";") })
	var segs []string
	for i := range 3 {
		seg := strings.TrimSpace(psql(t, primary, fmt.Sprintf(
			"INSERT INTO %s(n) VALUES (%d); SELECT pg_walfile_name(pg_current_wal_lsn()); SELECT pg_switch_wal();", table, i)))
		seg = strings.Fields(seg)[0]
		waitInArchive(t, store, seg)
		segs = append(segs, seg)
	}
	time.Sleep(1500 * time.Millisecond)
	until := time.Now().UTC()
	time.Sleep(1500 * time.Millisecond)
	waitInArchive(t, store, strings.Fields(psql(t, primary, fmt.Sprintf(
		"INSERT INTO %s(n) VALUES (99); SELECT pg_walfile_name(pg_current_wal_lsn()); SELECT pg_switch_wal();", table)))[0])

	// The archive as it is, with every failover's timeline, is whole.
	topo := stackTopology(t)
	r := &activities.Restore{Topology: topo, Clients: &activities.Clients{Topology: topo, Secrets: stackSecrets()}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := r.FindBackup(ctx, schemas.FindBackupInput{Cluster: "dev", Backup: m.ID, Kind: schemas.BackupDatabase, Before: &until}); err != nil {
		t.Fatalf("the archive is reported damaged before it was: %v", err)
	}

	gone := segs[1]
	for _, s := range []objstore.Store{store, replica} {
		for _, key := range []string{schemas.WALKey("dev", gone), schemas.WALRecordKey("dev", gone)} {
			damageObject(t, s, key, func([]byte) []byte { return nil })
		}
	}
	in := schemas.RestoreInput{Cluster: "dev", Backup: m.ID, Until: until.Format(time.RFC3339Nano), DataDir: scratchDir(t, "chaos-walgap"), Port: 15522}
	return in, gone
}

// primaryPort is the port of the node that is primary now: the HA
// scenarios move the role while other tests run.
func primaryPort(t *testing.T) int {
	t.Helper()
	for _, port := range []int{devstack.PGA1Port, devstack.PGA2Port, devstack.PGB1Port} {
		cmd := exec.Command("psql", "-X", "-At", fmt.Sprintf("postgres://lifeboat@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", port),
			"-c", "SELECT pg_is_in_recovery()")
		cmd.Env = append(os.Environ(), "PGPASSWORD="+envValue(stack.Env(), "LIFEBOAT_PG_PASSWORD"))
		if out, err := cmd.Output(); err == nil && strings.TrimSpace(string(out)) == "f" {
			return port
		}
	}
	t.Fatal("no PostgreSQL node of the stack is primary")
	return 0
}

// waitInArchive waits until store holds the WAL file seg.
func waitInArchive(t *testing.T, store objstore.Store, seg string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := store.Stat(context.Background(), schemas.WALRecordKey("dev", seg))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("WAL segment %s not archived within a minute: %v", seg, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// requireSaid fails t unless msg contains each of parts.
func requireSaid(t *testing.T, msg string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("the error does not say %q:\n%s", p, msg)
		}
	}
}
