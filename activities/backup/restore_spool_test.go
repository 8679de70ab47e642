package backup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/schemas"
)

func TestSpoolRestoreCommand_OnlyOverACompleteSpool(t *testing.T) {
	dataDir := t.TempDir()
	if got := spoolRestoreCommand(dataDir); got != "" {
		t.Fatalf("no spool: %q, want wal-fetch (\"\")", got)
	}
	spool := filepath.Join(dataDir, walSpoolName)
	if err := os.Mkdir(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	if got := spoolRestoreCommand(dataDir); got != "" {
		t.Fatalf("a spool not marked complete: %q, want wal-fetch (\"\")", got)
	}
	if err := os.WriteFile(filepath.Join(spool, walSpoolComplete), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	want := "test -f '" + spool + "/%f' && cp '" + spool + "/%f' '%p'"
	if got := spoolRestoreCommand(dataDir); got != want {
		t.Fatalf("complete spool: %q, want %q", got, want)
	}

	quoted := filepath.Join(t.TempDir(), "it's")
	if err := os.MkdirAll(filepath.Join(quoted, walSpoolName), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(quoted, walSpoolName, walSpoolComplete), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := spoolRestoreCommand(quoted); got != "" || strings.Contains(got, "it's") {
		t.Fatalf("a path with a quote: %q, want wal-fetch (\"\")", got)
	}
}

// stalledStore is a store whose listing waits until it is cancelled.
type stalledStore struct {
	objstore.Store
	listing chan struct{}
}

func (s stalledStore) List(ctx context.Context, prefix string) ([]objstore.ObjectInfo, error) {
	close(s.listing)
	<-ctx.Done()
	return nil, ctx.Err()
}

func (stalledStore) String() string { return "stalled" }

func TestStartSpool_CancelledSpoolIsIncompleteAndRemoved(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	topo := &schemas.Topology{Cluster: "dev", Backup: schemas.Backup{Identity: &schemas.Secret{Env: "AGE_IDENTITY"}}}
	store := stalledStore{listing: make(chan struct{})}
	r := &Restore{Topology: topo, Clients: &activities.Clients{Topology: topo, StoreOverride: store, Secrets: activities.Secrets{
		LookupEnv: func(k string) (string, bool) { return id.String(), k == "AGE_IDENTITY" },
	}}}
	dataDir := t.TempDir()
	spool := filepath.Join(dataDir, walSpoolName)
	if err := os.Mkdir(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spool, "000000010000000000000001"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	wait, cancel := r.startSpool(context.Background(), schemas.Manifest{ID: "b1", Cluster: "dev", StartLSN: "0/1000028"}, dataDir)
	<-store.listing
	cancel()
	complete, err := wait()
	if complete || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled spool: complete=%v err=%v, want false and context.Canceled", complete, err)
	}
	if _, err := os.Stat(spool); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("incomplete spool left in place (stat: %v)", err)
	}
	if again, _ := wait(); again {
		t.Fatal("a second wait says complete")
	}
}

func TestStartSpool_UnreadableStartLSNLeavesNoSpool(t *testing.T) {
	topo := &schemas.Topology{Cluster: "dev"}
	r := &Restore{Topology: topo, Clients: &activities.Clients{Topology: topo}}
	dataDir := t.TempDir()
	wait, cancel := r.startSpool(context.Background(), schemas.Manifest{ID: "b1", Cluster: "dev", StartLSN: "not an LSN"}, dataDir)
	defer cancel()
	if complete, err := wait(); complete || err == nil {
		t.Fatalf("bad start LSN: complete=%v err=%v, want false and an error", complete, err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, walSpoolName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("spool left in place (stat: %v)", err)
	}
}
