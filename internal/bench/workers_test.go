package bench

import (
	"testing"

	"github.com/runnerhub/lifeboat/schemas"
)

// TestBenchTopology_OneLocalStoreAndNoReplica: the bench backs up into one
// local store, like the raw pipeline into one file, and never into the
// stack's replica store.
func TestBenchTopology_OneLocalStoreAndNoReplica(t *testing.T) {
	stackTopo, err := schemas.LoadTopology("../../testdata/topologies/valid/two-regions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	stackTopo.Backup.Replica = &schemas.Store{Type: schemas.StoreLocal, Path: "/srv/replica"}
	stackTopo.Backup.ReplicaRegion = stackTopo.Regions[1].Name
	b, err := benchTopology(*stackTopo, "/srv/bench-store")
	if err != nil {
		t.Fatal(err)
	}
	got, err := schemas.ParseTopology(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Backup.Store.Type != schemas.StoreLocal || got.Backup.Store.Path != "/srv/bench-store" || got.Backup.Replica != nil {
		t.Errorf("bench topology's backup = %+v, want the local store only", got.Backup)
	}
}
