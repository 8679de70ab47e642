package ha

import (
	"errors"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/schemas"
)

// drillTopology is a one-region cluster with a failover drill set.
func drillTopology() *schemas.Topology {
	return &schemas.Topology{
		Cluster: "dev",
		Regions: []schemas.Region{{Name: "region-a", Postgres: []schemas.PostgresNode{
			{Name: "pg-a", DSN: "postgres://lifeboat@127.0.0.1:15432/postgres"},
		}}},
		Drill: &schemas.Drill{ScratchDir: "scratch", Port: 25432},
	}
}

func TestServing_BindsACopyToTheNamedCluster(t *testing.T) {
	topo := drillTopology()
	drill := schemas.DrillClusterName(topo.Cluster)
	n := &Nodes{Topology: topo, Region: "region-a", Clients: &activities.Clients{Topology: topo}, PGBin: "bin"}

	own, err := serving(n, topo.Cluster)
	if err != nil || own.Topology != topo {
		t.Fatalf("own cluster: topology %v, err %v; want the worker's topology", own, err)
	}
	set, err := serving(n, drill)
	if err != nil {
		t.Fatalf("drill set: %v", err)
	}
	if got := set.Topology.Cluster; got != drill {
		t.Errorf("drill set cluster = %q, want %q", got, drill)
	}
	if set == n || n.Topology != topo {
		t.Error("serving changed the worker's struct instead of a copy")
	}
	if set.Region != n.Region || set.Clients != n.Clients || set.PGBin != n.PGBin {
		t.Errorf("copy = %+v, want the other fields of %+v", set, n)
	}

	r, err := serving(&Routing{Topology: topo}, drill)
	if err != nil || r.Topology.Cluster != drill {
		t.Errorf("Routing: %+v, err %v; want cluster %q", r, err, drill)
	}
	p, err := serving(&Probe{Topology: topo}, drill)
	if err != nil || p.Topology.Cluster != drill {
		t.Errorf("Probe: %+v, err %v; want cluster %q", p, err, drill)
	}
}

func TestServing_UnknownClusterIsNonRetryable(t *testing.T) {
	_, err := serving(&Nodes{Topology: drillTopology()}, "other")
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != schemas.ErrUnknownCluster || !appErr.NonRetryable() {
		t.Errorf("err = %v, want a non-retryable %s", err, schemas.ErrUnknownCluster)
	}
}
