package policy

import (
	"github.com/runnerhub/lifeboat/schemas"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// backupAt is a valid backup of kind that ended at end ("2026-03-15 01:00").
func backupAt(kind, end string) schemas.Manifest {
	t := at(end)
	return schemas.Manifest{ID: schemas.NewBackupID(t, kind), Kind: kind, Cluster: "dev", StartTime: t.Add(-time.Minute), EndTime: t}
}

func db(ends ...string) []schemas.Manifest {
	var ms []schemas.Manifest
	for _, e := range ends {
		ms = append(ms, backupAt(schemas.BackupDatabase, e))
	}
	return ms
}

func ids(ms []schemas.Manifest) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func idsAt(kind string, ends ...string) []string {
	out := make([]string, len(ends))
	for i, e := range ends {
		out[i] = schemas.NewBackupID(at(e), kind)
	}
	return out
}

// aYearOfDailyBackups is one database backup at 01:00 every day for the 365
// days up to retentionNow.
func aYearOfDailyBackups() []schemas.Manifest {
	var ms []schemas.Manifest
	for d := 0; d < 365; d++ {
		t := time.Date(2026, 3, 15, 1, 0, 0, 0, time.UTC).AddDate(0, 0, -d)
		ms = append(ms, schemas.Manifest{ID: schemas.NewBackupID(t, schemas.BackupDatabase), Kind: schemas.BackupDatabase, StartTime: t, EndTime: t})
	}
	return ms
}

func TestPlanRetention(t *testing.T) {
	def := schemas.RetentionPolicy{Daily: 7, Weekly: 4, Monthly: 12}
	tests := []struct {
		name       string
		in         []schemas.Manifest
		policy     schemas.RetentionPolicy
		wantKeep   []string
		wantReason map[string]string // ID -> substring of its reason
	}{
		{
			name:   "a year of daily backups keeps 7 days, 4 ISO weeks and 12 months",
			in:     aYearOfDailyBackups(),
			policy: def,
			wantKeep: idsAt(schemas.BackupDatabase,
				// daily: 9 to 15 March
				"2026-03-15 01:00", "2026-03-14 01:00", "2026-03-13 01:00", "2026-03-12 01:00",
				"2026-03-11 01:00", "2026-03-10 01:00", "2026-03-09 01:00",
				// weekly: Sundays of W10, W09, W08
				"2026-03-08 01:00", "2026-03-01 01:00", "2026-02-28 01:00", "2026-02-22 01:00",
				// monthly: last days of April 2025 to January 2026 (February above)
				"2026-01-31 01:00", "2025-12-31 01:00", "2025-11-30 01:00", "2025-10-31 01:00",
				"2025-09-30 01:00", "2025-08-31 01:00", "2025-07-31 01:00", "2025-06-30 01:00",
				"2025-05-31 01:00", "2025-04-30 01:00"),
			wantReason: map[string]string{
				schemas.NewBackupID(at("2026-03-15 01:00"), schemas.BackupDatabase): "newest database backup, daily 2026-03-15, weekly 2026-W11, monthly 2026-03",
				schemas.NewBackupID(at("2026-02-28 01:00"), schemas.BackupDatabase): "monthly 2026-02",
				schemas.NewBackupID(at("2026-03-07 01:00"), schemas.BackupDatabase): "not the newest of weekly 2026-W10 (20260308T010000Z-database is)",
				schemas.NewBackupID(at("2025-03-31 01:00"), schemas.BackupDatabase): "older than the policy keeps (7 daily, 4 weekly, 12 monthly)",
			},
		},
		{
			name:     "several backups on one day keep only the newest of the day",
			in:       db("2026-03-15 01:00", "2026-03-14 01:00", "2026-03-14 09:00", "2026-03-14 17:00"),
			policy:   schemas.RetentionPolicy{Daily: 7},
			wantKeep: idsAt(schemas.BackupDatabase, "2026-03-15 01:00", "2026-03-14 17:00"),
			wantReason: map[string]string{
				schemas.NewBackupID(at("2026-03-14 09:00"), schemas.BackupDatabase): "not the newest of daily 2026-03-14 (20260314T170000Z-database is)",
			},
		},
		{
			name:     "a gap keeps nothing for the missing days and does not reach further back",
			in:       db("2026-03-15 01:00", "2026-03-11 01:00", "2026-03-10 01:00"),
			policy:   schemas.RetentionPolicy{Daily: 3},
			wantKeep: idsAt(schemas.BackupDatabase, "2026-03-15 01:00"),
		},
		{
			name:     "a gap of weeks leaves the older monthlies to the monthly policy",
			in:       db("2026-03-15 01:00", "2026-01-20 01:00", "2026-01-10 01:00", "2025-12-05 01:00"),
			policy:   def,
			wantKeep: idsAt(schemas.BackupDatabase, "2026-03-15 01:00", "2026-01-20 01:00", "2025-12-05 01:00"),
		},
		{
			name:     "zero policy keeps only the newest of each kind",
			in:       append(db("2026-03-15 01:00", "2026-03-14 01:00"), backupAt(schemas.BackupFiles, "2026-03-13 01:00"), backupAt(schemas.BackupFiles, "2026-03-01 01:00")),
			policy:   schemas.RetentionPolicy{},
			wantKeep: append(idsAt(schemas.BackupDatabase, "2026-03-15 01:00"), idsAt(schemas.BackupFiles, "2026-03-13 01:00")...),
			wantReason: map[string]string{
				schemas.NewBackupID(at("2026-03-14 01:00"), schemas.BackupDatabase): "older than the policy keeps (0 daily, 0 weekly, 0 monthly)",
			},
		},
		{
			name:     "kinds are planned separately: an old config backup is its kind's newest",
			in:       append(db("2026-03-15 01:00", "2026-03-15 05:00"), backupAt(schemas.BackupConfig, "2024-01-01 00:00")),
			policy:   def,
			wantKeep: append(idsAt(schemas.BackupDatabase, "2026-03-15 05:00"), idsAt(schemas.BackupConfig, "2024-01-01 00:00")...),
			wantReason: map[string]string{
				schemas.NewBackupID(at("2024-01-01 00:00"), schemas.BackupConfig): "newest config backup",
			},
		},
		{
			name:     "the newest is kept even when older than every period",
			in:       db("2024-01-03 00:00", "2024-01-02 00:00", "2024-01-01 00:00"),
			policy:   def,
			wantKeep: idsAt(schemas.BackupDatabase, "2024-01-03 00:00"),
		},
		{
			name:     "a backup dated after now is kept",
			in:       db("2026-03-16 08:00", "2026-03-15 11:00", "2026-03-15 10:00"),
			policy:   schemas.RetentionPolicy{Daily: 1},
			wantKeep: idsAt(schemas.BackupDatabase, "2026-03-16 08:00", "2026-03-15 11:00"),
			wantReason: map[string]string{
				schemas.NewBackupID(at("2026-03-16 08:00"), schemas.BackupDatabase): "dated after now",
			},
		},
		{
			name:     "weeks are ISO weeks, starting on Monday",
			in:       db("2026-03-09 00:30", "2026-03-08 23:30", "2026-03-08 10:00", "2026-03-02 00:00", "2026-03-01 23:00"),
			policy:   schemas.RetentionPolicy{Weekly: 2},
			wantKeep: idsAt(schemas.BackupDatabase, "2026-03-09 00:30", "2026-03-08 23:30"),
			wantReason: map[string]string{
				schemas.NewBackupID(at("2026-03-02 00:00"), schemas.BackupDatabase): "not the newest of weekly 2026-W10",
				schemas.NewBackupID(at("2026-03-01 23:00"), schemas.BackupDatabase): "older than the policy keeps",
			},
		},
		{
			name:     "months are calendar months",
			in:       db("2026-03-01 00:00", "2026-02-28 23:59", "2026-02-01 00:00", "2026-01-31 23:59"),
			policy:   schemas.RetentionPolicy{Monthly: 2},
			wantKeep: idsAt(schemas.BackupDatabase, "2026-03-01 00:00", "2026-02-28 23:59"),
		},
		{
			name:   "empty input plans nothing",
			in:     nil,
			policy: def,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keep, remove, reasons := PlanRetention(tc.in, tc.policy, retentionNow)
			got := ids(keep)
			slices.Sort(got)
			want := slices.Clone(tc.wantKeep)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("kept %v\nwant %v", got, want)
			}
			if len(keep)+len(remove) != len(tc.in) {
				t.Errorf("kept %d + removed %d, want %d in all", len(keep), len(remove), len(tc.in))
			}
			for id, want := range tc.wantReason {
				if got := reasons[id]; !strings.Contains(got, want) {
					t.Errorf("reason of %s = %q, want it to contain %q", id, got, want)
				}
			}
		})
	}
}

