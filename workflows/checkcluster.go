// Package workflows holds Lifeboat's durable orchestration: one file per
// workflow, deterministic code only. Every side effect is an activity.
package workflows

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/policy"
	"github.com/runnerhub/lifeboat/schemas"
)

// regionProbeWait is how long a region's probe may wait for a worker of that
// region to pick it up. A region without a live worker is reported as such
// instead of holding the whole check.
const regionProbeWait = 30 * time.Second

// CheckCluster probes every region of a cluster once and reports the health
// of each node: PostgreSQL roles, positions and lag, Redis roles and offsets,
// each sentinel's view of the master, and whether the object store answers.
func CheckCluster(ctx workflow.Context, in schemas.CheckClusterInput) (schemas.CheckClusterResult, error) {
	if in.Cluster == "" {
		return schemas.CheckClusterResult{}, invalidInput("cluster", "required")
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		clusterAttr.ValueSet(in.Cluster), kindAttr.ValueSet("check")); err != nil {
		return schemas.CheckClusterResult{}, fmt.Errorf("set search attributes: %w", err)
	}

	topo, err := describeCluster(ctx, in.Cluster)
	if err != nil {
		return schemas.CheckClusterResult{}, err
	}

	// From version 1 on, the check also judges the availability level; the
	// store's evidence is read while the regions probe.
	var evidence workflow.Future
	if workflow.GetVersion(ctx, checkLevelChange, workflow.DefaultVersion, 1) == 1 {
		evidence = gatherEvidence(ctx, topo.Cluster)
	}
	results := probeCluster(ctx, topo)
	res := Summarize(topo, results)
	res.CheckedAt = workflow.Now(ctx).UTC()
	if evidence != nil {
		res.Level = assessLevel(ctx, topo, res, evidence)
	}
	return res, nil
}

// checkLevelChange is the GetVersion change ID of the availability level.
const checkLevelChange = "check-level"

// gatherEvidence starts the activity that reads the stores', the
// schedule's and the monitor's evidence of the availability level.
func gatherEvidence(ctx workflow.Context, cluster string) workflow.Future {
	var e *backup.Evidence
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              schemas.GlobalTaskQueue,
		ScheduleToStartTimeout: regionProbeWait,
		StartToCloseTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			MaximumAttempts:        2,
			NonRetryableErrorTypes: nonRetryable,
		},
	})
	return workflow.ExecuteActivity(actx, e.LevelEvidence, schemas.LevelEvidenceInput{Cluster: cluster})
}

// assessLevel judges the level from the probes and the gathered evidence.
// Evidence that could not be gathered proves nothing, and the report says
// why; the health report is returned all the same.
func assessLevel(ctx workflow.Context, topo schemas.Topology, res schemas.CheckClusterResult, evidence workflow.Future) *schemas.LevelReport {
	var stored schemas.LevelEvidenceResult
	if err := evidence.Get(ctx, &stored); err != nil {
		msg := "gather evidence: " + err.Error()
		stored = schemas.LevelEvidenceResult{
			ReplicaStore: topo.Backup.Replica != nil, ReplicaError: msg,
			Monitor: schemas.MonitorEvidence{Error: msg}, Errors: []string{msg},
		}
	}
	rep := policy.AssessLevel(schemas.LevelEvidence{Now: res.CheckedAt, Cluster: topo.Cluster, Nodes: res.Nodes, Stored: stored})
	return &rep
}

// probeCluster runs one probe in every region of the cluster, concurrently,
// each on its region's task queue. A region whose worker does not answer is
// reported with every node unhealthy rather than failing the caller.
func probeCluster(ctx workflow.Context, topo schemas.Topology) []schemas.ProbeRegionResult {
	results, _ := probeRegions(ctx, topo, nil)
	return results
}

// probeRegions is probeCluster where wait, when not nil, says how long
// each region's probe waits for a worker (regionProbeWait otherwise). It
// also returns the regions where no worker took the probe in time.
func probeRegions(ctx workflow.Context, topo schemas.Topology, wait func(region string) time.Duration) ([]schemas.ProbeRegionResult, []string) {
	var probe *ha.Probe
	regions := topo.RegionNames()
	futures := make([]workflow.Future, len(regions))
	for i, r := range regions {
		toStart := regionProbeWait
		if wait != nil {
			toStart = wait(r)
		}
		rctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			TaskQueue:              schemas.RegionTaskQueue(r),
			ScheduleToStartTimeout: toStart,
			StartToCloseTimeout:    30 * time.Second,
			// A failover chooses its candidate from these probes: one
			// lost with its worker is tried again within seconds.
			HeartbeatTimeout: haHeartbeat,
			RetryPolicy: &temporal.RetryPolicy{
				InitialInterval:        time.Second,
				MaximumAttempts:        2,
				NonRetryableErrorTypes: nonRetryable,
			},
		})
		futures[i] = workflow.ExecuteActivity(rctx, probe.ProbeRegion, schemas.ProbeRegionInput{Cluster: topo.Cluster, Region: r})
	}
	results := make([]schemas.ProbeRegionResult, len(regions))
	var silent []string
	for i, f := range futures {
		if err := f.Get(ctx, &results[i]); err != nil {
			results[i] = unreachableRegion(topo, regions[i], err)
			if noWorkerTook(err) {
				silent = append(silent, regions[i])
			}
		}
	}
	return results, silent
}

