package schemas

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func intp(n int) *int { return &n }

func TestRetention_PolicyAppliesDefaultsToAbsentFieldsOnly(t *testing.T) {
	tests := []struct {
		name string
		in   *Retention
		want RetentionPolicy
	}{
		{"absent", nil, RetentionPolicy{7, 4, 12}},
		{"empty", &Retention{}, RetentionPolicy{7, 4, 12}},
		{"zero is kept as zero", &Retention{Daily: intp(0)}, RetentionPolicy{0, 4, 12}},
		{"all set", &Retention{Daily: intp(3), Weekly: intp(2), Monthly: intp(1)}, RetentionPolicy{3, 2, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.Policy(); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if err := (RetentionPolicy{Daily: -1}).Check(); err == nil || !strings.Contains(err.Error(), "backup.retention.daily") {
		t.Errorf("negative daily: err = %v, want one naming backup.retention.daily", err)
	}
}

func TestParseTopology_ReadsRetentionAndRefusesNegativeCounts(t *testing.T) {
	base, err := os.ReadFile(filepath.Join(topologiesDir, "valid", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	withRetention := func(r string) []byte {
		return []byte(strings.Replace(string(base), "backup:\n", "backup:\n  retention: "+r+"\n", 1))
	}
	topo, err := ParseTopology(withRetention("{daily: 0, monthly: 24}"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := topo.Backup.Retention.Policy(), (RetentionPolicy{0, 4, 24}); got != want {
		t.Errorf("policy %+v, want %+v", got, want)
	}
	for _, bad := range []string{"{daily: -1}", "{yearly: 2}", "{weekly: two}"} {
		if _, err := ParseTopology(withRetention(bad)); err == nil || !strings.Contains(err.Error(), "backup.retention") {
			t.Errorf("retention %s: err = %v, want a problem at backup.retention", bad, err)
		}
	}
}

func TestWALSegmentName(t *testing.T) {
	tests := []struct {
		timeline uint32
		lsn      string
		want     string
	}{
		{1, "0/0", "000000010000000000000000"},
		{1, "0/1000000", "000000010000000000000001"},
		{1, "0/6000028", "000000010000000000000006"},
		{1, "0/FFFFFFFF", "0000000100000000000000FF"},
		{2, "1/0", "000000020000000100000000"},
		{1, "16/B374D848", "0000000100000016000000B3"},
		{0x1A, "FFFFFFFF/FFFFFFFF", "0000001AFFFFFFFF000000FF"},
	}
	for _, tc := range tests {
		lsn, err := ParseLSN(tc.lsn)
		if err != nil {
			t.Fatal(err)
		}
		got := WALSegmentName(tc.timeline, lsn)
		if got != tc.want {
			t.Errorf("WALSegmentName(%d, %s) = %s, want %s", tc.timeline, tc.lsn, got, tc.want)
		}
		tli, segno, err := ParseWALSegment(got)
		if err != nil || tli != tc.timeline || segno != WALSegmentNo(lsn) {
			t.Errorf("ParseWALSegment(%s) = %d, %d, %v; want %d, %d", got, tli, segno, err, tc.timeline, WALSegmentNo(lsn))
		}
	}
}

func TestParseWALSegment_RefusesWhatIsNotA16MiBSegment(t *testing.T) {
	for _, name := range []string{"00000001.history", "000000010000000000000100", "../x", "00000001000000000000000g"} {
		if _, _, err := ParseWALSegment(name); err == nil {
			t.Errorf("ParseWALSegment(%q) accepted it", name)
		}
	}
}
