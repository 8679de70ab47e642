package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/schemas"
)

func drillTopology() schemas.Topology {
	topo := twoRegions()
	topo.Backup.DRRegion = "region-b"
	topo.Targets = schemas.Targets{RTO: schemas.Duration(15 * time.Minute), RPO: schemas.Duration(5 * time.Minute)}
	topo.Drill = &schemas.Drill{ScratchDir: "/srv/drills", Port: 15700, Tables: []string{"demo.orders"}}
	return topo
}

// newDrillEnv mocks the Restore child and every activity a restore drill
// runs; tests override what they need with fresh expectations first.
func newDrillEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	return newDrillEnvOf(t, drillTopology())
}

func newDrillEnvOf(t *testing.T, topo schemas.Topology) *testsuite.TestWorkflowEnvironment {
	env := newEnv(t)
	env.RegisterWorkflow(DRDrill)
	env.RegisterWorkflowWithOptions(Restore, workflow.RegisterOptions{Name: schemas.RestoreWorkflow})
	env.RegisterActivity(&backup.Restore{})
	env.RegisterActivity(&backup.Drill{})
	env.RegisterActivity(&ha.Routing{})
	env.OnActivity("DescribeCluster", mock.Anything, mock.Anything).Return(schemas.DescribeClusterResult{Topology: topo}, nil)
	env.OnActivity("RemoveScratch", mock.Anything, mock.Anything).Return(schemas.RemoveScratchResult{Removed: true}, nil)
	env.OnActivity("WriteDrillReport", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in schemas.WriteDrillReportInput) (schemas.WriteDrillReportResult, error) {
			return schemas.WriteDrillReportResult{Keys: schemas.DrillReportKeys(in.Report.Cluster, in.Report.ID)}, nil
		})
	env.OnActivity("Alert", mock.Anything, mock.Anything).Return(schemas.AlertResult{}, nil)
	return env
}

func TestDRDrill_RestoreMeasuresRTOAndRPOAndCleansUp(t *testing.T) {
	env := newDrillEnv(t)
	start := env.Now()
	heartbeat := start.Add(-40 * time.Second)
	env.OnWorkflow(schemas.RestoreWorkflow, mock.Anything, mock.MatchedBy(func(in schemas.RestoreInput) bool {
		return in.Region == "region-b" && in.Port == 15700 && in.Backup == "latest" && strings.HasPrefix(in.DataDir, "/srv/drills/")
	})).After(20*time.Second).Return(schemas.RestoreResult{BackupID: "20261129T090000Z-database", RecoveredLSN: "0/5000060"}, nil)
	env.OnActivity("VerifyDrill", mock.Anything, schemas.DrillVerifyInput{Cluster: "dev", Port: 15700}).Return(schemas.DrillVerifyResult{
		Heartbeat: &heartbeat, Tables: []schemas.TableCheck{{Table: "demo.orders", Rows: 10000, Checksum: "42"}},
	}, nil)

	env.ExecuteWorkflow(DRDrill, schemas.DrillInput{Cluster: "dev", Kind: schemas.DrillRestore})
	var rep schemas.DrillReport
	if err := env.GetWorkflowResult(&rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Passed || rep.Restore == nil {
		t.Fatalf("report %+v: want a passed restore drill", rep)
	}
	if rs := rep.Restore; rs.RPOSeconds < 39 || rs.RPOSeconds > 41 || rs.RTOSeconds < 20 || rs.Tables[0].Rows != 10000 {
		t.Errorf("restore %+v: want RPO 40s (start minus heartbeat), RTO at least the restore's 20s, the table's rows", rs)
	}
	// The cleanup removes the drill's own scratch directory, once.
	env.AssertCalled(t, "RemoveScratch", mock.Anything, schemas.RemoveScratchInput{Cluster: "dev", Dir: "/srv/drills/" + rep.ID})
	env.AssertNumberOfCalls(t, "RemoveScratch", 1)
	if rep.Keys.JSON == "" || len(rep.Steps) != 3 || rep.Steps[2].Name != "clean up" {
		t.Errorf("report keys %+v, steps %+v: want stored, with the cleanup last on the timeline", rep.Keys, rep.Steps)
	}
	env.AssertNotCalled(t, "Alert", mock.Anything, mock.Anything)
}

func TestDRDrill_WithoutHeartbeatFailsAlertsAndStillCleansUpAndReports(t *testing.T) {
	env := newDrillEnv(t)
	env.OnWorkflow(schemas.RestoreWorkflow, mock.Anything, mock.Anything).Return(schemas.RestoreResult{BackupID: "b"}, nil)
	env.OnActivity("VerifyDrill", mock.Anything, mock.Anything).Return(schemas.DrillVerifyResult{}, nil)

	env.ExecuteWorkflow(DRDrill, schemas.DrillInput{Cluster: "dev", Kind: schemas.DrillRestore})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != schemas.ErrDrillFailed || !strings.Contains(err.Error(), "heartbeat") {
		t.Fatalf("error = %v, want DrillFailed about the missing heartbeat", err)
	}
	env.AssertCalled(t, "RemoveScratch", mock.Anything, mock.Anything)
	env.AssertCalled(t, "WriteDrillReport", mock.Anything, mock.MatchedBy(func(in schemas.WriteDrillReportInput) bool { return !in.Report.Passed }))
	env.AssertCalled(t, "Alert", mock.Anything, mock.MatchedBy(func(in schemas.AlertInput) bool { return in.Kind == "drill_failed" }))
}

func TestDRDrill_OverTheRPOTargetFails(t *testing.T) {
	env := newDrillEnv(t)
	old := env.Now().Add(-10 * time.Minute)
	env.OnWorkflow(schemas.RestoreWorkflow, mock.Anything, mock.Anything).Return(schemas.RestoreResult{BackupID: "b"}, nil)
	env.OnActivity("VerifyDrill", mock.Anything, mock.Anything).Return(schemas.DrillVerifyResult{Heartbeat: &old}, nil)
	env.ExecuteWorkflow(DRDrill, schemas.DrillInput{Cluster: "dev", Kind: schemas.DrillRestore})
	if err := env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "RPO") {
		t.Fatalf("error = %v, want the RPO over its target", err)
	}
}

