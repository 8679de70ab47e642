package workflows

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/schemas"
)

// DRDrill rehearses disaster recovery without touching production: it
// restores the newest backup and archived WAL into a scratch server in the
// DR region and measures the achieved RTO and RPO (restore), rehearses a
// failover on a scratch primary and replica (failover), or both (full). It
// always removes what it built, also when it fails or is cancelled, then
// stores its report (JSON, Markdown, an SVG timeline) with the backups. A
// drill that did not pass raises an alert and fails with DrillFailed; its
// report is stored all the same.
func DRDrill(ctx workflow.Context, in schemas.DrillInput) (schemas.DrillReport, error) {
	if err := validateDrill(in); err != nil {
		return schemas.DrillReport{}, err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		clusterAttr.ValueSet(in.Cluster), kindAttr.ValueSet("drill-"+in.Kind)); err != nil {
		return schemas.DrillReport{}, fmt.Errorf("set search attributes: %w", err)
	}
	start := workflow.Now(ctx)
	topo, err := describeCluster(ctx, in.Cluster)
	if err != nil {
		return schemas.DrillReport{}, err
	}
	if err := topo.CheckDrill(); err != nil {
		return schemas.DrillReport{}, invalidInput("drill", err.Error())
	}
	d := &drill{
		ctx: ctx, topo: topo, start: start,
		region: drillRegion(topo),
		report: schemas.DrillReport{
			FormatVersion: schemas.DrillReportFormat, Cluster: in.Cluster, Kind: in.Kind,
			ID: schemas.NewDrillID(start, in.Kind), StartedAt: start,
			TargetRTOSeconds: topo.Targets.RTO.Std().Seconds(), TargetRPOSeconds: topo.Targets.RPO.Std().Seconds(),
		},
	}
	d.report.Region = d.region
	d.scratch = path.Join(topo.Drill.ScratchDir, d.report.ID)

	runErr := d.run(in.Kind)
	d.cleanUp(runErr)
	d.judge(runErr)
	d.report.EndedAt = workflow.Now(ctx)
	d.store()
	if !d.report.Passed {
		d.alert()
		return d.report, failure(schemas.ErrDrillFailed,
			fmt.Sprintf("drill %s of %s failed: %v (report: %s)", d.report.ID, in.Cluster, d.report.Failures, d.report.Keys.Markdown), runErr)
	}
	return d.report, nil
}

func validateDrill(in schemas.DrillInput) error {
	switch {
	case in.Cluster == "":
		return invalidInput("cluster", "required")
	case !slices.Contains(schemas.DrillKinds, in.Kind):
		return invalidInput("kind", fmt.Sprintf("%q: want one of %v", in.Kind, schemas.DrillKinds))
	}
	return nil
}

// drillRegion is where drills run: the DR region, else the first.
func drillRegion(topo schemas.Topology) string {
	if topo.Backup.DRRegion != "" {
		return topo.Backup.DRRegion
	}
	return topo.Regions[0].Name
}

// drill is one DRDrill run.
type drill struct {
	ctx     workflow.Context
	topo    schemas.Topology
	region  string
	start   time.Time
	scratch string
	report  schemas.DrillReport
	// failoverStarted says the drill set exists, or may, and must go.
	failoverStarted bool
}

// run does the parts of kind in order, stopping at the first error.
func (d *drill) run(kind string) error {
	if kind == schemas.DrillRestore || kind == schemas.DrillFull {
		if err := d.restore(); err != nil {
			return err
		}
	}
	if kind == schemas.DrillFailover || kind == schemas.DrillFull {
		if err := d.failover(); err != nil {
			return err
		}
	}
	return nil
}

// step runs f as a named step of the timeline.
func (d *drill) step(name string, f func() error) error {
	began := workflow.Now(d.ctx)
	err := f()
	d.report.Steps = append(d.report.Steps, schemas.TimedStep{
		Name: name, StartSeconds: began.Sub(d.start).Seconds(),
		Seconds: workflow.Now(d.ctx).Sub(began).Seconds(), Failed: err != nil,
	})
	return err
}

