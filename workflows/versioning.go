package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/schemas"
)

// Versioning behaviours (Worker Versioning). A pinned workflow runs to its
// end on the build that started it, whatever build is promoted meanwhile:
// an action that moves a primary or writes a backup never switches code
// half-way. An auto-upgrading workflow moves to the current build at its
// next workflow task after a promotion — the long-lived ones, which would
// otherwise hold an old build's workers for ever; changes to them keep
// old histories replaying (workflow.GetVersion), as replay_test checks.
const (
	pinned      = workflow.VersioningBehaviorPinned
	autoUpgrade = workflow.VersioningBehaviorAutoUpgrade
)

// versioningBehaviors is the behaviour of each workflow type. A type not
// listed is pinned: a new workflow is not moved to code it did not start on
// unless someone decided it may be.
var versioningBehaviors = map[string]workflow.VersioningBehavior{
	// Long-lived: run for ever, continuing as new; each new run starts on
	// the current build as well.
	schemas.HealthMonitorWorkflow: autoUpgrade,
	schemas.FailoverSlotsWorkflow: autoUpgrade,

	schemas.FailoverWorkflow:     pinned,
	schemas.SwitchoverWorkflow:   pinned,
	schemas.RejoinWorkflow:       pinned,
	schemas.BackupWorkflow:       pinned,
	schemas.RestoreWorkflow:      pinned,
	schemas.RetentionWorkflow:    pinned,
	schemas.FileSyncWorkflow:     pinned,
	schemas.VerifyFilesWorkflow:  pinned,
	schemas.CheckClusterWorkflow: pinned,
	schemas.DRDrillWorkflow:      pinned,
	schemas.DrillReportsWorkflow: pinned,
}

// VersioningBehavior returns how workflows of type name meet a new build.
func VersioningBehavior(name string) workflow.VersioningBehavior {
	if b, ok := versioningBehaviors[name]; ok {
		return b
	}
	return pinned
}

// versioningRegistry registers each workflow with its behaviour from
// versioningBehaviors, unless the registration sets one itself.
type versioningRegistry struct{ Registry }

// RegisterWorkflowWithOptions fills options.VersioningBehavior from the
// workflow's name.
func (r versioningRegistry) RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions) {
	if options.VersioningBehavior == workflow.VersioningBehaviorUnspecified {
		options.VersioningBehavior = VersioningBehavior(options.Name)
	}
	r.Registry.RegisterWorkflowWithOptions(w, options)
}
