package schemas

import (
	"slices"
	"strings"
	"testing"
)

func TestValidate_ChecksFileSyncTargets(t *testing.T) {
	tests := []struct {
		name string
		sync FileSyncTarget
		want []string
	}{
		{"a directory in another region", FileSyncTarget{Region: "region-b", Path: "/srv/copy"}, nil},
		{"a directory beside the tree", FileSyncTarget{Region: "region-a", Path: "/srv/copy"}, nil},
		{"the backup store", FileSyncTarget{Store: SyncStoreBackup}, nil},
		{"nowhere", FileSyncTarget{}, []string{"files[0].sync.store: required, or region and path instead"}},
		{"two places", FileSyncTarget{Store: SyncStoreBackup, Region: "region-b", Path: "/x"},
			[]string{"files[0].sync: give either store, or region and path, not both"}},
		{"a directory without its region", FileSyncTarget{Path: "/srv/copy"}, []string{"files[0].sync.region: required"}},
		{"an unknown region and no path", FileSyncTarget{Region: "region-z"},
			[]string{"files[0].sync.path: required", `files[0].sync.region: no region named "region-z"`}},
		{"the tree itself", FileSyncTarget{Region: "region-a", Path: "/srv/uploads/"},
			[]string{"files[0].sync.path: overlaps the tree's own path /srv/uploads in region region-a"}},
		{"inside the tree", FileSyncTarget{Region: "region-a", Path: "/srv/uploads/copy"},
			[]string{"files[0].sync.path: overlaps the tree's own path /srv/uploads in region region-a"}},
		{"around the tree", FileSyncTarget{Region: "region-a", Path: "/srv"},
			[]string{"files[0].sync.path: overlaps the tree's own path /srv/uploads in region region-a"}},
		{"the same path in another region", FileSyncTarget{Region: "region-b", Path: "/srv/uploads"}, nil},
		{"a replica store the topology lacks", FileSyncTarget{Store: SyncStoreReplica}, []string{"files[0].sync.store: backup.replica is not set"}},
		{"an unknown store", FileSyncTarget{Store: "glacier"}, []string{"files[0].sync.store: must be one of backup, replica"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topo := minimalTopology()
			topo.Regions = append(topo.Regions, Region{Name: "region-b"})
			s := tc.sync
			topo.Files = []FileTree{{Name: "uploads", Region: "region-a", Path: "/srv/uploads", Sync: &s}}
			var got []string
			if err := topo.Validate(); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Validate:\ngot:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestFileTree_CopyRegionIsWhereTheCopyIsWritten(t *testing.T) {
	tests := []struct {
		tree FileTree
		want string
	}{
		{FileTree{Region: "region-a", Sync: &FileSyncTarget{Region: "region-b", Path: "/x"}}, "region-b"},
		{FileTree{Region: "region-a", Sync: &FileSyncTarget{Store: SyncStoreReplica}}, "region-a"},
		{FileTree{Region: "region-a"}, "region-a"},
	}
	for _, tc := range tests {
		if got := tc.tree.CopyRegion(); got != tc.want {
			t.Errorf("CopyRegion of %+v = %s, want %s", tc.tree.Sync, got, tc.want)
		}
	}
}
