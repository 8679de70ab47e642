package policy

import (
	"testing"

	"github.com/runnerhub/lifeboat/schemas"
)

func TestSynchronous_SyncAndQuorumCount(t *testing.T) {
	for _, tc := range []struct {
		state string
		want  bool
	}{
		{schemas.SyncStateSync, true},
		{schemas.SyncStateQuorum, true},
		{schemas.SyncStatePotential, false},
		{schemas.SyncStateAsync, false},
		{"", false},
		{"SYNC", false}, // PostgreSQL reports lower case only
	} {
		if got := Synchronous(tc.state); got != tc.want {
			t.Errorf("Synchronous(%q) = %v, want %v", tc.state, got, tc.want)
		}
	}
}
