package integration

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/schemas"
)

// TestWALArchiving_PrimaryArchivesThroughLifeboat switches WAL on the primary
// and waits for PostgreSQL's own archiver to report the segment archived by
// `lifeboat wal-push`; then fetches it back with `lifeboat wal-fetch` and
// compares it with the server's copy.
func TestWALArchiving_PrimaryArchivesThroughLifeboat(t *testing.T) {
	seg := strings.TrimSpace(psql(t, devstack.PGA1Port,
		"CREATE TABLE IF NOT EXISTS lifeboat_wal_test(t timestamptz); INSERT INTO lifeboat_wal_test VALUES (now());"+
			"SELECT pg_walfile_name(pg_current_wal_lsn());"))
	psql(t, devstack.PGA1Port, "SELECT pg_switch_wal();")

	deadline := time.Now().Add(60 * time.Second)
	for {
		out := strings.TrimSpace(psql(t, devstack.PGA1Port,
			"SELECT coalesce(last_archived_wal, '') || ' ' || failed_count || ' ' || coalesce(last_failed_wal, '') FROM pg_stat_archiver"))
		f := strings.Fields(out)
		if len(f) > 0 && f[0] >= seg {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment %s not archived within 60 s; pg_stat_archiver: %s", seg, out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	topo, err := schemas.LoadTopology(stack.TopologyPath())
	if err != nil {
		t.Fatal(err)
	}
	secrets := activities.Secrets{LookupEnv: func(k string) (string, bool) {
		v := envValue(stack.Env(), k)
		return v, v != ""
	}}
	store, err := objstore.Open(context.Background(), topo.Backup.Store, secrets.Value)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Stat(context.Background(), schemas.WALKey(topo.Cluster, seg)); err != nil {
		t.Fatalf("archived segment not in the store: %v", err)
	}

	dest := filepath.Join(t.TempDir(), "RECOVERYXLOG")
	if _, stderr, err := lifeboat(t, "wal-fetch", "--topology", stack.TopologyPath(), seg, dest); err != nil {
		t.Fatalf("wal-fetch %s: %v\n%s", seg, err, stderr)
	}
	got, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(root, ".dev", "pg", "data", "pg-a1", "pg_wal", seg))
	if err != nil {
		t.Fatalf("read the server's copy: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("fetched %s (%d bytes) differs from the server's (%d bytes)", seg, len(got), len(want))
	}

	// A segment that was never archived is the end of the archive: exit 1.
	_, stderr, err := lifeboat(t, "wal-fetch", "--topology", stack.TopologyPath(), "0000000100000000000000FF", dest+"2")
	if err == nil || !strings.Contains(stderr, "not in the WAL archive") {
		t.Errorf("wal-fetch of a missing segment: err %v, stderr %q; want exit 1 saying it is not archived", err, stderr)
	}
	t.Logf("archived and fetched %s", seg)
}