// restore restores the newest backup into a scratch server with the
// Restore workflow, verifies it, and measures RTO and RPO.
func (d *drill) restore() error {
	var restored schemas.RestoreResult
	err := d.step("restore newest backup", func() error {
		cctx := workflow.WithChildOptions(d.ctx, workflow.ChildWorkflowOptions{
			WorkflowID: workflow.GetInfo(d.ctx).WorkflowExecution.ID + "/restore",
			TaskQueue:  schemas.GlobalTaskQueue,
			// The cleanup must not race the child's last steps.
			WaitForCancellation: true,
		})
		return workflow.ExecuteChildWorkflow(cctx, schemas.RestoreWorkflow, schemas.RestoreInput{
			Cluster: d.topo.Cluster, Backup: schemas.LatestBackup, Region: d.region,
			DataDir: path.Join(d.scratch, "restore"), Port: d.topo.Drill.Port,
		}).Get(d.ctx, &restored)
	})
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	var r *backup.Drill
	var verified schemas.DrillVerifyResult
	err = d.step("verify data and heartbeat", func() error {
		opts := shortActivity(schemas.RegionTaskQueue(d.region))
		opts.StartToCloseTimeout = time.Hour
		opts.HeartbeatTimeout = time.Minute
		return workflow.ExecuteActivity(workflow.WithActivityOptions(d.ctx, opts), r.VerifyDrill,
			schemas.DrillVerifyInput{Cluster: d.topo.Cluster, Port: d.topo.Drill.Port}).Get(d.ctx, &verified)
	})
	if err != nil {
		return fmt.Errorf("verify the scratch server: %w", err)
	}
	res := &schemas.DrillRestoreResult{
		BackupID: restored.BackupID, RecoveredLSN: restored.RecoveredLSN, Tables: verified.Tables,
		RTOSeconds: workflow.Now(d.ctx).Sub(d.start).Seconds(),
	}
	d.report.Restore = res
	if verified.Heartbeat == nil {
		return fmt.Errorf("the restored copy holds no heartbeat (%s): is the cluster's HealthMonitor running?", schemas.HeartbeatTable)
	}
	res.Heartbeat = *verified.Heartbeat
	// WAL archived while the drill ran may be replayed too: a copy newer
	// than the drill's start lost nothing.
	res.RPOSeconds = max(d.start.Sub(res.Heartbeat).Seconds(), 0)
	return nil
}