func TestPlanRetention_OrdersByKindThenNewestFirst(t *testing.T) {
	in := []schemas.Manifest{backupAt(schemas.BackupFiles, "2026-03-10 00:00"), backupAt(schemas.BackupDatabase, "2026-03-11 00:00"),
		backupAt(schemas.BackupFiles, "2026-03-12 00:00"), backupAt(schemas.BackupDatabase, "2026-03-13 00:00")}
	keep, _, _ := PlanRetention(in, schemas.RetentionPolicy{Daily: 7}, retentionNow)
	got := ids(keep)
	want := append(idsAt(schemas.BackupDatabase, "2026-03-13 00:00", "2026-03-11 00:00"), idsAt(schemas.BackupFiles, "2026-03-12 00:00", "2026-03-10 00:00")...)
	if !slices.Equal(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
}

// FuzzPlanRetention checks the properties no input may break: the newest of
// each kind is kept, nothing newer than a kind's newest kept backup is
// removed, every input lands in exactly one list with a reason, the order
// of the input does not matter, and a larger policy never keeps less.
func FuzzPlanRetention(f *testing.F) {
	f.Add([]byte{7, 4, 12, 0, 1, 2, 1, 0, 5, 2, 3, 3})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 1, 1, 2, 255, 255, 2, 255, 255, 2, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		policy := schemas.RetentionPolicy{Daily: int(data[0] % 16), Weekly: int(data[1] % 8), Monthly: int(data[2] % 16)}
		var in []schemas.Manifest
		for i := 3; i+2 < len(data) && len(in) < 400; i += 3 {
			kind := schemas.BackupKinds[int(data[i])%len(schemas.BackupKinds)]
			// Up to 7 years back, and a little into the future.
			hoursAgo := int(data[i+1])<<8 | int(data[i+2]) - 100
			end := retentionNow.Add(-time.Duration(hoursAgo) * time.Hour)
			in = append(in, schemas.Manifest{ID: schemas.NewBackupID(end, kind) + "-" + string(rune('a'+len(in)%26)) + string(rune('a'+len(in)/26)), Kind: kind, EndTime: end})
		}
		keep, remove, reasons := PlanRetention(in, policy, retentionNow)

		all := append(ids(keep), ids(remove)...)
		slices.Sort(all)
		want := ids(in)
		slices.Sort(want)
		if !slices.Equal(all, want) {
			t.Fatalf("kept ∪ removed = %v, want the input %v", all, want)
		}
		for _, id := range want {
			if reasons[id] == "" {
				t.Errorf("%s has no reason", id)
			}
		}
		newestKept := map[string]schemas.Manifest{}
		for _, m := range keep {
			if n, ok := newestKept[m.Kind]; !ok || m.EndTime.After(n.EndTime) {
				newestKept[m.Kind] = m
			}
		}
		for _, r := range remove {
			n, ok := newestKept[r.Kind]
			if !ok {
				t.Fatalf("every %s backup removed, %s among them", r.Kind, r.ID)
			}
			if r.EndTime.After(n.EndTime) {
				t.Errorf("removed %s, newer than the newest kept %s", r.ID, n.ID)
			}
		}

		shuffled := slices.Clone(in)
		rand.New(rand.NewPCG(uint64(len(in)), 1)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		keep2, remove2, _ := PlanRetention(shuffled, policy, retentionNow)
		if !slices.Equal(ids(keep2), ids(keep)) || !slices.Equal(ids(remove2), ids(remove)) {
			t.Errorf("the plan depends on the order of the input")
		}

		bigger := schemas.RetentionPolicy{Daily: policy.Daily + 1, Weekly: policy.Weekly + 1, Monthly: policy.Monthly + 1}
		keep3, _, _ := PlanRetention(in, bigger, retentionNow)
		for _, id := range ids(keep) {
			if !slices.Contains(ids(keep3), id) {
				t.Errorf("%s kept by %v but removed by the larger %v", id, policy, bigger)
			}
		}
	})
}

