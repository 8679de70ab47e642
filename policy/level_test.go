package policy

import (
	"github.com/runnerhub/lifeboat/schemas"
	"strings"
	"testing"
	"time"
)

var levelNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// stackNodes is the local stack as a healthy check sees it: a primary and
// a synchronous replica in region-a, an asynchronous one in region-b.
func stackNodes() []schemas.NodeHealth {
	return []schemas.NodeHealth{
		{Name: "pg-a1", Kind: schemas.KindPostgres, Region: "region-a", Role: schemas.RolePrimary, Healthy: true},
		{Name: "pg-a2", Kind: schemas.KindPostgres, Region: "region-a", Role: schemas.RoleReplica, Healthy: true, Streaming: true, SyncState: schemas.SyncStateSync, Synchronous: true},
		{Name: "pg-b1", Kind: schemas.KindPostgres, Region: "region-b", Role: schemas.RoleReplica, Healthy: true, Streaming: true, SyncState: schemas.SyncStateAsync},
		{Name: "redis-a1", Kind: schemas.KindRedis, Region: "region-a", Role: schemas.RoleMaster, Healthy: true},
	}
}

func backupAgo(d time.Duration) *schemas.BackupEvidence {
	return &schemas.BackupEvidence{ID: "b-" + d.String(), EndTime: levelNow.Add(-d)}
}

func passedDrill() *schemas.DrillEvidence {
	return &schemas.DrillEvidence{ID: "d1", Kind: schemas.DrillRestore, EndedAt: levelNow.Add(-48 * time.Hour), Passed: true}
}

// enterpriseEvidence proves every requirement; each case takes one away.
func enterpriseEvidence() schemas.LevelEvidence {
	return schemas.LevelEvidence{Now: levelNow, Cluster: "dev", Nodes: stackNodes(), Stored: schemas.LevelEvidenceResult{
		Backup: backupAgo(time.Hour), ReplicaBackup: backupAgo(time.Hour),
		BackupEvery: schemas.Duration(4 * time.Hour), BackupSchedule: schemas.ScheduleActive, ReplicaStore: true,
		Drill:       passedDrill(),
		PassedDrill: passedDrill(),
		DrillEvery:  schemas.Duration(schemas.DefaultDrillEvery),
		Monitor:     schemas.MonitorEvidence{Running: true, Status: schemas.ClusterHealthy},
	}}
}

