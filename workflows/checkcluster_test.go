package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/schemas"
)

func ptr[T any](v T) *T { return &v }

// twoRegions is the shape of the local stack: a primary and a synchronous
// replica in region-a, an asynchronous replica in region-b, Redis split the
// same way, and three sentinels.
func twoRegions() schemas.Topology {
	return schemas.Topology{
		Cluster: "dev",
		Regions: []schemas.Region{
			{Name: "region-a",
				Postgres:  []schemas.PostgresNode{{Name: "pg-a1"}, {Name: "pg-a2"}},
				Redis:     []schemas.RedisNode{{Name: "redis-a1", Addr: "127.0.0.1:16379"}},
				Sentinels: []schemas.SentinelNode{{Name: "sentinel-a1"}}},
			{Name: "region-b",
				Postgres:  []schemas.PostgresNode{{Name: "pg-b1"}},
				Redis:     []schemas.RedisNode{{Name: "redis-b1", Addr: "127.0.0.1:16380"}},
				Sentinels: []schemas.SentinelNode{{Name: "sentinel-b1"}, {Name: "sentinel-b2"}}},
		},
		Redis:   &schemas.RedisGroup{MasterName: "lifeboat-dev"},
		Targets: schemas.Targets{RPO: schemas.Duration(300e9), RTO: schemas.Duration(900e9)},
	}
}

func healthyRegionA() schemas.ProbeRegionResult {
	return schemas.ProbeRegionResult{Region: "region-a", Nodes: []schemas.NodeHealth{
		{Name: "pg-a1", Kind: schemas.KindPostgres, Region: "region-a", Role: schemas.RolePrimary, Healthy: true,
			CurrentLSN: "0/3000200", Timeline: 1, Standbys: []schemas.StandbyStat{
				{ApplicationName: "pg-a2", State: "streaming", SyncState: "sync", ReplayLagBytes: 0},
				{ApplicationName: "pg-b1", State: "streaming", SyncState: "async", ReplayLagBytes: 512},
			}},
		{Name: "pg-a2", Kind: schemas.KindPostgres, Region: "region-a", Role: schemas.RoleReplica, Healthy: true,
			Streaming: true, ReplayedLSN: "0/3000200", LagSeconds: ptr(0.0)},
		{Name: "redis-a1", Kind: schemas.KindRedis, Region: "region-a", Role: schemas.RoleMaster, Healthy: true,
			Addr: "127.0.0.1:16379", ReplOffset: ptr(int64(1000))},
		{Name: "sentinel-a1", Kind: schemas.KindSentinel, Region: "region-a", Role: schemas.RoleSentinel, Healthy: true,
			SentinelMaster: "127.0.0.1:16379", OtherSentinels: 2},
		{Name: ha.StoreNodeName, Kind: schemas.KindStore, Region: "region-a", Role: schemas.RoleStore, Healthy: true},
	}}
}

func healthyRegionB() schemas.ProbeRegionResult {
	return schemas.ProbeRegionResult{Region: "region-b", Nodes: []schemas.NodeHealth{
		{Name: "pg-b1", Kind: schemas.KindPostgres, Region: "region-b", Role: schemas.RoleReplica, Healthy: true,
			Streaming: true, ReplayedLSN: "0/3000000", LagSeconds: ptr(0.2)},
		{Name: "redis-b1", Kind: schemas.KindRedis, Region: "region-b", Role: schemas.RoleReplica, Healthy: true,
			Addr: "127.0.0.1:16380", MasterAddr: "127.0.0.1:16379", MasterLinkUp: true, ReplOffset: ptr(int64(990))},
		{Name: "sentinel-b1", Kind: schemas.KindSentinel, Region: "region-b", Role: schemas.RoleSentinel, Healthy: true,
			SentinelMaster: "127.0.0.1:16379", OtherSentinels: 2},
		{Name: "sentinel-b2", Kind: schemas.KindSentinel, Region: "region-b", Role: schemas.RoleSentinel, Healthy: true,
			SentinelMaster: "127.0.0.1:16379", OtherSentinels: 2},
		{Name: ha.StoreNodeName, Kind: schemas.KindStore, Region: "region-b", Role: schemas.RoleStore, Healthy: true},
	}}
}

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(CheckCluster)
	env.RegisterActivity(&ha.Cluster{})
	env.RegisterActivity(&ha.Probe{})
	env.RegisterActivity(&backup.Evidence{})
	return env
}

