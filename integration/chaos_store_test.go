package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/activities/pipeline"
	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/internal/tclient"
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
	r := &backup.Restore{Topology: topo, Clients: &activities.Clients{Topology: topo, Secrets: stackSecrets()}}
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

// backupUploads counts the unfinished multipart uploads under one backup's
// folder of an S3 store.
func backupUploads(t *testing.T, st schemas.Store, id string) int {
	t.Helper()
	st.Prefix = strings.TrimSuffix(st.Prefix, "/") + "/" + schemas.BackupsPrefix("dev") + id + "/"
	s, err := objstore.NewS3(t.Context(), st, stackSecret)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.PendingUploads(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestChaosBackupWorkerDeath SIGKILLs the region worker that runs a
// database backup's upload while a multipart upload of it is in flight (the
// activity's heartbeat names the object; the store shows the upload), and
// starts the worker again the stack's way. Temporal retries the upload when
// its heartbeat times out; the retry starts the stream over under the same
// key and removes what the dead attempt left. Afterwards the backup's
// folder in both stores holds exactly its data object and one manifest, no
// multipart upload is left, and the data decrypts to the manifest's sums.
func TestChaosBackupWorkerDeath(t *testing.T) {
	row := chaosRow{Scenario: "worker death mid-upload", LostWrites: -1}
	recordChaos(t, &row)
	(&haStack{t: t}).lockStack()
	addIncompressibleData(t)
	topo := stackTopology(t)
	c := temporalClient(t)
	opts, err := tclient.Options{Address: devstack.TemporalAddress, Namespace: devstack.Namespace, CodecKeys: stack.CodecKeys()}.ClientOptions()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: fmt.Sprintf("chaos-backup-kill/%d", time.Now().UnixNano()), TaskQueue: schemas.GlobalTaskQueue,
	}, schemas.BackupWorkflow, schemas.BackupInput{Cluster: "dev", Kind: schemas.BackupDatabase})
	if err != nil {
		t.Fatal(err)
	}

	// Watch the upload's heartbeat and the store until a part is in flight.
	var progress schemas.BackupProgress
	var id, identity string
	for {
		if ctx.Err() != nil {
			t.Fatal("the upload did not start within 5 minutes")
		}
		d, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
		if err != nil {
			t.Fatal(err)
		}
		if d.GetWorkflowExecutionInfo().GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Fatalf("the backup ended (%s) before a part of its upload was seen in flight: make the database larger", d.GetWorkflowExecutionInfo().GetStatus())
		}
		for _, a := range d.GetPendingActivities() {
			if a.GetActivityType().GetName() != "BackupDatabase" || a.GetState() != enums.PENDING_ACTIVITY_STATE_STARTED || a.GetHeartbeatDetails() == nil {
				continue
			}
			if err := opts.DataConverter.FromPayloads(a.GetHeartbeatDetails(), &progress); err != nil {
				t.Fatalf("heartbeat details: %v", err)
			}
			id = strings.TrimSuffix(strings.TrimPrefix(progress.Object, schemas.BackupsPrefix("dev")), "/"+path.Base(progress.Object))
			identity = a.GetLastWorkerIdentity()
		}
		if id != "" && backupUploads(t, topo.Backup.Store, id) > 0 {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	region, pid := killStackWorker(t, identity, "the upload runs on")
	killed := time.Now()
	for deadline := time.Now().Add(10 * time.Second); processLive(pid) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("killed worker-%s (pid %d) with a part of %s in flight; its last heartbeat: %+v", region, pid, progress.Object, progress)
	if err := stack.StartWorker(ctx, region); err != nil {
		t.Fatalf("start worker-%s again: %v", region, err)
	}

	var res schemas.BackupResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("the backup did not survive its worker's death: %v", err)
	}
	recovered := time.Since(killed)
	m := res.Manifest
	if m.ID != id {
		t.Fatalf("the backup finished as %s, the upload killed was of %s", m.ID, id)
	}
	attempt := int32(0)
	for _, e := range history(ctx, t, c, run) {
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil {
			attempt = max(attempt, a.GetAttempt())
		}
	}
	if attempt < 2 {
		t.Errorf("the upload finished on attempt %d: it was not retried after the kill", attempt)
	}

	want := []string{schemas.BackupDataKey("dev", id), schemas.ManifestKey("dev", id)}
	slices.Sort(want)
	for _, s := range []objstore.Store{storeOf(t, topo), replicaStoreOf(t, topo)} {
		objs, err := s.List(ctx, schemas.BackupsPrefix("dev")+id+"/")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range objs {
			keys = append(keys, o.Key)
		}
		if !slices.Equal(keys, want) {
			t.Errorf("%s holds %v for the backup, want exactly %v", s, keys, want)
		}
		stored, err := schemas.ParseManifest(getAll(t, s, schemas.ManifestKey("dev", id)))
		if err != nil || stored.StoredSHA256 != m.StoredSHA256 {
			t.Errorf("the manifest in %s does not parse or describe the upload: %v", s, err)
		}
	}
	for _, st := range []schemas.Store{topo.Backup.Store, *topo.Backup.Replica} {
		if n := backupUploads(t, st, id); n != 0 {
			t.Errorf("%d unfinished multipart uploads left in %s under the backup", n, st.Endpoint)
		}
	}
	plain := openSealed(ctx, t, topo, m.Object, pipeline.Sums{PlainSize: m.PlainSize, PlainSHA256: m.PlainSHA256, StoredSize: m.StoredSize, StoredSHA256: m.StoredSHA256})
	if _, err := io.Copy(io.Discard, plain); err != nil {
		t.Errorf("the backup does not read back to its sums: %v", err)
	}
	row.Recovered = recovered
	row.Detail = fmt.Sprintf("worker-%s SIGKILLed with a part in flight (heartbeat at %d MB); attempt %d started over, swept the dead upload; 1 manifest + 1 data object in each store, 0 leftover uploads, sums verified",
		region, progress.BytesDone>>20, attempt)
}