func TestAssessLevel_FromEvidence(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*schemas.LevelEvidence)
		want  string
		miss  []string // requirements missing for the next level, in order
		where string   // a word the first missing requirement's evidence holds
	}{
		{"everything proven", func(*schemas.LevelEvidence) {}, schemas.LevelEnterprise, nil, ""},
		{"no drill", func(e *schemas.LevelEvidence) { e.Stored.Drill, e.Stored.PassedDrill = nil, nil }, schemas.LevelStandard,
			[]string{"a drill passed within its period"}, "lifeboat drill dev"},
		{"drill older than its period", func(e *schemas.LevelEvidence) { e.Stored.PassedDrill.EndedAt = levelNow.Add(-8 * 24 * time.Hour) }, schemas.LevelStandard,
			[]string{"a drill passed within its period"}, "over its period of 7d"},
		{"a custom drill period counts", func(e *schemas.LevelEvidence) {
			e.Stored.PassedDrill.EndedAt = levelNow.Add(-8 * 24 * time.Hour)
			e.Stored.DrillEvery = schemas.Duration(30 * 24 * time.Hour)
		}, schemas.LevelEnterprise, nil, ""},
		{"only failed drills", func(e *schemas.LevelEvidence) {
			e.Stored.Drill = &schemas.DrillEvidence{ID: "d2", EndedAt: levelNow.Add(-time.Hour), Failure: "RPO 400s over the target of 300s"}
			e.Stored.PassedDrill = nil
		}, schemas.LevelStandard, []string{"a drill passed within its period"}, "no drill has passed; the newest, d2, failed 1h ago: RPO 400s"},
		{"a failed drill after a pass keeps the pass", func(e *schemas.LevelEvidence) {
			e.Stored.Drill = &schemas.DrillEvidence{ID: "d2", EndedAt: levelNow.Add(-time.Hour), Failure: "canceled"}
		}, schemas.LevelEnterprise, nil, ""},
		{"monitor paused", func(e *schemas.LevelEvidence) {
			e.Stored.Monitor.Paused, e.Stored.Monitor.PausedBy = true, []string{"ops: maintenance"}
		}, schemas.LevelBasic, []string{"automatic failover"}, "ops: maintenance"},
		{"no monitor", func(e *schemas.LevelEvidence) { e.Stored.Monitor = schemas.MonitorEvidence{} }, schemas.LevelBasic,
			[]string{"automatic failover"}, "lifeboat monitor dev"},
		{"no replica store", func(e *schemas.LevelEvidence) { e.Stored.ReplicaStore, e.Stored.ReplicaBackup = false, nil }, schemas.LevelBasic,
			[]string{"backups replicated"}, "backup.replica"},
		{"replica store's newest backup is late", func(e *schemas.LevelEvidence) { e.Stored.ReplicaBackup = backupAgo(7 * time.Hour) }, schemas.LevelBasic,
			[]string{"backups replicated"}, "over 6h"},
		{"replica store unreadable", func(e *schemas.LevelEvidence) {
			e.Stored.ReplicaBackup, e.Stored.ReplicaError = nil, "connection refused"
		}, schemas.LevelBasic,
			[]string{"backups replicated"}, "connection refused"},
		{"no synchronous standby and no remote replica", func(e *schemas.LevelEvidence) {
			e.Nodes[1].SyncState, e.Nodes[1].Synchronous = schemas.SyncStateAsync, false
			e.Nodes[2].Healthy = false
		}, schemas.LevelBasic, []string{"a synchronous standby", "a replica in another region"}, "synchronous_standby_names"},
		{"backup late, one missed run is still on schedule", func(e *schemas.LevelEvidence) {
			e.Stored.Backup, e.Stored.ReplicaBackup = backupAgo(5*time.Hour+59*time.Minute), backupAgo(5*time.Hour+59*time.Minute)
		}, schemas.LevelEnterprise, nil, ""},
		{"backup older than 1.5 intervals", func(e *schemas.LevelEvidence) { e.Stored.Backup = backupAgo(6*time.Hour + time.Minute) }, schemas.LevelNone,
			[]string{"a recent database backup"}, "over 6h"},
		{"a longer schedule allows an older backup", func(e *schemas.LevelEvidence) {
			e.Stored.BackupEvery = schemas.Duration(24 * time.Hour)
			e.Stored.Backup, e.Stored.ReplicaBackup = backupAgo(30*time.Hour), backupAgo(30*time.Hour)
		}, schemas.LevelEnterprise, nil, ""},
		{"no backup at all", func(e *schemas.LevelEvidence) { e.Stored.Backup, e.Stored.ReplicaBackup = nil, nil }, schemas.LevelNone,
			[]string{"a recent database backup"}, "lifeboat backup dev"},
		{"store unreadable", func(e *schemas.LevelEvidence) {
			e.Stored.Backup, e.Stored.Errors = nil, []string{"list backups: connection refused"}
		}, schemas.LevelNone, []string{"a recent database backup"}, "connection refused"},
		{"single node", func(e *schemas.LevelEvidence) { e.Nodes = e.Nodes[:1] }, schemas.LevelNone,
			[]string{"a streaming replica"}, "no healthy replica"},
		{"replicas that do not stream do not count", func(e *schemas.LevelEvidence) {
			e.Nodes[1].Streaming, e.Nodes[2].Streaming = false, false
		}, schemas.LevelNone, []string{"a streaming replica"}, "no healthy replica"},
		{"no primary", func(e *schemas.LevelEvidence) { e.Nodes[0].Healthy = false }, schemas.LevelNone,
			[]string{"a PostgreSQL primary"}, "no healthy PostgreSQL primary"},
		{"split brain", func(e *schemas.LevelEvidence) { e.Nodes[2].Role = schemas.RolePrimary }, schemas.LevelNone,
			[]string{"a PostgreSQL primary"}, "2 nodes claim to be primary"},
		{"a lower level missing caps the level whatever is above", func(e *schemas.LevelEvidence) { e.Stored.Backup = nil }, schemas.LevelNone,
			[]string{"a recent database backup"}, "no database backup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := enterpriseEvidence()
			tc.edit(&ev)
			got := AssessLevel(ev)
			if got.Level != tc.want {
				t.Fatalf("level = %s, want %s\nmet: %v\nmissing: %v", got.Level, tc.want, got.Met, got.Missing)
			}
			var names []string
			for _, m := range got.Missing {
				names = append(names, m.Requirement)
				if m.Level != got.Next {
					t.Errorf("missing %q is of level %s, want only the next level %s", m.Requirement, m.Level, got.Next)
				}
			}
			if strings.Join(names, "|") != strings.Join(tc.miss, "|") {
				t.Errorf("missing = %v, want %v", names, tc.miss)
			}
			if tc.where != "" && !strings.Contains(got.Missing[0].Evidence, tc.where) {
				t.Errorf("missing evidence %q lacks %q", got.Missing[0].Evidence, tc.where)
			}
			if len(got.Met)+countUnmet(ev) != len(levelRequirements) {
				t.Errorf("met %d + unmet %d requirements, want %d", len(got.Met), countUnmet(ev), len(levelRequirements))
			}
		})
	}
}

