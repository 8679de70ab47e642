package deploy

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

func TestDescribe_StatesNewestFirst(t *testing.T) {
	at := time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC)
	v := func(build string, age time.Duration, drain client.WorkerDeploymentVersionDrainageStatus) client.WorkerDeploymentVersionSummary {
		return client.WorkerDeploymentVersionSummary{
			Version:    worker.WorkerDeploymentVersion{DeploymentName: "lifeboat", BuildID: build},
			CreateTime: at.Add(-age), DrainageStatus: drain,
		}
	}
	got := describe(client.WorkerDeploymentInfo{
		Name: "lifeboat",
		VersionSummaries: []client.WorkerDeploymentVersionSummary{
			v("v1", 4*time.Hour, client.WorkerDeploymentVersionDrainageStatusDrained),
			v("v3", time.Hour, 0),
			v("v2", 2*time.Hour, client.WorkerDeploymentVersionDrainageStatusDraining),
			v("v4", 0, 0),
			v("v5", -time.Hour, 0),
		},
		RoutingConfig: client.WorkerDeploymentRoutingConfig{
			CurrentVersion: &worker.WorkerDeploymentVersion{DeploymentName: "lifeboat", BuildID: "v3"},
			RampingVersion: &worker.WorkerDeploymentVersion{DeploymentName: "lifeboat", BuildID: "v4"},
		},
	})
	want := []struct{ build, state string }{{"v5", "inactive"}, {"v4", "ramping"}, {"v3", "current"}, {"v2", "draining"}, {"v1", "drained"}}
	if got.Current != "v3" || got.Ramping != "v4" || len(got.Versions) != len(want) {
		t.Fatalf("describe = %+v, want current v3, ramping v4, %d versions", got, len(want))
	}
	for i, w := range want {
		if g := got.Versions[i]; g.BuildID != w.build || g.State != w.state {
			t.Errorf("version %d = %s %s, want %s %s", i, g.BuildID, g.State, w.build, w.state)
		}
	}
}

func TestNotYetKnown_RetriesOnlyWhatAWaitCanFix(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{serviceerror.NewNotFound("version not found"), true},
		{fmt.Errorf("set: %w", serviceerror.NewFailedPrecondition("no pollers")), true},
		{serviceerror.NewInvalidArgument("deployment name cannot contain '.'"), false},
		{serviceerror.NewPermissionDenied("no", ""), false},
		{errors.New("connection refused"), false},
	} {
		if got := notYetKnown(tc.err); got != tc.want {
			t.Errorf("notYetKnown(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
