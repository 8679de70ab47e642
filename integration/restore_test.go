package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/internal/pgos"
	"github.com/runnerhub/lifeboat/schemas"
)

// runWorkflow starts a workflow on the stack and waits for its result.
func runWorkflow[In, Out any](t *testing.T, workflow, id string, in In) (Out, error) {
	t.Helper()
	var out Out
	c := temporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: schemas.GlobalTaskQueue}, workflow, in)
	if err != nil {
		t.Fatal(err)
	}
	err = run.Get(ctx, &out)
	return out, err
}

// scratchDir is a new restore target under the stack's restore directory;
// the server a restore starts there is stopped and the directory removed
// when the test ends.
func scratchDir(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(stack.RestoreDir(), fmt.Sprintf("%s-%d", name, time.Now().UnixNano()))
	t.Cleanup(func() {
		stopServer(t, dir)
		_ = os.RemoveAll(dir)
		_ = os.RemoveAll(dir + ".lifeboat-partial")
	})
	return dir
}

// stopServer stops a restored server, if one runs from dir.
func stopServer(t *testing.T, dir string) {
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); err != nil {
		return
	}
	u, err := pgos.PostgresUser()
	if err != nil {
		t.Error(err)
		return
	}
	cmd := exec.Command(filepath.Join(devstack.PostgresBinDir, "pg_ctl"), "stop", "-D", dir, "-m", "fast", "-w")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.Cred}
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("stop restored server: %v: %s", err, out)
	}
}

// pgDump dumps one database of the server on port as plain SQL.
func pgDump(t *testing.T, port int, db string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(devstack.PostgresBinDir, "pg_dump"), "--no-comments",
		fmt.Sprintf("postgres://lifeboat@127.0.0.1:%d/%s?sslmode=disable", port, db))
	cmd.Env = append(os.Environ(), "PGPASSWORD="+envValue(stack.Env(), "LIFEBOAT_PG_PASSWORD"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pg_dump %s on %d: %v: %s", db, port, err, stderr.String())
	}
	return string(out)
}

func backupNow(t *testing.T) schemas.Manifest {
	t.Helper()
	res, err := runWorkflow[schemas.BackupInput, schemas.BackupResult](t, schemas.BackupWorkflow,
		fmt.Sprintf("test-backup/%d", time.Now().UnixNano()), schemas.BackupInput{Cluster: "dev", Kind: schemas.BackupDatabase})
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	return res.Manifest
}

