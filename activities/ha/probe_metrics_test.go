package ha

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/internal/promtest"
	"github.com/runnerhub/lifeboat/schemas"
)

func TestProbeObserve_LagAndArchiveFollowTheNodesRole(t *testing.T) {
	m := activities.NewMetrics(prometheus.NewRegistry())
	p := &Probe{Topology: &schemas.Topology{Cluster: "dev"}, Metrics: m}
	lag := 2.5
	p.observe(schemas.NodeHealth{Name: "pg-a2", Kind: schemas.KindPostgres, Role: schemas.RoleReplica, LagSeconds: &lag}, time.Millisecond)
	p.observe(schemas.NodeHealth{Name: "pg-a1", Kind: schemas.KindPostgres, Role: schemas.RolePrimary,
		WALArchive: &schemas.WALArchiveStatus{Pending: 3, OldestSeconds: 42}}, time.Millisecond)
	got := promtest.Gather(t, promtest.Multi{m.LagSeconds, m.WALArchiveLag, m.WALArchivePending})
	want := map[string]float64{
		"lifeboat_replication_lag_seconds{cluster=dev,node=pg-a2}":      2.5,
		"lifeboat_wal_archive_lag_seconds{cluster=dev,node=pg-a1}":      42,
		"lifeboat_wal_archive_pending_segments{cluster=dev,node=pg-a1}": 3,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	// A failover swaps the roles: the old values must not linger.
	p.observe(schemas.NodeHealth{Name: "pg-a2", Kind: schemas.KindPostgres, Role: schemas.RolePrimary,
		WALArchive: &schemas.WALArchiveStatus{}}, time.Millisecond)
	p.observe(schemas.NodeHealth{Name: "pg-a1", Kind: schemas.KindPostgres, Error: "connection refused"}, time.Millisecond)
	got = promtest.Gather(t, promtest.Multi{m.LagSeconds, m.WALArchiveLag, m.WALArchivePending})
	want = map[string]float64{
		"lifeboat_wal_archive_lag_seconds{cluster=dev,node=pg-a2}":      0,
		"lifeboat_wal_archive_pending_segments{cluster=dev,node=pg-a2}": 0,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after the swap got %v\nwant %v", got, want)
	}
}