// TestAssessLevel_SyncStatesOfTheStandbys grades the sync states the
// primary reports: after a failover it names its standbys ANY 1 (…), and
// they are "quorum", as synchronous as a "sync" one.
func TestAssessLevel_SyncStatesOfTheStandbys(t *testing.T) {
	for _, tc := range []struct {
		name       string
		a2, b1     string // the sync states of pg-a2 and pg-b1
		a2Healthy  bool
		want, what string // the level, and the evidence of a synchronous standby
	}{
		{"one sync standby", schemas.SyncStateSync, schemas.SyncStateAsync, true, schemas.LevelEnterprise, "pg-a2 (region-a) synchronous (sync)"},
		{"one quorum standby", schemas.SyncStateQuorum, schemas.SyncStateAsync, true, schemas.LevelEnterprise, "pg-a2 (region-a) synchronous (quorum)"},
		{"a quorum of two", schemas.SyncStateQuorum, schemas.SyncStateQuorum, true, schemas.LevelEnterprise, "pg-a2 (region-a), pg-b1 (region-b) synchronous (quorum)"},
		{"sync and potential", schemas.SyncStateSync, schemas.SyncStatePotential, true, schemas.LevelEnterprise, "pg-a2 (region-a) synchronous (sync)"},
		{"only a potential standby", schemas.SyncStatePotential, schemas.SyncStateAsync, true, schemas.LevelBasic, "no healthy replica is synchronous"},
		{"only asynchronous standbys", schemas.SyncStateAsync, schemas.SyncStateAsync, true, schemas.LevelBasic, "no healthy replica is synchronous"},
		{"not listed by the primary", "", "", true, schemas.LevelBasic, "no healthy replica is synchronous"},
		{"an unhealthy quorum standby does not count", schemas.SyncStateQuorum, schemas.SyncStateAsync, false, schemas.LevelBasic, "no healthy replica is synchronous"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := enterpriseEvidence()
			ev.Nodes[1].SyncState, ev.Nodes[1].Healthy = tc.a2, tc.a2Healthy
			ev.Nodes[2].SyncState = tc.b1
			got := AssessLevel(ev)
			if got.Level != tc.want {
				t.Errorf("level = %s, want %s (missing %v)", got.Level, tc.want, got.Missing)
			}
			var evidence string
			for _, c := range append(got.Met, got.Missing...) {
				if c.Requirement == "a synchronous standby" {
					evidence = c.Evidence
				}
			}
			if !strings.HasPrefix(evidence, tc.what) {
				t.Errorf("evidence %q, want it to start %q", evidence, tc.what)
			}
		})
	}
}

