package policy

import (
	"github.com/runnerhub/lifeboat/schemas"
	"strings"
	"testing"
)

func candidateTopology() schemas.Topology {
	return schemas.Topology{
		Cluster: "shop",
		Regions: []schemas.Region{
			{Name: "a", Postgres: []schemas.PostgresNode{{Name: "a1", Priority: 100}, {Name: "a2", Priority: 100}, {Name: "a3", Priority: 10}}},
			{Name: "b", Postgres: []schemas.PostgresNode{{Name: "b1", Priority: 50}, {Name: "b2", Priority: 100}}},
		},
	}
}

func replica(name, region, received string) schemas.NodeHealth {
	return schemas.NodeHealth{Name: name, Kind: schemas.KindPostgres, Region: region, Role: schemas.RoleReplica, Healthy: true, ReceivedLSN: received}
}

func TestChooseCandidate(t *testing.T) {
	topo := candidateTopology()
	tests := []struct {
		name  string
		nodes []schemas.NodeHealth
		rules CandidateRules
		want  string
		loss  int64
	}{
		{
			name:  "synchronous standby wins over a replica further ahead",
			nodes: []schemas.NodeHealth{replica("a2", "a", "0/3000000"), replica("b1", "b", "0/3000100")},
			rules: CandidateRules{Failed: "a1", Synchronous: []string{"a2"}, MaxLagBytes: 1 << 20},
			want:  "a2",
		},
		{
			name:  "highest received LSN among asynchronous replicas",
			nodes: []schemas.NodeHealth{replica("a2", "a", "0/3000000"), replica("b1", "b", "0/3000100")},
			rules: CandidateRules{Failed: "a1", MaxLagBytes: 1 << 20},
			want:  "b1",
		},
		{
			name:  "priority breaks an LSN tie",
			nodes: []schemas.NodeHealth{replica("a3", "a", "0/3000000"), replica("b2", "b", "0/3000000")},
			rules: CandidateRules{Failed: "a1", MaxLagBytes: 1 << 20},
			want:  "b2",
		},
		{
			name:  "preferred region breaks a priority tie",
			nodes: []schemas.NodeHealth{replica("b2", "b", "0/3000000"), replica("a2", "a", "0/3000000")},
			rules: CandidateRules{Failed: "a1", PreferRegion: "a", MaxLagBytes: 1 << 20},
			want:  "a2",
		},
		{
			name:  "the failed node and a second primary are never chosen",
			nodes: []schemas.NodeHealth{{Name: "a1", Kind: schemas.KindPostgres, Region: "a", Role: schemas.RolePrimary}, {Name: "b2", Kind: schemas.KindPostgres, Region: "b", Role: schemas.RolePrimary}, replica("a3", "a", "0/1000000")},
			rules: CandidateRules{Failed: "a1", MaxLagBytes: 1 << 20},
			want:  "a3",
		},
		{
			name:  "loss is measured against the failed primary's last position",
			nodes: []schemas.NodeHealth{replica("a2", "a", "0/2FFFF00")},
			rules: CandidateRules{Failed: "a1", LastPrimaryLSN: "0/3000000", MaxLagBytes: 1 << 20},
			want:  "a2",
			loss:  0x100,
		},
		{
			name:  "force promotes a replica beyond the allowed lag",
			nodes: []schemas.NodeHealth{replica("b1", "b", "0/1000000")},
			rules: CandidateRules{Failed: "a1", LastPrimaryLSN: "0/3000000", MaxLagBytes: 1 << 20, Force: true},
			want:  "b1",
			loss:  0x2000000,
		},
		{
			name:  "only region restricts the choice to the DR region",
			nodes: []schemas.NodeHealth{replica("a2", "a", "0/3000000"), replica("b1", "b", "0/2000000")},
			rules: CandidateRules{Failed: "a1", Synchronous: []string{"a2"}, OnlyRegion: "b", MaxLagBytes: 1 << 30},
			want:  "b1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ChooseCandidate(topo, tt.nodes, tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			if got.Node != tt.want || got.LossBytes != tt.loss {
				t.Errorf("got %s (loss %d), want %s (loss %d); rejected %v", got.Node, got.LossBytes, tt.want, tt.loss, got.Rejected)
			}
		})
	}
}

func TestChooseCandidate_RefusesLaggingReplicaAndSaysWhy(t *testing.T) {
	nodes := []schemas.NodeHealth{
		replica("b1", "b", "0/1000000"),
		{Name: "a2", Kind: schemas.KindPostgres, Region: "a", Role: schemas.RoleUnknown, Error: "connection refused"},
	}
	_, err := ChooseCandidate(candidateTopology(), nodes, CandidateRules{Failed: "a1", LastPrimaryLSN: "0/3000000", MaxLagBytes: 1 << 20})
	if err == nil {
		t.Fatal("a replica 32 MiB behind was chosen with a 1 MiB limit")
	}
	for _, want := range []string{"a2: unreachable: connection refused", "b1: 33554432 bytes behind", "use force"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
