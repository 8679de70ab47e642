package walarchive

import (
	"github.com/runnerhub/lifeboat/schemas"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseTimelineHistory(t *testing.T) {
	got, err := ParseTimelineHistory([]byte("1\t0/5000000\tno recovery target specified\n\n# comment\n2\t0/9000100\tbefore 2026-01-01\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []TimelineSwitch{{1, 0x5000000}, {2, 0x9000100}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"x\t0/1\n", "1\n", "1\tnope\n", "2\t0/5\n1\t0/9\n"} {
		if _, err := ParseTimelineHistory([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestWALChain_FirstMissing(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// segs makes segments first..last of a timeline, archived a minute apart
	// from minute first on, leaving out the ones in skip.
	segs := func(tli uint32, first, last uint64, skip ...uint64) []ArchivedSegment {
		var out []ArchivedSegment
		for s := first; s <= last; s++ {
			if !containsSeg(skip, s) {
				out = append(out, ArchivedSegment{tli, s, t0.Add(time.Duration(s) * time.Minute)})
			}
		}
		return out
	}
	at := func(minute int) *time.Time { u := t0.Add(time.Duration(minute)*time.Minute + time.Second); return &u }
	start := schemas.LSN(3*schemas.WALSegmentSize + 100)
	oneTLI := WALChain{Timeline: 1, Start: start, Newest: 1}
	// Timeline 1 ended in segment 6, timeline 2 in segment 9.
	threeTLIs := WALChain{Timeline: 1, Start: start, Newest: 3, History: []TimelineSwitch{{1, 6*schemas.WALSegmentSize + 40}, {2, 9*schemas.WALSegmentSize + 8}}}
	for _, tc := range []struct {
		name  string
		chain WALChain
		segs  []ArchivedSegment
		until *time.Time
		want  string
	}{
		{"whole", oneTLI, segs(1, 1, 10), nil, ""},
		{"gap in the middle", oneTLI, segs(1, 1, 10, 6), nil, "000000010000000000000006"},
		{"gap before the backup", oneTLI, segs(1, 1, 10, 2), nil, ""},
		{"start segment missing", oneTLI, segs(1, 4, 10), nil, "000000010000000000000003"},
		{"gap before until", oneTLI, segs(1, 1, 10, 6), at(7), "000000010000000000000006"},
		{"gap after until", oneTLI, segs(1, 1, 10, 8), at(6), ""},
		{"across timelines", threeTLIs, append(append(segs(1, 1, 5), segs(2, 6, 8)...), segs(3, 9, 12)...), nil, ""},
		{"gap on a later timeline", threeTLIs, append(append(segs(1, 1, 5), segs(2, 6, 8, 7)...), segs(3, 9, 12)...), nil, "000000020000000000000007"},
		{"old timeline past its end does not fill a gap", threeTLIs,
			append(append(segs(1, 1, 12), segs(2, 6, 8)...), segs(3, 9, 12, 11)...), nil, "00000003000000000000000B"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.chain.FirstMissing(tc.segs, tc.until)
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	stranger := WALChain{Timeline: 2, Start: start, Newest: 4, History: []TimelineSwitch{{1, 5 * schemas.WALSegmentSize}, {3, 7 * schemas.WALSegmentSize}}}
	if _, err := stranger.FirstMissing(segs(4, 1, 9), nil); err == nil || !strings.Contains(err.Error(), "does not descend") {
		t.Errorf("a newest timeline that does not descend from the backup's: %v", err)
	}
}

func TestWALChain_WalkListsWhatRecoveryReads(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var segs []ArchivedSegment
	add := func(tli uint32, first, last uint64) {
		for s := first; s <= last; s++ {
			segs = append(segs, ArchivedSegment{tli, s, t0.Add(time.Duration(s) * time.Minute)})
		}
	}
	add(1, 1, 7) // timeline 1 ended in segment 6; its segment 7 is an abandoned branch
	add(2, 6, 9)
	c := WALChain{Timeline: 1, Start: schemas.LSN(4 * schemas.WALSegmentSize), Newest: 2, History: []TimelineSwitch{{1, 6*schemas.WALSegmentSize + 40}}}
	read, missing, err := c.Walk(segs, nil)
	want := []string{"000000010000000000000004", "000000010000000000000005", "000000020000000000000006",
		"000000020000000000000007", "000000020000000000000008", "000000020000000000000009"}
	if err != nil || missing != "" || !slices.Equal(read, want) {
		t.Errorf("Walk = %v, %q, %v; want %v", read, missing, err, want)
	}
	until := t0.Add(7*time.Minute + time.Second)
	if read, _, _ := c.Walk(segs, &until); !slices.Equal(read, want[:5]) {
		t.Errorf("Walk until minute 7 = %v; want %v (up to the first archived after it)", read, want[:5])
	}
}

func containsSeg(s []uint64, v uint64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// FuzzParseTimelineHistory: any bytes parse or fail, and what parses is in
// increasing order, as the chain walk assumes.
func FuzzParseTimelineHistory(f *testing.F) {
	f.Add([]byte("1\t0/5000000\tno recovery target specified\n2\t0/9000100\tx\n"))
	f.Add([]byte("# c\n\n3 1/0 y"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseTimelineHistory(b)
		if err != nil {
			return
		}
		for i := 1; i < len(h); i++ {
			if h[i].Timeline <= h[i-1].Timeline || h[i].End < h[i-1].End {
				t.Fatalf("out of order: %v", h)
			}
		}
		c := WALChain{Timeline: 1, Newest: 1}
		if len(h) > 0 {
			c = WALChain{Timeline: h[0].Timeline, Newest: h[len(h)-1].Timeline + 1, History: h}
		}
		if _, err := c.FirstMissing([]ArchivedSegment{{Timeline: c.Newest, Segment: 3}}, nil); err != nil {
			t.Fatalf("a chain from a parsed history: %v", err)
		}
	})
}
