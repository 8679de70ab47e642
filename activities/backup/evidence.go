package backup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/schemas"
)

// Evidence reads what a cluster's availability level is judged from beyond
// its nodes: the newest database backup in each store, the newest drill
// report, the backup schedule and the HealthMonitor.
type Evidence struct {
	Topology *schemas.Topology
	Clients  *activities.Clients
	// Temporal is asked for the backup schedule and the monitor's status.
	Temporal client.Client
	Logger   *zap.Logger
}

// LevelEvidence gathers the evidence. What cannot be read is reported in
// the result's Errors, where the level's judgement names it, rather than
// failing the check that asked: a store that does not answer is itself
// the finding.
func (e *Evidence) LevelEvidence(ctx context.Context, in schemas.LevelEvidenceInput) (schemas.LevelEvidenceResult, error) {
	if in.Cluster != e.Topology.Cluster {
		return schemas.LevelEvidenceResult{}, activities.UnknownCluster(in.Cluster, e.Topology.Cluster)
	}
	res := schemas.LevelEvidenceResult{
		ReplicaStore: e.Topology.Backup.Replica != nil,
		DrillEvery:   schemas.Duration(schemas.DefaultDrillEvery),
	}
	if d := e.Topology.Drill; d != nil {
		res.DrillEvery = schemas.Duration(d.EveryOrDefault())
	}
	fail := func(what string, err error) { res.Errors = append(res.Errors, what+": "+err.Error()) }

	if store, err := e.Clients.Store(ctx); err != nil {
		fail("open the store", err)
	} else {
		if res.Backup, err = newestDatabaseBackup(ctx, store, in.Cluster); err != nil {
			fail("newest database backup", err)
		}
		if res.Drill, res.PassedDrill, err = newestDrills(ctx, store, in.Cluster); err != nil {
			fail("newest drill report", err)
		}
	}
	if res.ReplicaStore {
		replica, err := e.Clients.ReplicaStore(ctx)
		if err == nil {
			res.ReplicaBackup, err = newestDatabaseBackup(ctx, replica, in.Cluster)
		}
		if err != nil {
			res.ReplicaError = err.Error()
		}
	}

	var err error
	if res.BackupEvery, res.BackupSchedule, err = e.backupSchedule(ctx, in.Cluster); err != nil {
		fail("backup schedule", err)
	}
	res.Monitor = e.monitor(ctx, in.Cluster)
	if len(res.Errors) > 0 {
		e.logger().Warn("availability evidence incomplete", zap.String("cluster", in.Cluster), zap.Strings("errors", res.Errors))
	}
	return res, nil
}

// newestDatabaseBackup is the newest database backup with a manifest in
// store, or nil when there is none.
func newestDatabaseBackup(ctx context.Context, store objstore.Store, cluster string) (*schemas.BackupEvidence, error) {
	m, err := findBackup(ctx, store, schemas.FindBackupInput{Cluster: cluster, Backup: schemas.LatestBackup, Kind: schemas.BackupDatabase})
	if isType(err, schemas.ErrNoSuchBackup) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &schemas.BackupEvidence{ID: m.ID, EndTime: m.EndTime}, nil
}

// maxDrillReads bounds how many reports newestDrills reads looking for a
// pass: a cluster whose last fifty drills failed has none worth finding.
const maxDrillReads = 50

// newestDrills reads the newest drill report in store (drill IDs sort by
// start time) and the newest that passed; nil when there is none. A
// report's JSON is written after its other files, so a listed report is a
// finished one.
func newestDrills(ctx context.Context, store objstore.Store, cluster string) (newest, passed *schemas.DrillEvidence, err error) {
	prefix := schemas.DrillsPrefix(cluster)
	objs, err := store.List(ctx, prefix)
	if err != nil {
		return nil, nil, fmt.Errorf("list drill reports in %s: %w", store, err)
	}
	var ids []string
	for _, o := range objs {
		if id, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, prefix), "/report.json"); ok && !strings.Contains(id, "/") {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for i, id := range slices.Backward(ids) {
		if len(ids)-i > maxDrillReads {
			break
		}
		var rep schemas.DrillReport
		if err := readJSON(ctx, store, schemas.DrillReportKeys(cluster, id).JSON, &rep); err != nil {
			return newest, nil, fmt.Errorf("read drill report %s: %w", id, err)
		}
		d := &schemas.DrillEvidence{ID: rep.ID, Kind: rep.Kind, EndedAt: rep.EndedAt, Passed: rep.Passed}
		if !rep.Passed && len(rep.Failures) > 0 {
			d.Failure = rep.Failures[0]
		}
		if newest == nil {
			newest = d
		}
		if d.Passed {
			return newest, d, nil
		}
	}
	return newest, nil, nil
}

// backupSchedule reads the interval of the cluster's database backup
// schedule and whether it is paused; without one, the default interval.
func (e *Evidence) backupSchedule(ctx context.Context, cluster string) (schemas.Duration, string, error) {
	every := schemas.Duration(schemas.DatabaseBackupEvery)
	if e.Temporal == nil {
		return every, schemas.ScheduleNone, errors.New("this worker has no Temporal client")
	}
	id := schemas.BackupScheduleID(cluster, schemas.BackupDatabase)
	desc, err := e.Temporal.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return every, schemas.ScheduleNone, nil
	}
	if err != nil {
		return every, schemas.ScheduleNone, fmt.Errorf("describe schedule %s: %w", id, err)
	}
	state := schemas.ScheduleActive
	if desc.Schedule.State != nil && desc.Schedule.State.Paused {
		state = schemas.SchedulePaused
	}
	if spec := desc.Schedule.Spec; spec != nil && len(spec.Intervals) > 0 {
		every = schemas.Duration(spec.Intervals[0].Every)
	}
	return every, state, nil
}

// monitor asks whether the cluster's HealthMonitor runs and is unpaused.
func (e *Evidence) monitor(ctx context.Context, cluster string) schemas.MonitorEvidence {
	var m schemas.MonitorEvidence
	if e.Temporal == nil {
		m.Error = "this worker has no Temporal client"
		return m
	}
	id := schemas.MonitorWorkflowID(cluster)
	desc, err := e.Temporal.DescribeWorkflowExecution(ctx, id, "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return m
	case err != nil:
		m.Error = fmt.Sprintf("describe %s: %v", id, err)
		return m
	case desc.GetWorkflowExecutionInfo().GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return m
	}
	m.Running = true
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := e.Temporal.QueryWorkflow(qctx, id, "", schemas.QueryStatus)
	var st schemas.MonitorState
	if err == nil {
		err = v.Get(&st)
	}
	if err != nil {
		m.Error = fmt.Sprintf("query %s: %v", id, err)
		return m
	}
	m.Status, m.Paused = st.Status, st.Paused
	for owner, reason := range st.PausedBy {
		m.PausedBy = append(m.PausedBy, owner+": "+reason)
	}
	sort.Strings(m.PausedBy)
	return m
}

func (e *Evidence) logger() *zap.Logger { return activities.OrNop(e.Logger) }