// failover rehearses a failover with the real Failover workflow on the
// drill set (schemas.DrillClusterName): a scratch primary restored from
// the newest backup and a synchronous replica made from it, in the DR
// region. It kills the primary and measures from its death to the new
// primary's verified write.
func (d *drill) failover() error {
	d.failoverStarted = true
	set := schemas.DrillClusterName(d.topo.Cluster)
	var r *backup.Drill
	var routing *ha.Routing
	gctx := workflow.WithActivityOptions(d.ctx, shortActivity(schemas.GlobalTaskQueue))
	rctx := workflow.WithActivityOptions(d.ctx, shortActivity(schemas.RegionTaskQueue(d.region)))
	id := workflow.GetInfo(d.ctx).WorkflowExecution.ID

	err := d.step("restore scratch primary", func() error {
		if err := workflow.ExecuteActivity(gctx, routing.ResetDrillRouting, schemas.ResetDrillRoutingInput{Cluster: set}).Get(d.ctx, nil); err != nil {
			return err
		}
		cctx := workflow.WithChildOptions(d.ctx, workflow.ChildWorkflowOptions{
			WorkflowID: id + "/failover-primary", TaskQueue: schemas.GlobalTaskQueue, WaitForCancellation: true,
		})
		return workflow.ExecuteChildWorkflow(cctx, schemas.RestoreWorkflow, schemas.RestoreInput{
			Cluster: d.topo.Cluster, Backup: schemas.LatestBackup, Region: d.region,
			DataDir: path.Join(d.topo.Drill.ScratchDir, schemas.DrillSetDir, schemas.DrillPrimary), Port: d.topo.Drill.Port + 1,
		}).Get(d.ctx, nil)
	})
	if err != nil {
		return fmt.Errorf("failover drill: restore the scratch primary: %w", err)
	}
	err = d.step("build scratch replica", func() error {
		opts := shortActivity(schemas.RegionTaskQueue(d.region))
		opts.StartToCloseTimeout, opts.HeartbeatTimeout = time.Hour, time.Minute
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(d.ctx, opts), r.BuildDrillReplica,
			schemas.BuildDrillReplicaInput{Cluster: d.topo.Cluster}).Get(d.ctx, nil); err != nil {
			return err
		}
		return workflow.ExecuteActivity(gctx, routing.ResetDrillRouting,
			schemas.ResetDrillRoutingInput{Cluster: set, Primary: schemas.DrillPrimary}).Get(d.ctx, nil)
	})
	if err != nil {
		return fmt.Errorf("failover drill: build the scratch replica: %w", err)
	}
	err = d.step("kill scratch primary", func() error {
		return workflow.ExecuteActivity(rctx, r.KillDrillNode,
			schemas.KillDrillNodeInput{Cluster: d.topo.Cluster, Node: schemas.DrillPrimary}).Get(d.ctx, nil)
	})
	if err != nil {
		return fmt.Errorf("failover drill: kill the scratch primary: %w", err)
	}
	killed := workflow.Now(d.ctx)
	var fo schemas.FailoverResult
	err = d.step("fail over (Failover workflow)", func() error {
		cctx := workflow.WithChildOptions(d.ctx, workflow.ChildWorkflowOptions{
			WorkflowID: id + "/failover", TaskQueue: schemas.GlobalTaskQueue, WaitForCancellation: true,
			WorkflowTaskTimeout: schemas.FailoverTaskTimeout,
		})
		return workflow.ExecuteChildWorkflow(cctx, schemas.FailoverWorkflow, schemas.FailoverInput{
			Cluster: set, Failed: schemas.DrillPrimary, Epoch: 1, Synchronous: []string{schemas.DrillReplica},
			Reason: "disaster-recovery drill " + d.report.ID,
		}).Get(d.ctx, &fo)
	})
	if err != nil {
		return fmt.Errorf("failover drill: %w", err)
	}
	d.report.Failover = &schemas.DrillFailoverResult{
		RTOSeconds: workflow.Now(d.ctx).Sub(killed).Seconds(), FailoverSeconds: fo.Took.Seconds(),
		Promoted: fo.Promoted, Epoch: fo.Epoch, WorkflowID: id + "/failover",
	}
	if fo.Promoted != schemas.DrillReplica || fo.Epoch != 2 {
		return fmt.Errorf("failover drill: the Failover promoted %q at epoch %d, want %s at epoch 2", fo.Promoted, fo.Epoch, schemas.DrillReplica)
	}
	return nil
}

// cleanUp removes the scratch directory and every server in it, in a
// disconnected context so a cancelled drill cleans up too. After a
// cancellation the removal is repeated once the restore's last activity
// has had time to notice, so nothing it was writing survives.
func (d *drill) cleanUp(runErr error) {
	ctx, _ := workflow.NewDisconnectedContext(d.ctx)
	opts := shortActivity(schemas.RegionTaskQueue(d.region))
	opts.ScheduleToCloseTimeout = 30 * time.Minute
	opts.RetryPolicy.MaximumAttempts = 0
	actx := workflow.WithActivityOptions(ctx, opts)
	var r *backup.Drill
	remove := func() error {
		return workflow.ExecuteActivity(actx, r.RemoveScratch,
			schemas.RemoveScratchInput{Cluster: d.topo.Cluster, Dir: d.scratch}).Get(ctx, nil)
	}
	removeSet := func() error {
		if !d.failoverStarted {
			return nil
		}
		var routing *ha.Routing
		if err := workflow.ExecuteActivity(actx, r.RemoveScratch, schemas.RemoveScratchInput{
			Cluster: d.topo.Cluster, Dir: path.Join(d.topo.Drill.ScratchDir, schemas.DrillSetDir),
		}).Get(ctx, nil); err != nil {
			return err
		}
		gctx := workflow.WithActivityOptions(ctx, shortActivity(schemas.GlobalTaskQueue))
		return workflow.ExecuteActivity(gctx, routing.ResetDrillRouting,
			schemas.ResetDrillRoutingInput{Cluster: schemas.DrillClusterName(d.topo.Cluster)}).Get(ctx, nil)
	}
	saved := d.ctx
	d.ctx = ctx
	err := d.step("clean up", func() error {
		if err := errors.Join(remove(), removeSet()); err != nil {
			return err
		}
		if temporal.IsCanceledError(runErr) {
			if err := workflow.Sleep(ctx, 15*time.Second); err != nil {
				return err
			}
			return errors.Join(remove(), removeSet())
		}
		return nil
	})
	d.ctx = saved
	if err != nil {
		d.report.Failures = append(d.report.Failures, fmt.Sprintf("clean up %s: %v", d.scratch, err))
	}
}

