package ha

import "testing"

func TestSetDatabaseEntry_PointsOnlyTheNamedEntryAtThePrimary(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "entry replaced, its other parameters and the other entries kept",
			in:   "; pooled databases\n[databases]\nother = host=10.0.0.9 port=5432 dbname=other\napp = host=10.0.0.1 port=5432 dbname=app pool_size=20\n\n[users]\n",
			want: "; pooled databases\n[databases]\nother = host=10.0.0.9 port=5432 dbname=other\napp = dbname=app host=10.0.0.2 pool_size=20 port=5433\n\n[users]\n",
		},
		{
			name: "entry added to the section",
			in:   "[databases]\nother = host=10.0.0.9\n",
			want: "[databases]\napp = dbname=postgres host=10.0.0.2 port=5433\nother = host=10.0.0.9\n",
		},
		{
			name: "section and entry added to an empty file",
			in:   "",
			want: "[databases]\napp = dbname=postgres host=10.0.0.2 port=5433\n",
		},
		{
			name: "an entry of another section with the same name is not touched",
			in:   "[users]\napp = pool_mode=session\n",
			want: "[databases]\napp = dbname=postgres host=10.0.0.2 port=5433\n[users]\napp = pool_mode=session\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := setDatabaseEntry(tc.in, "app", "10.0.0.2", 5433, "postgres")
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestSyncStandbyNames_QuotesNodeNames(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"pg-a2"}, `ANY 1 ("pg-a2")`},
		{[]string{"pg-b1", "pg-a1"}, `ANY 1 ("pg-b1", "pg-a1")`},
	}
	for _, tc := range tests {
		if got := syncStandbyNames(tc.in); got != tc.want {
			t.Errorf("syncStandbyNames(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSlotName_FollowsTheStacksNaming(t *testing.T) {
	for in, want := range map[string]string{"pg-a2": "pg_a2", "PG.B1": "pg_b1", "db_3": "db_3"} {
		if got := SlotName(in); got != want {
			t.Errorf("SlotName(%q) = %q, want %q", in, got, want)
		}
	}
}
