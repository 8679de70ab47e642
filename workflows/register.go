package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/schemas"
)

// Registry is what workers and replayers register workflows with.
type Registry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// Register registers every workflow under its public type name, the name
// operators give to `temporal workflow start --type`. Each one decodes its
// own input (decodingRegistry), so bad input fails it with InvalidInput.
func Register(r Registry) {
	r = decodingRegistry{r}
	r = versioningRegistry{r} // each workflow's behaviour: versioning.go
	r.RegisterWorkflowWithOptions(CheckCluster, workflow.RegisterOptions{Name: schemas.CheckClusterWorkflow})
	r.RegisterWorkflowWithOptions(Backup, workflow.RegisterOptions{Name: schemas.BackupWorkflow})
	r.RegisterWorkflowWithOptions(Retention, workflow.RegisterOptions{Name: schemas.RetentionWorkflow})
	r.RegisterWorkflowWithOptions(Restore, workflow.RegisterOptions{Name: schemas.RestoreWorkflow})
	r.RegisterWorkflowWithOptions(FileSync, workflow.RegisterOptions{Name: schemas.FileSyncWorkflow})
	r.RegisterWorkflowWithOptions(VerifyFiles, workflow.RegisterOptions{Name: schemas.VerifyFilesWorkflow})
	r.RegisterWorkflowWithOptions(HealthMonitor, workflow.RegisterOptions{Name: schemas.HealthMonitorWorkflow})
	r.RegisterWorkflowWithOptions(Failover, workflow.RegisterOptions{Name: schemas.FailoverWorkflow})
	r.RegisterWorkflowWithOptions(Switchover, workflow.RegisterOptions{Name: schemas.SwitchoverWorkflow})
	r.RegisterWorkflowWithOptions(Rejoin, workflow.RegisterOptions{Name: schemas.RejoinWorkflow})
	r.RegisterWorkflowWithOptions(FailoverSlots, workflow.RegisterOptions{Name: schemas.FailoverSlotsWorkflow})
	r.RegisterWorkflowWithOptions(DRDrill, workflow.RegisterOptions{Name: schemas.DRDrillWorkflow})
	r.RegisterWorkflowWithOptions(DrillReports, workflow.RegisterOptions{Name: schemas.DrillReportsWorkflow})
}
