package schemas

import (
	"path/filepath"
	"strconv"

	"github.com/runnerhub/lifeboat/internal/conninfo"
)

// A failover drill rehearses the real Failover workflow on a scratch
// primary and replica that live in the DR region: a cluster of their own,
// named after the protected one, which every worker derives from its
// topology (Topology.Resolve) so the same activities serve it. It shares
// nothing with production that a failover writes: no Redis nodes, no
// poolers, no webhook; its routing record has its own key.

// Names of the scratch nodes of a failover drill.
const (
	DrillPrimary = "drill-primary"
	DrillReplica = "drill-replica"
)

// DrillClusterName is the cluster name of cluster's failover drill set.
func DrillClusterName(cluster string) string { return cluster + "-drill" }

// DrillSetDir is the directory, inside the drill scratch directory, of the
// failover drill's scratch servers.
const DrillSetDir = "failover-set"

// Resolve returns the topology of the cluster called name: t itself, or
// the failover drill set derived from t.
func (t *Topology) Resolve(name string) (*Topology, bool) {
	switch {
	case name == t.Cluster:
		return t, true
	case name == DrillClusterName(t.Cluster) && t.Drill != nil && len(t.Regions) > 0:
		return t.drillSet(), true
	}
	return nil, false
}

// drillSet is the scratch cluster a failover drill runs the Failover
// workflow against: a primary on drill.port+1 and a replica on
// drill.port+2, in the DR region, reached like the cluster's own nodes
// (same role and password: they are restored from its backup).
func (t *Topology) drillSet() *Topology {
	region := t.Backup.DRRegion
	if region == "" {
		region = t.Regions[0].Name
	}
	var model PostgresNode
	for _, r := range t.Regions {
		if len(r.Postgres) > 0 {
			model = r.Postgres[0]
			break
		}
	}
	dir := filepath.Join(t.Drill.ScratchDir, DrillSetDir)
	node := func(name string, port int) PostgresNode {
		dsn := model.DSN
		if params, err := conninfo.Parse(model.DSN); err == nil {
			params["host"], params["port"] = "127.0.0.1", strconv.Itoa(port)
			dsn = conninfo.Format(params)
		}
		return PostgresNode{
			Name: name, DSN: dsn, Password: model.Password, Priority: 100,
			DataDir: filepath.Join(dir, name), LogFile: filepath.Join(dir, name+".log"),
		}
	}
	return &Topology{
		Cluster: DrillClusterName(t.Cluster),
		Regions: []Region{{Name: region, Postgres: []PostgresNode{
			node(DrillPrimary, t.Drill.Port+1), node(DrillReplica, t.Drill.Port+2),
		}}},
		Backup:  t.Backup,
		Targets: t.Targets,
		Monitor: t.Monitor,
		Failover: Failover{
			Lease: t.Failover.Lease, Replication: t.Failover.Replication, PGBin: t.Failover.PGBin,
			SentinelWindow: t.Failover.SentinelWindow,
		},
	}
}

// BuildDrillReplicaInput makes the failover drill set's replica from its
// running primary and waits until it streams synchronously.
type BuildDrillReplicaInput struct {
	// Cluster is the protected cluster; its drill set is built.
	Cluster string `json:"cluster"`
}

// BuildDrillReplicaResult says what was built.
type BuildDrillReplicaResult struct {
	Replica string `json:"replica"`
	// ReplayedLSN is where the replica was when it was found streaming.
	ReplayedLSN string `json:"replayed_lsn"`
}

// KillDrillNodeInput kills a scratch node of the failover drill set the
// way a crash would: SIGKILL to its postmaster.
type KillDrillNodeInput struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
}

// KillDrillNodeResult is the process killed.
type KillDrillNodeResult struct {
	PID int `json:"pid"`
}

// ResetDrillRoutingInput clears the routing record and leases of a drill
// set and, when Primary is set, starts a new one naming it at epoch 1.
type ResetDrillRoutingInput struct {
	// Cluster is the drill set's name (DrillClusterName); any other is
	// refused.
	Cluster string `json:"cluster"`
	Primary string `json:"primary,omitempty"`
}

// ResetDrillRoutingResult is the record left, if any.
type ResetDrillRoutingResult struct {
	Record *RoutingRecord `json:"record,omitempty"`
}
