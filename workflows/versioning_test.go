package workflows

import (
	"testing"

	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/schemas"
)

// optionsRegistry keeps the options each workflow was registered with, by name.
type optionsRegistry map[string]workflow.RegisterOptions

func (r optionsRegistry) RegisterWorkflowWithOptions(_ any, o workflow.RegisterOptions) {
	r[o.Name] = o
}

func TestVersioningBehavior_LongLivedAutoUpgradeActionsArePinned(t *testing.T) {
	for _, tc := range []struct {
		workflow string
		want     workflow.VersioningBehavior
	}{
		{schemas.HealthMonitorWorkflow, workflow.VersioningBehaviorAutoUpgrade},
		{schemas.FailoverSlotsWorkflow, workflow.VersioningBehaviorAutoUpgrade},
		{schemas.FailoverWorkflow, workflow.VersioningBehaviorPinned},
		{schemas.SwitchoverWorkflow, workflow.VersioningBehaviorPinned},
		{schemas.RejoinWorkflow, workflow.VersioningBehaviorPinned},
		{schemas.BackupWorkflow, workflow.VersioningBehaviorPinned},
		{schemas.RestoreWorkflow, workflow.VersioningBehaviorPinned},
		{schemas.RetentionWorkflow, workflow.VersioningBehaviorPinned},
		{schemas.FileSyncWorkflow, workflow.VersioningBehaviorPinned},
		{schemas.VerifyFilesWorkflow, workflow.VersioningBehaviorPinned},
		{schemas.CheckClusterWorkflow, workflow.VersioningBehaviorPinned},
		{schemas.DRDrillWorkflow, workflow.VersioningBehaviorPinned},
		{schemas.DrillReportsWorkflow, workflow.VersioningBehaviorPinned},
		{"SomeFutureWorkflow", workflow.VersioningBehaviorPinned},
	} {
		if got := VersioningBehavior(tc.workflow); got != tc.want {
			t.Errorf("VersioningBehavior(%s) = %v, want %v", tc.workflow, got, tc.want)
		}
	}
}

// TestRegister_EveryWorkflowDeclaresItsBehaviour: a versioned worker refuses
// a workflow without one, and each must be a decision, listed in
// versioningBehaviors, not the fallback.
func TestRegister_EveryWorkflowDeclaresItsBehaviour(t *testing.T) {
	got := optionsRegistry{}
	Register(got)
	if len(got) == 0 {
		t.Fatal("Register registered nothing")
	}
	for name, o := range got {
		if o.VersioningBehavior == workflow.VersioningBehaviorUnspecified {
			t.Errorf("%s registered without a versioning behaviour", name)
		}
		if _, listed := versioningBehaviors[name]; !listed {
			t.Errorf("%s is not in versioningBehaviors: decide whether it is pinned or auto-upgrades", name)
		}
	}
	for _, name := range []string{schemas.HealthMonitorWorkflow, schemas.FailoverSlotsWorkflow, schemas.FailoverWorkflow, schemas.BackupWorkflow} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s is not registered", name)
		}
	}
}