// TestRestore_RoundTripGivesAnIdenticalDump loads data, backs it up,
// destroys it, restores the backup into a scratch server and compares
// pg_dump before and after.
func TestRestore_RoundTripGivesAnIdenticalDump(t *testing.T) {
	psql(t, devstack.PGA1Port, "DROP DATABASE IF EXISTS roundtrip;")
	psql(t, devstack.PGA1Port, "CREATE DATABASE roundtrip;")
	load := fmt.Sprintf("postgres://lifeboat@127.0.0.1:%d/roundtrip?sslmode=disable", devstack.PGA1Port)
	cmd := exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", load, "-c", `
		CREATE TABLE accounts(id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(12,2), opened timestamptz);
		INSERT INTO accounts SELECT g, md5(g::text), g * 1.5, '2026-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 50000) g;
		CREATE INDEX ON accounts(owner);
		CREATE TABLE notes(id serial PRIMARY KEY, body jsonb);
		INSERT INTO notes(body) SELECT jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g % 7)) FROM generate_series(1, 5000) g;`)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+envValue(stack.Env(), "LIFEBOAT_PG_PASSWORD"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("load: %v: %s", err, out)
	}
	before := pgDump(t, devstack.PGA1Port, "roundtrip")
	m := backupNow(t)
	// Recover to just before the disaster: replaying the whole archive
	// would replay the DROP too, once its WAL is archived.
	beforeDisaster := time.Now().UTC()
	time.Sleep(100 * time.Millisecond)
	// The disaster: the data is dropped. (Not DROP DATABASE: PostgreSQL
	// marks the database invalid in place before the drop commits, and
	// recovery to a time before the commit replays that mark.)
	rt := exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", load, "-c", "DROP TABLE accounts, notes;")
	rt.Env = cmd.Env
	if out, err := rt.CombinedOutput(); err != nil {
		t.Fatalf("drop: %v: %s", err, out)
	}
	// Recovery to a time needs a commit after it in the archive.
	waitArchived(t, strings.TrimSpace(psql(t, devstack.PGA1Port, "SELECT pg_walfile_name(pg_current_wal_lsn()); SELECT pg_switch_wal();")))

	dir := scratchDir(t, "roundtrip")
	port := 15510
	res, err := runWorkflow[schemas.RestoreInput, schemas.RestoreResult](t, schemas.RestoreWorkflow,
		fmt.Sprintf("test-restore/%d", time.Now().UnixNano()),
		schemas.RestoreInput{Cluster: "dev", Backup: m.ID, Until: beforeDisaster.Format(time.RFC3339Nano), DataDir: dir, Port: port})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	after := pgDump(t, port, "roundtrip")
	// Sequences are WAL-logged 32 values ahead, so after any recovery they
	// stand a little further on (PostgreSQL documents this); pg_dump 15.14+
	// also writes a random \restrict key. Neither is data.
	before, after = comparableDump(before), comparableDump(after)
	if before != after {
		_ = os.WriteFile(filepath.Join(root, ".dev", "roundtrip-before.sql"), []byte(before), 0o644)
		_ = os.WriteFile(filepath.Join(root, ".dev", "roundtrip-after.sql"), []byte(after), 0o644)
		t.Fatalf("dump after restore differs from before (%d vs %d bytes); both are in .dev/roundtrip-*.sql", len(after), len(before))
	}
	t.Logf("restored %s in %.1fs: %+v", m.ID, res.Seconds, res.Steps)
}

// TestRestore_PointInTimeRecoversExactlyTheRowsBeforeTheTarget writes marker
// rows at known times and restores until a time between two of them.
func TestRestore_PointInTimeRecoversExactlyTheRowsBeforeTheTarget(t *testing.T) {
	table := fmt.Sprintf("pitr_%d", time.Now().UnixNano())
	psql(t, devstack.PGA1Port, "CREATE TABLE "+table+"(n int, at timestamptz DEFAULT clock_timestamp());")
	backupNow(t)
	psql(t, devstack.PGA1Port, "INSERT INTO "+table+"(n) VALUES (1), (2);")
	time.Sleep(1500 * time.Millisecond)
	target := time.Now().UTC()
	time.Sleep(1500 * time.Millisecond)
	psql(t, devstack.PGA1Port, "INSERT INTO "+table+"(n) VALUES (3);")
	// Close the segment so the rows after the target reach the archive too.
	waitArchived(t, strings.TrimSpace(psql(t, devstack.PGA1Port, "SELECT pg_walfile_name(pg_current_wal_lsn()); SELECT pg_switch_wal();")))

	dir := scratchDir(t, "pitr")
	port := 15511
	res, err := runWorkflow[schemas.RestoreInput, schemas.RestoreResult](t, schemas.RestoreWorkflow,
		fmt.Sprintf("test-pitr/%d", time.Now().UnixNano()),
		schemas.RestoreInput{Cluster: "dev", Backup: "latest", Until: target.Format(time.RFC3339Nano), DataDir: dir, Port: port})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	got := strings.TrimSpace(psql(t, port, "SELECT string_agg(n::text, ',' ORDER BY n) FROM "+table+";"))
	if got != "1,2" {
		t.Fatalf("markers recovered = %q, want 1,2 (3 was written after the target)", got)
	}
	if res.LastCommit == nil || res.LastCommit.After(target) {
		t.Errorf("last commit recovered %v, want at or before the target %v", res.LastCommit, target)
	}
	t.Logf("PITR to %s: last commit %v, RTO %.1fs", target.Format(time.RFC3339Nano), res.LastCommit, res.Seconds)
}

func TestRestore_RefusesANonEmptyTargetBeforeWritingAnything(t *testing.T) {
	dir := scratchDir(t, "nonempty")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "precious.txt")
	if err := os.WriteFile(keep, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := runWorkflow[schemas.RestoreInput, schemas.RestoreResult](t, schemas.RestoreWorkflow,
		fmt.Sprintf("test-nonempty/%d", time.Now().UnixNano()),
		schemas.RestoreInput{Cluster: "dev", Backup: "latest", DataDir: dir, Port: 15512})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != schemas.ErrTargetNotEmpty || !strings.Contains(err.Error(), "precious.txt") {
		t.Fatalf("err = %v, want TargetNotEmpty naming what is there", err)
	}
	entries, _ := os.ReadDir(dir)
	if b, _ := os.ReadFile(keep); string(b) != "keep me" || len(entries) != 1 {
		t.Errorf("the target was touched: %d entries", len(entries))
	}
}

func TestRestore_UnknownBackupListsTheNewest(t *testing.T) {
	_, err := runWorkflow[schemas.RestoreInput, schemas.RestoreResult](t, schemas.RestoreWorkflow,
		fmt.Sprintf("test-nosuch/%d", time.Now().UnixNano()),
		schemas.RestoreInput{Cluster: "dev", Backup: "20000101T000000Z-database", DataDir: scratchDir(t, "nosuch"), Port: 15513})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != schemas.ErrNoSuchBackup || !strings.Contains(err.Error(), "newest backups are: 2") {
		t.Fatalf("err = %v, want NoSuchBackup listing the newest backups", err)
	}
}

// waitArchived waits until PostgreSQL's archiver reports seg archived.
func waitArchived(t *testing.T, seg string) {
	t.Helper()
	seg = strings.Fields(seg)[0]
	deadline := time.Now().Add(60 * time.Second)
	for {
		last := strings.TrimSpace(psql(t, devstack.PGA1Port, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver"))
		if last >= seg {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment %s not archived within 60 s (last archived %q)", seg, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// comparableDump drops the lines of a dump that differ between two dumps of
// the same data: the \restrict keys and sequence positions.
func comparableDump(dump string) string {
	var keep []string
	for _, line := range strings.Split(dump, "\n") {
		if strings.HasPrefix(line, "\\restrict ") || strings.HasPrefix(line, "\\unrestrict ") ||
			strings.HasPrefix(line, "SELECT pg_catalog.setval(") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

// TestRestore_StartsFromBothCLIs starts a restore the two documented ways:
// `lifeboat restore` and `temporal workflow execute --type Restore` with the
// one-line JSON input that the Web UI's start form takes as well.
func TestRestore_StartsFromBothCLIs(t *testing.T) {
	backupNow(t)
	dir := scratchDir(t, "cli")
	out, stderr, err := lifeboat(t, "restore", "dev", "--target-dir", dir, "--port", "15514", "--json")
	if err != nil {
		t.Fatalf("lifeboat restore: %v\n%s", err, stderr)
	}
	var res schemas.RestoreResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Port != 15514 || res.Seconds <= 0 {
		t.Fatalf("lifeboat restore printed %q (%v), want a RestoreResult on port 15514", out, err)
	}
	if got := strings.TrimSpace(psql(t, 15514, "SELECT 1")); got != "1" {
		t.Errorf("restored server answers %q", got)
	}

	dir2 := scratchDir(t, "temporal-cli")
	input := fmt.Sprintf(`{"cluster":"dev","backup":"latest","data_dir":%q,"port":15515}`, dir2)
	cmd := exec.Command(filepath.Join(root, "bin", "temporal"), "--env-file", filepath.Join(root, "temporal-dev.yaml"),
		"workflow", "execute", "--type", "Restore", "--task-queue", "lifeboat",
		"--workflow-id", fmt.Sprintf("test-temporal-cli-restore/%d", time.Now().UnixNano()), "--input", input)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("temporal workflow execute: %v\n%s", err, b)
	}
	if got := strings.TrimSpace(psql(t, 15515, "SELECT 1")); got != "1" {
		t.Errorf("server restored through the temporal CLI answers %q", got)
	}
}