// noWorkerTook reports whether an activity failed because no worker took
// it before its schedule-to-start timeout.
func noWorkerTook(err error) bool {
	var timeout *temporal.TimeoutError
	return errors.As(err, &timeout) && timeout.TimeoutType() == enums.TIMEOUT_TYPE_SCHEDULE_TO_START
}

// describeCluster asks any worker for the cluster's topology.
func describeCluster(ctx workflow.Context, cluster string) (schemas.Topology, error) {
	var c *ha.Cluster
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           schemas.GlobalTaskQueue,
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			MaximumAttempts:        3,
			NonRetryableErrorTypes: nonRetryable,
		},
	})
	var out schemas.DescribeClusterResult
	if err := workflow.ExecuteActivity(actx, c.DescribeCluster, schemas.DescribeClusterInput{Cluster: cluster}).Get(ctx, &out); err != nil {
		return schemas.Topology{}, wrap(err, "describe cluster")
	}
	return out.Topology, nil
}

// describeClusterLocal is describeCluster as a local activity, for the
// workflows that count in seconds (failover): no task queue round trip.
func describeClusterLocal(ctx workflow.Context, cluster string) (schemas.Topology, error) {
	var c *ha.Cluster
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: 30 * time.Second, StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        200 * time.Millisecond,
			NonRetryableErrorTypes: nonRetryable,
		},
	})
	var out schemas.DescribeClusterResult
	if err := workflow.ExecuteLocalActivity(lctx, c.DescribeCluster, schemas.DescribeClusterInput{Cluster: cluster}).Get(ctx, &out); err != nil {
		return schemas.Topology{}, wrap(err, "describe cluster")
	}
	return out.Topology, nil
}

// unreachableRegion reports every node of a region whose probe did not run.
func unreachableRegion(topo schemas.Topology, region string, err error) schemas.ProbeRegionResult {
	msg := fmt.Sprintf("no probe from region %s: %v", region, err)
	res := schemas.ProbeRegionResult{Region: region}
	add := func(name, kind string) {
		res.Nodes = append(res.Nodes, schemas.NodeHealth{Name: name, Kind: kind, Region: region, Role: schemas.RoleUnknown, Error: msg})
	}
	r, _ := topo.Region(region)
	for _, n := range r.Postgres {
		add(n.Name, schemas.KindPostgres)
	}
	for _, n := range r.Redis {
		add(n.Name, schemas.KindRedis)
	}
	for _, n := range r.Sentinels {
		add(n.Name, schemas.KindSentinel)
	}
	add(ha.StoreNodeName, schemas.KindStore)
	return res
}

// Summarize joins the regions' probes into one report. It is where facts that
// no single region sees are derived: which standby is synchronous and how far
// behind it is (from the primary's pg_stat_replication), how far each Redis
// replica trails its master, and whether the sentinels agree on the master.
func Summarize(topo schemas.Topology, regions []schemas.ProbeRegionResult) schemas.CheckClusterResult {
	res := schemas.CheckClusterResult{Cluster: topo.Cluster}
	for _, r := range regions {
		res.Nodes = append(res.Nodes, r.Nodes...)
	}
	nodes := res.Nodes

	var primaries, masters []int
	for i, n := range nodes {
		switch {
		case n.Kind == schemas.KindPostgres && n.Role == schemas.RolePrimary:
			primaries = append(primaries, i)
		case n.Kind == schemas.KindRedis && n.Role == schemas.RoleMaster:
			masters = append(masters, i)
		}
	}

	var problems []string
	switch len(primaries) {
	case 0:
		problems = append(problems, "no reachable PostgreSQL primary")
	case 1:
		joinStandbys(nodes, nodes[primaries[0]], topo.Targets)
	default:
		problems = append(problems, fmt.Sprintf("%d PostgreSQL nodes claim to be primary: split brain", len(primaries)))
	}
	if len(masters) > 1 {
		problems = append(problems, fmt.Sprintf("%d Redis nodes claim to be master", len(masters)))
	}
	var master *schemas.NodeHealth
	if len(masters) == 1 {
		master = &nodes[masters[0]]
		joinRedisReplicas(nodes, *master)
	} else if hasKind(nodes, schemas.KindRedis) && len(masters) == 0 {
		problems = append(problems, "no reachable Redis master")
	}
	problems = append(problems, judgeSentinels(nodes, master)...)

	for _, n := range nodes {
		if !n.Healthy {
			problems = append(problems, fmt.Sprintf("%s %s (%s): %s", n.Kind, n.Name, n.Region, n.Error))
		}
	}
	sort.SliceStable(res.Nodes, func(i, j int) bool { return nodeLess(res.Nodes[i], res.Nodes[j]) })
	res.Problems = problems
	res.Healthy = len(problems) == 0
	return res
}