func TestCheckCluster_JoinsEveryRegionIntoOneReport(t *testing.T) {
	env := newEnv(t)
	env.OnActivity("DescribeCluster", mock.Anything, schemas.DescribeClusterInput{Cluster: "dev"}).
		Return(schemas.DescribeClusterResult{Topology: twoRegions()}, nil)
	env.OnActivity("ProbeRegion", mock.Anything, schemas.ProbeRegionInput{Cluster: "dev", Region: "region-a"}).
		Return(healthyRegionA(), nil)
	env.OnActivity("ProbeRegion", mock.Anything, schemas.ProbeRegionInput{Cluster: "dev", Region: "region-b"}).
		Return(healthyRegionB(), nil)
	env.SetStartTime(checkStart)
	env.OnActivity("LevelEvidence", mock.Anything, schemas.LevelEvidenceInput{Cluster: "dev"}).Return(storedEvidence(), nil).Once()

	env.ExecuteWorkflow(CheckCluster, schemas.CheckClusterInput{Cluster: "dev"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	env.AssertExpectations(t)
	var got schemas.CheckClusterResult
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if !got.Healthy || len(got.Problems) != 0 {
		t.Fatalf("healthy = %v, problems = %v; want a healthy report", got.Healthy, got.Problems)
	}
	wantOrder := []string{"pg-a1", "pg-a2", "pg-b1", "redis-a1", "redis-b1", "sentinel-a1", "sentinel-b1", "sentinel-b2", "backup-store", "backup-store"}
	var names []string
	for _, n := range got.Nodes {
		names = append(names, n.Name)
	}
	if strings.Join(names, ",") != strings.Join(wantOrder, ",") {
		t.Errorf("node order = %v, want %v", names, wantOrder)
	}
	byName := map[string]schemas.NodeHealth{}
	for _, n := range got.Nodes {
		byName[n.Name] = n
	}
	if !byName["pg-a2"].Synchronous || byName["pg-b1"].Synchronous {
		t.Errorf("synchronous: pg-a2 = %v, pg-b1 = %v; want true, false", byName["pg-a2"].Synchronous, byName["pg-b1"].Synchronous)
	}
	if l := byName["pg-b1"].LagBytes; l == nil || *l != 512 {
		t.Errorf("pg-b1 lag_bytes = %v, want 512 (the primary's view)", l)
	}
	if l := byName["redis-b1"].LagBytes; l == nil || *l != 10 {
		t.Errorf("redis-b1 lag_bytes = %v, want 10", l)
	}
	for _, s := range []string{"sentinel-a1", "sentinel-b1", "sentinel-b2"} {
		if !byName[s].Agrees {
			t.Errorf("%s agrees = false, want true", s)
		}
	}
	// The probes prove the replicas, the evidence the rest, but for the
	// drill: standard, with the drill missing for enterprise.
	if got.Level == nil || got.Level.Level != schemas.LevelStandard || got.Level.Next != schemas.LevelEnterprise ||
		len(got.Level.Missing) != 1 || got.Level.Missing[0].Requirement != "a drill passed within its period" {
		t.Errorf("level = %+v, want standard missing only the drill", got.Level)
	}
}

var checkStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// storedEvidence is a backup an hour old in both stores, the monitor
// running, and no drill.
func storedEvidence() schemas.LevelEvidenceResult {
	b := &schemas.BackupEvidence{ID: "20260301T105900Z-database", EndTime: checkStart.Add(-time.Hour)}
	return schemas.LevelEvidenceResult{
		Backup: b, ReplicaBackup: b, ReplicaStore: true,
		BackupEvery: schemas.Duration(schemas.DatabaseBackupEvery), BackupSchedule: schemas.ScheduleActive,
		DrillEvery: schemas.Duration(schemas.DefaultDrillEvery),
		Monitor:    schemas.MonitorEvidence{Running: true, Status: schemas.ClusterHealthy},
	}
}

func TestCheckCluster_RejectsMissingClusterWithoutRetrying(t *testing.T) {
	env := newEnv(t)
	env.ExecuteWorkflow(CheckCluster, schemas.CheckClusterInput{})
	err := env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("error = %v, want an application error", err)
	}
	if appErr.Type() != schemas.ErrInvalidInput || !appErr.NonRetryable() || !strings.Contains(appErr.Error(), "cluster") {
		t.Errorf("error = %v (type %s, non-retryable %v); want a non-retryable InvalidInput naming the field", appErr, appErr.Type(), appErr.NonRetryable())
	}
}

func TestCheckCluster_FailsOnUnknownCluster(t *testing.T) {
	env := newEnv(t)
	env.OnActivity("DescribeCluster", mock.Anything, mock.Anything).Return(schemas.DescribeClusterResult{},
		temporal.NewNonRetryableApplicationError("cluster \"nope\" is unknown", schemas.ErrUnknownCluster, nil)).Once()
	env.ExecuteWorkflow(CheckCluster, schemas.CheckClusterInput{Cluster: "nope"})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != schemas.ErrUnknownCluster {
		t.Fatalf("error = %v, want an UnknownCluster application error", err)
	}
	env.AssertExpectations(t)
}

func TestCheckCluster_ReportsRegionWhoseWorkerIsGone(t *testing.T) {
	env := newEnv(t)
	env.OnActivity("DescribeCluster", mock.Anything, mock.Anything).Return(schemas.DescribeClusterResult{Topology: twoRegions()}, nil)
	env.OnActivity("ProbeRegion", mock.Anything, schemas.ProbeRegionInput{Cluster: "dev", Region: "region-a"}).Return(healthyRegionA(), nil)
	env.OnActivity("ProbeRegion", mock.Anything, schemas.ProbeRegionInput{Cluster: "dev", Region: "region-b"}).
		Return(schemas.ProbeRegionResult{}, temporal.NewTimeoutError(0, errors.New("schedule to start")))
	env.OnActivity("LevelEvidence", mock.Anything, mock.Anything).Return(schemas.LevelEvidenceResult{}, errors.New("store unreachable"))

	env.ExecuteWorkflow(CheckCluster, schemas.CheckClusterInput{Cluster: "dev"})
	var got schemas.CheckClusterResult
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if got.Healthy {
		t.Fatal("healthy = true with region-b silent")
	}
	// Evidence that could not be read proves nothing, and says so; the
	// health report comes back all the same.
	if l := got.Level; l == nil || l.Level != schemas.LevelNone || len(l.Errors) != 1 || !strings.Contains(l.Errors[0], "store unreachable") {
		t.Errorf("level = %+v, want none with the evidence error", l)
	}
	for _, n := range got.Nodes {
		if n.Region == "region-b" && (n.Healthy || !strings.Contains(n.Error, "no probe from region region-b")) {
			t.Errorf("%s: healthy = %v, error %q; want unhealthy with the region named", n.Name, n.Healthy, n.Error)
		}
	}
}

// TestSummarize_SyncStateAsThePrimaryReportsIt: each replica carries the
// sync state its primary reports, and a quorum standby (a promotion names
// its standbys ANY 1 (…)) counts as synchronous, as a sync one does.
func TestSummarize_SyncStateAsThePrimaryReportsIt(t *testing.T) {
	for _, tc := range []struct {
		a2, b1     string
		wantA2Sync bool
		wantB1Sync bool
	}{
		{schemas.SyncStateSync, schemas.SyncStateAsync, true, false},
		{schemas.SyncStateQuorum, schemas.SyncStateQuorum, true, true},
		{schemas.SyncStateQuorum, schemas.SyncStateAsync, true, false},
		{schemas.SyncStateSync, schemas.SyncStatePotential, true, false},
	} {
		a, b := healthyRegionA(), healthyRegionB()
		a.Nodes[0].Standbys[0].SyncState, a.Nodes[0].Standbys[1].SyncState = tc.a2, tc.b1
		got := map[string]schemas.NodeHealth{}
		for _, n := range Summarize(twoRegions(), []schemas.ProbeRegionResult{a, b}).Nodes {
			got[n.Name] = n
		}
		a2, b1 := got["pg-a2"], got["pg-b1"]
		if a2.SyncState != tc.a2 || b1.SyncState != tc.b1 {
			t.Errorf("sync states %q, %q; want %q, %q as reported", a2.SyncState, b1.SyncState, tc.a2, tc.b1)
		}
		if a2.Synchronous != tc.wantA2Sync || b1.Synchronous != tc.wantB1Sync {
			t.Errorf("%s/%s: synchronous %v, %v; want %v, %v", tc.a2, tc.b1, a2.Synchronous, b1.Synchronous, tc.wantA2Sync, tc.wantB1Sync)
		}
	}
}

func TestSummarize_FlagsWhatNoRegionSeesAlone(t *testing.T) {
	tests := []struct {
		name        string
		change      func(a, b *schemas.ProbeRegionResult)
		wantProblem string
		wantBad     string
	}{
		{"two primaries is split brain", func(_, b *schemas.ProbeRegionResult) {
			b.Nodes[0].Role, b.Nodes[0].CurrentLSN = schemas.RolePrimary, "0/4000000"
		}, "split brain", ""},
		{"replica behind the RPO", func(_, b *schemas.ProbeRegionResult) {
			b.Nodes[0].LagSeconds = ptr(301.0)
		}, "over the RPO", "pg-b1"},
		{"sentinel naming another master", func(_, b *schemas.ProbeRegionResult) {
			b.Nodes[3].SentinelMaster = "127.0.0.1:16380"
		}, "sentinels disagree", "sentinel-b2"},
		{"redis replica of a stale master", func(_, b *schemas.ProbeRegionResult) {
			b.Nodes[1].MasterAddr = "127.0.0.1:9999"
		}, "replicates from 127.0.0.1:9999", "redis-b1"},
		{"no primary", func(a, _ *schemas.ProbeRegionResult) {
			a.Nodes[0].Role, a.Nodes[0].Healthy, a.Nodes[0].Error = schemas.RoleUnknown, false, "connection refused"
		}, "no reachable PostgreSQL primary", "pg-a1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := healthyRegionA(), healthyRegionB()
			tc.change(&a, &b)
			got := Summarize(twoRegions(), []schemas.ProbeRegionResult{a, b})
			if got.Healthy {
				t.Fatal("healthy = true, want false")
			}
			if !strings.Contains(strings.Join(got.Problems, "\n"), tc.wantProblem) {
				t.Errorf("problems = %q, want one containing %q", got.Problems, tc.wantProblem)
			}
			for _, n := range got.Nodes {
				if n.Name == tc.wantBad && n.Healthy {
					t.Errorf("%s healthy = true, want false", n.Name)
				}
			}
		})
	}
}