// judge sets Passed: every part ran and verified, and met the targets.
func (d *drill) judge(runErr error) {
	r := &d.report
	if runErr != nil {
		r.Failures = append(r.Failures, runErr.Error())
	}
	if rs := r.Restore; rs != nil && runErr == nil {
		if rs.RTOSeconds > r.TargetRTOSeconds {
			r.Failures = append(r.Failures, fmt.Sprintf("restore RTO %.1fs is over the target %.1fs", rs.RTOSeconds, r.TargetRTOSeconds))
		}
		if rs.RPOSeconds > r.TargetRPOSeconds {
			r.Failures = append(r.Failures, fmt.Sprintf("RPO %.1fs is over the target %.1fs", rs.RPOSeconds, r.TargetRPOSeconds))
		}
	}
	if f := r.Failover; f != nil && runErr == nil && f.RTOSeconds > r.TargetRTOSeconds {
		r.Failures = append(r.Failures, fmt.Sprintf("failover RTO %.1fs is over the target %.1fs", f.RTOSeconds, r.TargetRTOSeconds))
	}
	r.Passed = len(r.Failures) == 0
}

// store writes the report to the object store, in a disconnected context:
// a cancelled drill keeps its evidence too.
func (d *drill) store() {
	ctx, _ := workflow.NewDisconnectedContext(d.ctx)
	var r *backup.Drill
	var out schemas.WriteDrillReportResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, shortActivity(schemas.GlobalTaskQueue)), r.WriteDrillReport,
		schemas.WriteDrillReportInput{Report: d.report}).Get(ctx, &out)
	if err != nil {
		d.report.Passed = false
		d.report.Failures = append(d.report.Failures, fmt.Sprintf("store the report: %v", err))
		return
	}
	d.report.Keys = out.Keys
}

// alert raises a failed drill on the same path as an RTO breach.
func (d *drill) alert() {
	ctx, _ := workflow.NewDisconnectedContext(d.ctx)
	var routing *ha.Routing
	summary := fmt.Sprintf("%s drill %s failed: %v", d.report.Kind, d.report.ID, d.report.Failures)
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, shortActivity(schemas.GlobalTaskQueue)), routing.Alert,
		schemas.AlertInput{Cluster: d.topo.Cluster, Kind: "drill_failed", Severity: "critical", Summary: summary}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(d.ctx).Error("drill alert not delivered", "error", err)
	}
}

// DrillReports returns a cluster's stored drill reports for the CLI.
func DrillReports(ctx workflow.Context, in schemas.DrillReportsInput) (schemas.DrillReportsResult, error) {
	if in.Cluster == "" {
		return schemas.DrillReportsResult{}, invalidInput("cluster", "required")
	}
	if in.ID != "" && !schemas.BackupIDPattern.MatchString(in.ID) {
		return schemas.DrillReportsResult{}, invalidInput("id", fmt.Sprintf("%q is not a drill ID such as 20261129T052643Z-restore", in.ID))
	}
	var r *backup.Drill
	var out schemas.DrillReportsResult
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, shortActivity(schemas.GlobalTaskQueue)), r.DrillReports, in).Get(ctx, &out); err != nil {
		return out, wrap(err, "read drill reports")
	}
	return out, nil
}
