package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/schemas"
)

// retentionFakeWAL is a segment PostgreSQL never writes (initdb starts at
// segment 1), so the test may archive and expect removed a WAL file no
// real recovery needs.
const retentionFakeWAL = "000000010000000000000000"

// TestRetention_KeepsThePolicyAndRemovesExactlyThePlan takes one real
// backup, writes a year of daily database backups (and a WAL file older
// than all of them) straight into the stack's store, then runs Retention
// through the CLI: a dry run deletes nothing, and the real run deletes
// exactly what the dry run planned, never the newest backup.
func TestRetention_KeepsThePolicyAndRemovesExactlyThePlan(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	topo, err := schemas.LoadTopology(stack.TopologyPath())
	if err != nil {
		t.Fatal(err)
	}
	store := storeOf(t, topo)
	newest := retentionRealBackup(ctx, t)
	fakes := writeYearOfBackups(ctx, t, store, newest)

	before := retentionKeys(ctx, t, store)
	dry := retentionCLI(t, "--dry-run", "--json")
	if !dry.DryRun || dry.DeletedObjects != 0 {
		t.Errorf("dry run reported dry_run=%v, %d deleted", dry.DryRun, dry.DeletedObjects)
	}
	for _, k := range before {
		if _, err := store.Stat(ctx, k); err != nil {
			t.Errorf("the dry run removed %s: %v", k, err)
		}
	}
	// The stack is shared: a backup someone else took after ours is newer.
	kept := summariesByID(dry.Kept)
	newestID := newestDatabaseBackup(append(slices.Clone(dry.Kept), dry.Removed...))
	if newestID < newest.ID {
		t.Fatalf("the newest backup listed is %s, older than the one just taken, %s", newestID, newest.ID)
	}
	if r, ok := kept[newestID]; !ok || !strings.Contains(r.Reason, "newest database backup") {
		t.Fatalf("the newest backup %s is not kept as such: %+v", newestID, r)
	}
	var fakeKept, fakeRemoved int
	for _, id := range fakes {
		if _, ok := kept[id]; ok {
			fakeKept++
		}
	}
	for _, r := range dry.Removed {
		if slices.Contains(fakes, r.ID) {
			fakeRemoved++
		}
	}
	// 6 more days, 3 more weeks and 12 months, some of them the same backup.
	if fakeKept < 12 || fakeKept > 21 || fakeKept+fakeRemoved != len(fakes) {
		t.Errorf("of %d fake backups %d kept and %d removed; want 12 to 21 kept, the rest removed", len(fakes), fakeKept, fakeRemoved)
	}
	checkWAL := len(dry.Invalid) == 0
	if !checkWAL {
		t.Logf("the store holds invalid backups, so no WAL is removed: %v", dry.Problems)
	} else if dry.WALFirstRemoved != retentionFakeWAL {
		t.Errorf("first WAL file removed %q, want %s (older than every kept backup)", dry.WALFirstRemoved, retentionFakeWAL)
	}

	res := retentionCLI(t, "--json")
	if res.DryRun {
		t.Error("the real run reported a dry run")
	}
	// A backup taken by someone else between the two runs may make one
	// more of today's backups go, and nothing else.
	got := retentionIDs(res.Removed)
	for _, id := range retentionIDs(dry.Removed) {
		if !slices.Contains(got, id) {
			t.Errorf("the dry run planned to remove %s, the real run kept it", id)
		}
	}
	for _, r := range res.Removed {
		if !slices.Contains(retentionIDs(dry.Removed), r.ID) && !strings.HasPrefix(r.ID, time.Now().UTC().Format("20060102")) {
			t.Errorf("the real run removed %s, which the dry run kept", r.ID)
		}
	}
	newestID = newestDatabaseBackup(append(slices.Clone(res.Kept), res.Removed...))
	if _, ok := summariesByID(res.Kept)[newestID]; !ok {
		t.Errorf("the real run did not keep the newest backup %s", newestID)
	}
	after := retentionKeys(ctx, t, store)
	gone := map[string]bool{}
	for _, k := range before {
		if !slices.Contains(after, k) {
			gone[k] = true
		}
	}
	removedDirs := map[string]bool{}
	for _, r := range res.Removed {
		removedDirs[schemas.BackupsPrefix("dev")+r.ID+"/"] = true
	}
	for _, o := range res.Orphans {
		if o.Removed {
			removedDirs[schemas.BackupsPrefix("dev")+o.ID+"/"] = true
		}
	}
	walGone := map[string]bool{}
	for k := range gone {
		if rest, ok := strings.CutPrefix(k, schemas.WALPrefix("dev")); ok {
			walGone[strings.TrimSuffix(strings.TrimSuffix(rest, ".json"), ".zst.age")] = true
			continue
		}
		if i := strings.Index(strings.TrimPrefix(k, schemas.BackupsPrefix("dev")), "/"); i < 0 || !removedDirs[k[:len(schemas.BackupsPrefix("dev"))+i+1]] {
			t.Errorf("%s is gone, but the plan did not remove it", k)
		}
	}
	for _, k := range before {
		for dir := range removedDirs {
			if strings.HasPrefix(k, dir) && !gone[k] {
				t.Errorf("%s should be gone with its backup", k)
			}
		}
	}
	if len(walGone) != res.WALRemoved {
		t.Errorf("%d WAL files gone, the run reports %d", len(walGone), res.WALRemoved)
	}
	if checkWAL && !walGone[retentionFakeWAL] {
		t.Errorf("WAL file %s is still there", retentionFakeWAL)
	}
	if _, err := store.Stat(ctx, schemas.ManifestKey("dev", newestID)); err != nil {
		t.Errorf("the newest backup's manifest is gone: %v", err)
	}
	for id := range summariesByID(res.Kept) {
		if _, err := store.Stat(ctx, schemas.ManifestKey("dev", id)); err != nil {
			t.Errorf("kept backup %s lost its manifest: %v", id, err)
		}
	}

	out, stderr, err := lifeboat(t, "retention", "dev", "--dry-run")
	if err != nil {
		t.Fatalf("lifeboat retention --dry-run: %v\n%s", err, stderr)
	}
	for _, want := range []string{"dry run: nothing was deleted", "ACTION", "BACKUP", "REASON", "newest database backup"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	t.Logf("removed %d backups and %d WAL files, kept %d backups; %d objects deleted",
		len(res.Removed), res.WALRemoved, len(res.Kept), res.DeletedObjects)
}

// retentionRealBackup runs the Backup workflow once.
func retentionRealBackup(ctx context.Context, t *testing.T) schemas.Manifest {
	t.Helper()
	m := backupNow(t)
	c := temporalClient(t)
	// The backup starts the cluster's retention when it ends; let that run
	// finish so it does not race the one this test makes.
	if err := c.GetWorkflow(ctx, schemas.RetentionWorkflowID("dev"), "").Get(ctx, nil); err != nil {
		t.Fatalf("the retention the backup started: %v", err)
	}
	return m
}

// writeYearOfBackups writes a database backup for each of the 365 days
// before today, each a copy of real's manifest over a few bytes of data,
// starting at the first segment of timeline 1, and a WAL file older than
// them all. It removes what it wrote when the test ends.
func writeYearOfBackups(ctx context.Context, t *testing.T, store objstore.Store, real schemas.Manifest) []string {
	t.Helper()
	var written []string
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// Manifests first, as retention does.
		slices.SortStableFunc(written, func(a, b string) int {
			return boolRank(strings.HasSuffix(b, "/manifest.json")) - boolRank(strings.HasSuffix(a, "/manifest.json"))
		})
		for _, k := range written {
			if err := store.Delete(ctx, k); err != nil {
				t.Errorf("clean up %s: %v", k, err)
			}
		}
	})
	put := func(key string, body []byte) {
		t.Helper()
		if _, err := store.Stat(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
			t.Fatalf("%s exists already (%v): the test will not overwrite it", key, err)
		}
		written = append(written, key)
		if err := store.Put(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil {
			t.Fatal(err)
		}
	}

	put(schemas.WALKey("dev", retentionFakeWAL), []byte("not really WAL"))
	put(schemas.WALRecordKey("dev", retentionFakeWAL), []byte(`{"name":"`+retentionFakeWAL+`"}`))
	var ids []string
	today := time.Now().UTC().Truncate(24 * time.Hour)
	for d := 1; d <= 365; d++ {
		start := today.AddDate(0, 0, -d).Add(time.Hour + 2*time.Minute + 3*time.Second)
		m := real
		m.ID = schemas.NewBackupID(start, schemas.BackupDatabase)
		m.Object = schemas.BackupDataKey("dev", m.ID)
		m.StartTime, m.EndTime = start, start.Add(time.Minute)
		m.StartLSN, m.StopLSN, m.Timeline = "0/1000028", "0/1000100", 1
		data := []byte("retention test data of " + m.ID)
		m.StoredSize = int64(len(data))
		body, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := schemas.ParseManifest(body); err != nil {
			t.Fatalf("fake manifest does not parse: %v", err)
		}
		put(m.Object, data)
		put(schemas.ManifestKey("dev", m.ID), body)
		ids = append(ids, m.ID)
	}
	return ids
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// retentionKeys lists the keys of dev's backups and WAL.
func retentionKeys(ctx context.Context, t *testing.T, store objstore.Store) []string {
	t.Helper()
	var keys []string
	for _, p := range []string{schemas.BackupsPrefix("dev"), schemas.WALPrefix("dev")} {
		objs, err := store.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			keys = append(keys, o.Key)
		}
	}
	return keys
}

// retentionCLI runs `lifeboat retention dev` with args and reads its JSON.
func retentionCLI(t *testing.T, args ...string) schemas.RetentionResult {
	t.Helper()
	out, stderr, err := lifeboat(t, append([]string{"retention", "dev"}, args...)...)
	if err != nil {
		t.Fatalf("lifeboat retention dev %v: %v\n%s", args, err, stderr)
	}
	var res schemas.RetentionResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("retention output is not a result: %v\n%s", err, out)
	}
	return res
}

func summariesByID(ss []schemas.BackupSummary) map[string]schemas.BackupSummary {
	out := map[string]schemas.BackupSummary{}
	for _, s := range ss {
		out[s.ID] = s
	}
	return out
}

// newestDatabaseBackup is the ID of the newest database backup; IDs sort by time.
func newestDatabaseBackup(ss []schemas.BackupSummary) string {
	newest := ""
	for _, s := range ss {
		if s.Kind == schemas.BackupDatabase && s.ID > newest {
			newest = s.ID
		}
	}
	return newest
}

func retentionIDs(ss []schemas.BackupSummary) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}