func TestDRDrill_CancelledCleansUpAfterTheRestoreStops(t *testing.T) {
	env := newDrillEnv(t)
	env.OnWorkflow(schemas.RestoreWorkflow, mock.Anything, mock.Anything).After(time.Hour).Return(schemas.RestoreResult{}, nil)
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Minute)
	env.ExecuteWorkflow(DRDrill, schemas.DrillInput{Cluster: "dev", Kind: schemas.DrillRestore})
	if err := env.GetWorkflowError(); err == nil {
		t.Fatal("a cancelled drill returned no error")
	}
	// Once at once, once after the restore's last activity had time to stop.
	env.AssertNumberOfCalls(t, "RemoveScratch", 2)
	env.AssertCalled(t, "WriteDrillReport", mock.Anything, mock.MatchedBy(func(in schemas.WriteDrillReportInput) bool { return !in.Report.Passed }))
}

func TestDRDrill_RejectsBadInputNamingTheField(t *testing.T) {
	for _, tc := range []struct {
		in    schemas.DrillInput
		field string
	}{
		{schemas.DrillInput{Kind: schemas.DrillRestore}, "cluster"},
		{schemas.DrillInput{Cluster: "dev", Kind: "chaos"}, "kind"},
	} {
		env := newDrillEnv(t)
		env.ExecuteWorkflow(DRDrill, tc.in)
		var appErr *temporal.ApplicationError
		if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != schemas.ErrInvalidInput || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%+v: error = %v, want InvalidInput naming %s", tc.in, err, tc.field)
		}
	}
	topo := drillTopology()
	topo.Drill = nil
	env := newDrillEnvOf(t, topo)
	env.ExecuteWorkflow(DRDrill, schemas.DrillInput{Cluster: "dev", Kind: schemas.DrillRestore})
	if err := env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "drill.scratch_dir") {
		t.Errorf("error = %v, want the missing drill.scratch_dir named", err)
	}
}

func TestDRDrill_FailoverRunsTheRealFailoverOnTheDrillSetAndTearsItDown(t *testing.T) {
	env := newDrillEnv(t)
	env.RegisterWorkflowWithOptions(Failover, workflow.RegisterOptions{Name: schemas.FailoverWorkflow})
	env.OnWorkflow(schemas.RestoreWorkflow, mock.Anything, mock.MatchedBy(func(in schemas.RestoreInput) bool {
		return in.Port == 15701 && in.DataDir == "/srv/drills/failover-set/drill-primary" && in.Region == "region-b"
	})).Return(schemas.RestoreResult{BackupID: "b"}, nil)
	env.OnActivity("ResetDrillRouting", mock.Anything, mock.Anything).Return(schemas.ResetDrillRoutingResult{}, nil)
	env.OnActivity("BuildDrillReplica", mock.Anything, schemas.BuildDrillReplicaInput{Cluster: "dev"}).Return(schemas.BuildDrillReplicaResult{}, nil)
	env.OnActivity("KillDrillNode", mock.Anything, schemas.KillDrillNodeInput{Cluster: "dev", Node: schemas.DrillPrimary}).Return(schemas.KillDrillNodeResult{PID: 42}, nil)
	env.OnWorkflow(schemas.FailoverWorkflow, mock.Anything, mock.MatchedBy(func(in schemas.FailoverInput) bool {
		return in.Cluster == "dev-drill" && in.Failed == schemas.DrillPrimary && in.Epoch == 1
	})).After(3*time.Second).Return(schemas.FailoverResult{Promoted: schemas.DrillReplica, Epoch: 2, Took: 3 * time.Second}, nil)

	env.ExecuteWorkflow(DRDrill, schemas.DrillInput{Cluster: "dev", Kind: schemas.DrillFailover})
	var rep schemas.DrillReport
	if err := env.GetWorkflowResult(&rep); err != nil {
		t.Fatal(err)
	}
	if f := rep.Failover; !rep.Passed || f == nil || f.Promoted != schemas.DrillReplica || f.RTOSeconds < 3 || rep.Restore != nil {
		t.Fatalf("report %+v: want a passed failover drill with its RTO, and no restore part", rep)
	}
	// Torn down: the drill's directory, the drill set's, and its routing record.
	env.AssertCalled(t, "RemoveScratch", mock.Anything, schemas.RemoveScratchInput{Cluster: "dev", Dir: "/srv/drills/failover-set"})
	env.AssertCalled(t, "ResetDrillRouting", mock.Anything, schemas.ResetDrillRoutingInput{Cluster: "dev-drill"})
}

func TestFailover_TwoNodeClusterPromotesWithoutWaitingForTheDeadPrimary(t *testing.T) {
	f := &failover{in: schemas.FailoverInput{Failed: "a"}}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.ExecuteWorkflow(func(ctx workflow.Context) ([][]string, error) {
		f.ctx = ctx
		return [][]string{f.syncStandbys([]string{"a"}), f.syncStandbys([]string{"a", "c"})}, nil
	})
	var got [][]string
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if len(got[0]) != 0 || len(got[1]) != 2 {
		t.Errorf("sync standbys = %v: want none when only the failed primary is left, every other node otherwise", got)
	}
}