// joinStandbys fills each replica's lag and sync state from the primary's
// view, and marks a replica unhealthy when its lag breaks the RPO.
func joinStandbys(nodes []schemas.NodeHealth, primary schemas.NodeHealth, targets schemas.Targets) {
	byName := map[string]schemas.StandbyStat{}
	for _, s := range primary.Standbys {
		byName[s.ApplicationName] = s
	}
	primaryLSN, perr := schemas.ParseLSN(primary.CurrentLSN)
	for i := range nodes {
		n := &nodes[i]
		if n.Kind != schemas.KindPostgres || n.Role != schemas.RoleReplica {
			continue
		}
		if s, ok := byName[n.Name]; ok {
			n.SyncState, n.Synchronous = s.SyncState, policy.Synchronous(s.SyncState)
			lag := s.ReplayLagBytes
			n.LagBytes = &lag
		} else if replayed, err := schemas.ParseLSN(n.ReplayedLSN); err == nil && perr == nil {
			// Not attached to this primary: compare positions across nodes.
			lag := int64(0)
			if primaryLSN > replayed {
				lag = int64(primaryLSN - replayed)
			}
			n.LagBytes = &lag
			if n.Healthy {
				n.Healthy = false
				n.Error = "streaming, but not from the primary " + primary.Name
			}
		}
		switch {
		case !n.Healthy:
		case targets.MaxLagBytes > 0 && n.LagBytes != nil && *n.LagBytes > targets.MaxLagBytes:
			n.Healthy = false
			n.Error = fmt.Sprintf("replay lag %d bytes over the budget of %d", *n.LagBytes, targets.MaxLagBytes)
		case targets.RPO > 0 && n.LagSeconds != nil && *n.LagSeconds > targets.RPO.Std().Seconds():
			n.Healthy = false
			n.Error = fmt.Sprintf("replay lag %.1fs over the RPO of %s", *n.LagSeconds, targets.RPO.Std())
		}
	}
}

// joinRedisReplicas sets each Redis replica's lag in bytes behind the master.
func joinRedisReplicas(nodes []schemas.NodeHealth, master schemas.NodeHealth) {
	for i := range nodes {
		n := &nodes[i]
		if n.Kind != schemas.KindRedis || n.Role != schemas.RoleReplica || n.ReplOffset == nil || master.ReplOffset == nil {
			continue
		}
		lag := max(*master.ReplOffset-*n.ReplOffset, 0)
		n.LagBytes = &lag
		if n.Healthy && n.MasterAddr != master.Addr {
			n.Healthy = false
			n.Error = fmt.Sprintf("replicates from %s, but the master is %s", n.MasterAddr, master.Addr)
		}
	}
}

// judgeSentinels marks each sentinel as agreeing when it names the same
// master as every other sentinel and that master is the Redis node that
// reports itself master.
func judgeSentinels(nodes []schemas.NodeHealth, master *schemas.NodeHealth) []string {
	seen := map[string]bool{}
	var named []string
	for _, n := range nodes {
		if n.Kind == schemas.KindSentinel && n.SentinelMaster != "" && !seen[n.SentinelMaster] {
			seen[n.SentinelMaster] = true
			named = append(named, n.SentinelMaster)
		}
	}
	if len(named) == 0 {
		return nil
	}
	var problems []string
	if len(named) > 1 {
		sort.Strings(named)
		problems = append(problems, fmt.Sprintf("sentinels disagree on the master: %v", named))
	}
	for i := range nodes {
		n := &nodes[i]
		if n.Kind != schemas.KindSentinel || n.SentinelMaster == "" {
			continue
		}
		n.Agrees = len(named) == 1 && (master == nil || n.SentinelMaster == master.Addr)
		if !n.Agrees && n.Healthy {
			n.Healthy = false
			n.Error = "names master " + n.SentinelMaster + ", which is not the agreed master"
		}
	}
	return problems
}

func hasKind(nodes []schemas.NodeHealth, kind string) bool {
	for _, n := range nodes {
		if n.Kind == kind {
			return true
		}
	}
	return false
}

var kindOrder = map[string]int{schemas.KindPostgres: 0, schemas.KindRedis: 1, schemas.KindSentinel: 2, schemas.KindStore: 3}

var roleOrder = map[string]int{schemas.RolePrimary: 0, schemas.RoleMaster: 0, schemas.RoleReplica: 1}

// nodeLess orders a report as an operator reads it: by kind, the writable
// node first, then by region and name.
func nodeLess(a, b schemas.NodeHealth) bool {
	if kindOrder[a.Kind] != kindOrder[b.Kind] {
		return kindOrder[a.Kind] < kindOrder[b.Kind]
	}
	ra, rb := roleRank(a.Role), roleRank(b.Role)
	if ra != rb {
		return ra < rb
	}
	if a.Region != b.Region {
		return a.Region < b.Region
	}
	return a.Name < b.Name
}

func roleRank(role string) int {
	if r, ok := roleOrder[role]; ok {
		return r
	}
	return 2
}
