package integration

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/activities/pipeline"
	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/schemas"
)

// storeOf opens the stack's object store with the stack's secrets.
func storeOf(t *testing.T, topo *schemas.Topology) objstore.Store {
	t.Helper()
	store, err := objstore.Open(context.Background(), topo.Backup.Store, stackSecrets().Value)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// openSealed downloads a sealed object and opens it with the stack's
// identity; reading it to the end checks its sums. It is closed with the test.
func openSealed(ctx context.Context, t *testing.T, topo *schemas.Topology, key string, want pipeline.Sums) io.Reader {
	t.Helper()
	idText, err := stackSecrets().Value(topo.Backup.Identity)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pipeline.ParseIdentities(idText)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := storeOf(t, topo).Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { obj.Close() })
	plain, err := pipeline.Open(obj, ids, want)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Close() })
	return plain
}

func stackSecrets() activities.Secrets {
	return activities.Secrets{LookupEnv: func(k string) (string, bool) {
		v := envValue(stack.Env(), k)
		return v, v != ""
	}}
}

// TestBackup_DatabaseIsStoredSealedAndWhole runs the Backup workflow on the
// stack and then checks the stored result independently: the manifest parses,
// the object decrypts with the stack's identity to the checksums the manifest
// names, and the plain stream is a base backup tar with its WAL.
func TestBackup_DatabaseIsStoredSealedAndWhole(t *testing.T) {
	c := temporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: fmt.Sprintf("test-backup/%d", time.Now().UnixNano()), TaskQueue: schemas.GlobalTaskQueue,
	}, schemas.BackupWorkflow, schemas.BackupInput{Cluster: "dev", Kind: schemas.BackupDatabase})
	if err != nil {
		t.Fatal(err)
	}
	var res schemas.BackupResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	m := res.Manifest
	if m.Source != "pg-a2" {
		t.Errorf("source %s, want the synchronous replica pg-a2", m.Source)
	}
	// The temporary slot that held the WAL for the copy is gone with it.
	if n := strings.TrimSpace(psql(t, devstack.PGA2Port, "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'lifeboat_%'")); n != "0" {
		t.Errorf("%s backup slots left on pg-a2", n)
	}

	topo, err := schemas.LoadTopology(stack.TopologyPath())
	if err != nil {
		t.Fatal(err)
	}
	store := storeOf(t, topo)
	raw, err := store.Get(ctx, schemas.ManifestKey("dev", m.ID))
	if err != nil {
		t.Fatalf("manifest not stored: %v", err)
	}
	body, _ := io.ReadAll(raw)
	raw.Close()
	stored, err := schemas.ParseManifest(body)
	if err != nil {
		t.Fatalf("stored manifest does not parse: %v\n%s", err, body)
	}
	if stored.StoredSHA256 != m.StoredSHA256 || stored.StartLSN == "" || stored.Timeline < 1 || !strings.HasPrefix(stored.PostgresVersion, "15") {
		t.Errorf("stored manifest %+v does not match the result %+v", stored, m)
	}

	plain := openSealed(ctx, t, topo, m.Object, pipeline.Sums{
		PlainSize: m.PlainSize, PlainSHA256: m.PlainSHA256, StoredSize: m.StoredSize, StoredSHA256: m.StoredSHA256,
	})
	seen := map[string]bool{}
	walFiles := 0
	tr := tar.NewReader(plain)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("backup is not a tar stream: %v", err)
		}
		seen[h.Name] = true
		if strings.HasPrefix(h.Name, "pg_wal/") && len(h.Name) == len("pg_wal/")+24 {
			walFiles++
		}
	}
	// Reading to EOF made the pipeline compare both checksums.
	if _, err := io.Copy(io.Discard, plain); err != nil {
		t.Fatalf("checksums: %v", err)
	}
	for _, want := range []string{"PG_VERSION", "backup_label", "global/pg_control"} {
		if !seen[want] {
			t.Errorf("backup lacks %s", want)
		}
	}
	if walFiles == 0 {
		t.Error("backup holds no WAL segment: it could not reach consistency on its own")
	}
	t.Logf("backup %s: %d plain bytes stored as %d (%.1fx) in %.1fs", m.ID, m.PlainSize, m.StoredSize,
		float64(m.PlainSize)/float64(m.StoredSize), res.Seconds)
}