// TestChaosStoreDiskFull streams a database backup, through the backup's
// own upload activity, into a filesystem store on a 4 MiB tmpfs the test
// mounts (the stack's workers serve only the stack's stores, so the
// activity runs in this process with a copy of the topology that names
// the small store). The upload must fail on the full disk with a
// non-retryable StoreFull error that says what to do, release its WAL
// slot, and leave the store empty: no manifest, no
// temporary file; the workflow's clean-up (DeleteBackup) then finds
// nothing to remove.
func TestChaosStoreDiskFull(t *testing.T) {
	row := chaosRow{Scenario: "disk full on the store", LostWrites: -1}
	recordChaos(t, &row)
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a tmpfs: run it as root (the CI and the local stack do)")
	}
	dir := filepath.Join(t.TempDir(), "store")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "lifeboat-chaos", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})

	topo := *stackTopology(t)
	topo.Backup.Store = schemas.Store{Type: schemas.StoreLocal, Path: dir}
	topo.Backup.Replica = nil
	clients := &activities.Clients{Topology: &topo, Secrets: stackSecrets()}
	t.Cleanup(clients.Close)
	b := &backup.Backup{Topology: &topo, Clients: clients, PGBinDir: devstack.PostgresBinDir}
	id := schemas.UniqueBackupID(time.Now().UTC(), schemas.BackupDatabase, fmt.Sprint(time.Now().UnixNano()))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	_, err := b.BackupDatabase(ctx, schemas.BackupDatabaseInput{Cluster: "dev", ID: id, Source: pgA2})
	took := time.Since(start)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != schemas.ErrStoreFull || !appErr.NonRetryable() {
		t.Fatalf("err = %v, want a non-retryable %s error", err, schemas.ErrStoreFull)
	}
	requireSaid(t, err.Error(), dir, "no space left on device", "free space")
	t.Logf("after %s the operator reads: %v", took.Round(time.Millisecond), err)

	leftovers := func() []string {
		var found []string
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				found = append(found, strings.TrimPrefix(p, dir+"/"))
			}
			return nil
		})
		return found
	}
	if left := leftovers(); len(left) > 0 {
		t.Errorf("the failed upload left %v in the store", left)
	}
	if _, err := b.DeleteBackup(ctx, schemas.DeleteBackupInput{Cluster: "dev", ID: id}); err != nil {
		t.Errorf("the clean-up of the failed backup: %v", err)
	}
	// The backup's temporary slot goes with its session, a moment after.
	slot := "lifeboat_" + strings.ToLower(strings.NewReplacer("-", "_").Replace(id))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		n := strings.TrimSpace(psql(t, devstack.PGA2Port, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '"+slot+"'"))
		if n == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the backup's slot %s is still on %s 10 s after the upload failed", slot, pgA2)
			break
		}
	}
	row.Recovered = took
	row.Detail = fmt.Sprintf("4 MiB tmpfs store filled: StoreFull, non-retryable, after %s; no manifest, no temporary file, WAL slot released", took.Round(100*time.Millisecond))
}

// addIncompressibleData gives the cluster a database of 96 MB of random
// bytes for the length of the test, so a backup's upload runs for several
// parts even on a fresh stack whose databases are nearly empty and
// compress to little.
func addIncompressibleData(t *testing.T) {
	t.Helper()
	psql(t, devstack.PGA1Port, `DROP DATABASE IF EXISTS chaos_blob`)
	psql(t, devstack.PGA1Port, `CREATE DATABASE chaos_blob`)
	t.Cleanup(func() { psql(t, devstack.PGA1Port, `DROP DATABASE IF EXISTS chaos_blob WITH (FORCE)`) })
	psqlDB(t, devstack.PGA1Port, "chaos_blob", `CREATE EXTENSION pgcrypto;
		CREATE TABLE blob (id int, data bytea);
		ALTER TABLE blob ALTER COLUMN data SET STORAGE EXTERNAL;
		INSERT INTO blob SELECT g, gen_random_bytes(1024) FROM generate_series(1, 98304) g`)
}
