package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/policy"
	"github.com/runnerhub/lifeboat/schemas"
)

// TestPrintCheck_Level prints the level a check judged: the line names the
// level and what the next lacks, each missing requirement says why, and
// each proven one shows its evidence.
func TestPrintCheck_Level(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	b := &schemas.BackupEvidence{ID: "20260301T110000Z-database", EndTime: now.Add(-time.Hour)}
	level := policy.AssessLevel(schemas.LevelEvidence{Now: now, Cluster: "dev",
		Nodes: []schemas.NodeHealth{
			{Name: "pg-a1", Kind: schemas.KindPostgres, Region: "region-a", Role: schemas.RolePrimary, Healthy: true},
			{Name: "pg-b1", Kind: schemas.KindPostgres, Region: "region-b", Role: schemas.RoleReplica, Healthy: true, Streaming: true},
		},
		Stored: schemas.LevelEvidenceResult{Backup: b, ReplicaBackup: b, ReplicaStore: true, BackupSchedule: schemas.ScheduleActive,
			Monitor: schemas.MonitorEvidence{Running: true, Status: schemas.ClusterHealthy}}})
	var out bytes.Buffer
	printCheck(&out, schemas.CheckClusterResult{Cluster: "dev", CheckedAt: now, Healthy: true, Level: &level})
	for _, want := range []string{
		"availability level: basic — missing for standard: a synchronous standby\n",
		"  - a synchronous standby: no healthy replica is synchronous",
		"proven:\n",
		"  basic     a recent database backup     20260301T110000Z-database ended 1h ago, within 6h (1.5 × the 4h schedule)\n",
		"  standard  a replica in another region  pg-b1 (region-b), outside the primary's region-a\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestPrintCheck_SyncStateAsReported prints each replica's sync state as
// its primary reports it, and quorum standbys as synchronous.
func TestPrintCheck_SyncStateAsReported(t *testing.T) {
	for _, tc := range []struct {
		state       string
		synchronous bool
		want        string
	}{
		{schemas.SyncStateSync, true, "synchronous (sync)"},
		{schemas.SyncStateQuorum, true, "synchronous (quorum)"},
		{schemas.SyncStatePotential, false, "asynchronous (potential)"},
		{schemas.SyncStateAsync, false, "asynchronous (async)"},
		{"", false, "asynchronous,"},
	} {
		var out bytes.Buffer
		printCheck(&out, schemas.CheckClusterResult{Cluster: "dev", Nodes: []schemas.NodeHealth{{
			Name: "pg-a2", Kind: schemas.KindPostgres, Region: "region-a", Role: schemas.RoleReplica, Healthy: true,
			Timeline: 2, Streaming: true, Upstream: "127.0.0.1:15432", SyncState: tc.state, Synchronous: tc.synchronous,
		}}})
		if !strings.Contains(out.String(), "timeline 2, "+tc.want) {
			t.Errorf("sync state %q: output lacks %q:\n%s", tc.state, tc.want, out.String())
		}
	}
}