func countUnmet(ev schemas.LevelEvidence) int {
	n := 0
	for _, r := range levelRequirements {
		if ok, _ := r.met(ev); !ok {
			n++
		}
	}
	return n
}

func TestAssessLevel_NextLevel(t *testing.T) {
	for level, want := range map[string]string{schemas.LevelNone: schemas.LevelBasic, schemas.LevelBasic: schemas.LevelStandard, schemas.LevelStandard: schemas.LevelEnterprise, schemas.LevelEnterprise: ""} {
		ev := enterpriseEvidence()
		switch level {
		case schemas.LevelNone:
			ev.Nodes = ev.Nodes[:1]
		case schemas.LevelBasic:
			ev.Stored.Monitor.Running = false
		case schemas.LevelStandard:
			ev.Stored.PassedDrill = nil
		}
		if got := AssessLevel(ev); got.Level != level || got.Next != want {
			t.Errorf("level %s: next = %q, want %q", got.Level, got.Next, want)
		}
	}
}

// TestAssessLevel_MetSaysWhy checks each proven requirement names its proof.
func TestAssessLevel_MetSaysWhy(t *testing.T) {
	got := AssessLevel(enterpriseEvidence())
	want := map[string]string{
		"a PostgreSQL primary":             "pg-a1 (region-a)",
		"a streaming replica":              "pg-a2 (region-a), pg-b1 (region-b) streaming",
		"a recent database backup":         "b-1h0m0s ended 1h ago, within 6h (1.5 × the 4h schedule)",
		"a synchronous standby":            "pg-a2 (region-a) synchronous (sync)",
		"a replica in another region":      "pg-b1 (region-b), outside the primary's region-a",
		"backups replicated":               "in the replica store, b-1h0m0s ended 1h ago, within 6h (1.5 × the 4h schedule)",
		"automatic failover":               "HealthMonitor monitor/dev runs, status healthy",
		"a drill passed within its period": "d1 (restore) passed 2d ago, within its period of 7d",
	}
	if len(got.Met) != len(want) {
		t.Fatalf("met %d requirements, want %d: %v", len(got.Met), len(want), got.Met)
	}
	for _, m := range got.Met {
		if m.Evidence != want[m.Requirement] {
			t.Errorf("%s: %q, want %q", m.Requirement, m.Evidence, want[m.Requirement])
		}
	}
}

// TestAssessLevel_FailedDrillAfterAPassIsNamed: the pass still proves the
// requirement, and the failure after it is in the same line.
func TestAssessLevel_FailedDrillAfterAPassIsNamed(t *testing.T) {
	ev := enterpriseEvidence()
	ev.Stored.Drill = &schemas.DrillEvidence{ID: "d2", Kind: schemas.DrillFull, EndedAt: levelNow.Add(-30 * time.Minute), Failure: "RTO 1000s over the target of 900s"}
	got := AssessLevel(ev)
	want := "d1 (restore) passed 2d ago, within its period of 7d; the newest, d2, failed 30m ago: RTO 1000s over the target of 900s"
	for _, m := range got.Met {
		if m.Requirement == "a drill passed within its period" && m.Evidence != want {
			t.Errorf("evidence %q, want %q", m.Evidence, want)
		}
	}
	if got.Level != schemas.LevelEnterprise {
		t.Errorf("level %s, want enterprise", got.Level)
	}
}

func TestShortDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		8 * time.Second: "8s", 35*time.Minute + 12*time.Second: "35m12s", 35 * time.Minute: "35m", 4 * time.Hour: "4h",
		4*time.Hour + 30*time.Minute: "4h30m", 47 * time.Hour: "47h", 7 * 24 * time.Hour: "7d",
	} {
		if got := shortDur(d); got != want {
			t.Errorf("shortDur(%s) = %s, want %s", d, got, want)
		}
	}
}