func TestPlanWAL(t *testing.T) {
	dbOn := func(timeline int64, startLSN string) schemas.Manifest {
		return schemas.Manifest{ID: "b-" + startLSN, Kind: schemas.BackupDatabase, Timeline: timeline, StartLSN: startLSN}
	}
	names := []string{
		"00000001.history",
		"000000010000000000000004",
		"000000010000000000000006",
		"00000002.history",
		"000000020000000000000004",
		"000000020000000000000004.partial",
		"000000020000000000000005",
		"000000020000000000000005.00000028.backup",
		"000000020000000000000005.partial",
		"000000030000000000000007",
	}
	tests := []struct {
		name       string
		names      []string
		kept       []schemas.Manifest
		wantRemove []string
		wantErr    string
	}{
		{
			name:  "keeps from the backup's start segment on its timeline and later ones",
			names: names,
			kept:  []schemas.Manifest{dbOn(2, "0/5000028")},
			wantRemove: []string{
				"000000010000000000000004",
				"000000010000000000000006", // an older timeline, though after the start
				"000000020000000000000004",
				"000000020000000000000004.partial",
			},
		},
		{
			name:  "the oldest kept backup decides",
			names: names,
			kept:  []schemas.Manifest{dbOn(2, "0/7000000"), dbOn(1, "0/5000000")},
			wantRemove: []string{
				"000000010000000000000004",
				"000000020000000000000004",
				"000000020000000000000004.partial",
			},
		},
		{
			name:       "a start at the first byte of a segment needs that segment",
			names:      []string{"000000010000000000000004", "000000010000000000000005"},
			kept:       []schemas.Manifest{dbOn(1, "0/5000000")},
			wantRemove: []string{"000000010000000000000004"},
		},
		{
			name:  "without a kept database backup nothing is removed",
			names: names,
			kept:  []schemas.Manifest{{ID: "f", Kind: schemas.BackupFiles}},
		},
		{
			name:    "a segment of another size stops all removal",
			names:   []string{"000000010000000000000004", "000000010000000000000400"},
			kept:    []schemas.Manifest{dbOn(1, "0/5000000")},
			wantErr: "not 16 MiB",
		},
		{
			name:    "an unreadable start lsn stops all removal",
			names:   names,
			kept:    []schemas.Manifest{dbOn(1, "5000000")},
			wantErr: "start lsn",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keep, remove, err := PlanWAL(tc.names, tc.kept)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				if len(remove) != 0 || len(keep) != len(tc.names) {
					t.Errorf("on error kept %d and removed %v; want everything kept", len(keep), remove)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(remove, tc.wantRemove) {
				t.Errorf("removed %v\nwant    %v", remove, tc.wantRemove)
			}
			if len(keep)+len(remove) != len(tc.names) {
				t.Errorf("kept %d + removed %d, want %d", len(keep), len(remove), len(tc.names))
			}
			for _, k := range keep {
				if slices.Contains(remove, k) {
					t.Errorf("%s both kept and removed", k)
				}
			}
		})
	}
}

// now is a Sunday, the last day of ISO week 2026-W11 (Monday 9 March on).
var retentionNow = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
