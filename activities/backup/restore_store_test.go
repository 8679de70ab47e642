package backup

import (
	"context"
	"errors"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/schemas"
)

// TestFindBackup_StoreChoice loses the primary's copy of a replicated
// backup and asks for it from each store choice.
func TestFindBackup_StoreChoice(t *testing.T) {
	b, primary, _, id := replicateFixture(t)
	if _, err := b.ReplicateBackup(context.Background(), schemas.ReplicateBackupInput{Cluster: "dev", ID: id}); err != nil {
		t.Fatal(err)
	}
	if err := primary.Delete(context.Background(), schemas.ManifestKey("dev", id)); err != nil {
		t.Fatal(err)
	}
	r := &Restore{Topology: b.Topology, Clients: b.Clients}
	for _, tc := range []struct {
		store     string
		wantStore string // "" when an error of wantErr is expected
		wantErr   string
	}{
		{schemas.StoreAuto, schemas.StoreReplica, ""},
		{schemas.StoreReplica, schemas.StoreReplica, ""},
		{schemas.StorePrimary, "", schemas.ErrNoSuchBackup},
		{"elsewhere", "", schemas.ErrInvalidInput},
	} {
		t.Run("store="+tc.store, func(t *testing.T) {
			got, err := r.FindBackup(context.Background(), schemas.FindBackupInput{Cluster: "dev", Backup: id, Kind: schemas.BackupDatabase, Store: tc.store})
			if tc.wantErr != "" {
				var appErr *temporal.ApplicationError
				if !errors.As(err, &appErr) || appErr.Type() != tc.wantErr {
					t.Fatalf("err = %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Store != tc.wantStore || got.Manifest.ID != id {
				t.Errorf("found %s in %q, want %s in %q", got.Manifest.ID, got.Store, id, tc.wantStore)
			}
		})
	}
}
