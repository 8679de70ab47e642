package walarchive

import (
	"bufio"
	"bytes"
	"fmt"
	"github.com/runnerhub/lifeboat/schemas"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TimelineSwitch is one line of a timeline history file: Timeline ended at
// LSN End, where its child began.
type TimelineSwitch struct {
	Timeline uint32
	End      schemas.LSN
}

// ParseTimelineHistory reads a PostgreSQL timeline history file ("1
// 0/3000158 reason" per line, oldest first; blank and # lines skipped).
func ParseTimelineHistory(b []byte) ([]TimelineSwitch, error) {
	var out []TimelineSwitch
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("line %d: %q: want a timeline and an LSN", n, line)
		}
		tli, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil || tli == 0 {
			return nil, fmt.Errorf("line %d: timeline %q is not a number from 1", n, f[0])
		}
		end, err := schemas.ParseLSN(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if k := len(out); k > 0 && (uint32(tli) <= out[k-1].Timeline || end < out[k-1].End) {
			return nil, fmt.Errorf("line %d: timeline %d at %s does not follow timeline %d at %s", n, tli, end, out[k-1].Timeline, out[k-1].End)
		}
		out = append(out, TimelineSwitch{Timeline: uint32(tli), End: end})
	}
	return out, sc.Err()
}

// ArchivedSegment is one WAL segment in the archive and when it got there.
type ArchivedSegment struct {
	Timeline   uint32
	Segment    uint64
	ArchivedAt time.Time
}

// WALChain is what a recovery from a base backup reads from the archive.
type WALChain struct {
	// Timeline and Start are the backup's timeline and start LSN.
	Timeline uint32
	Start    schemas.LSN
	// Newest is the newest timeline (recovery_target_timeline = latest)
	// and History its history file's lines; empty when Newest is the
	// backup's own timeline.
	Newest  uint32
	History []TimelineSwitch
}

// timelineSpan is the segments one timeline of the chain holds.
type timelineSpan struct {
	tli        uint32
	begin, end uint64 // end is the last segment, inclusive
}

// spans returns the chain's timelines newest first, from the backup's on.
func (c WALChain) spans() ([]timelineSpan, error) {
	if c.Newest == c.Timeline {
		return []timelineSpan{{c.Timeline, 0, ^uint64(0)}}, nil
	}
	var out []timelineSpan
	begin := uint64(0)
	found := false
	for _, s := range c.History {
		if s.Timeline == c.Timeline {
			found = true
		}
		if found {
			out = append(out, timelineSpan{s.Timeline, begin, schemas.WALSegmentNo(s.End)})
		}
		begin = schemas.WALSegmentNo(s.End)
	}
	if !found {
		return nil, fmt.Errorf("timeline %d, the newest in the archive, does not descend from the backup's timeline %d", c.Newest, c.Timeline)
	}
	out = append(out, timelineSpan{c.Newest, begin, ^uint64(0)})
	slices.Reverse(out)
	return out, nil
}

// FirstMissing returns the name of the first segment a recovery along the
// chain needs and the archive lacks, or "" when there is none; see Walk.
func (c WALChain) FirstMissing(segs []ArchivedSegment, until *time.Time) (string, error) {
	_, missing, err := c.Walk(segs, until)
	return missing, err
}

// Walk returns, in the order a recovery along the chain reads them, the
// names of the archived segments it needs, and the first one it needs and
// the archive lacks ("" when there is none; read then stops before it).
// The segments needed run from the backup's start to the end of the
// archive; with until, only to the first segment archived after it
// (PostgreSQL archives in order, so that one holds WAL written after
// until, and a recovery that stops short of a commit after until reports
// it failed). For each segment the newest timeline that holds it is read,
// then older ones, never older than the previous segment's, as PostgreSQL
// does.
func (c WALChain) Walk(segs []ArchivedSegment, until *time.Time) (read []string, missing string, err error) {
	spans, err := c.spans()
	if err != nil {
		return nil, "", err
	}
	type key struct {
		tli uint32
		seg uint64
	}
	have := map[key]time.Time{}
	last := uint64(0)
	for _, s := range segs {
		for _, sp := range spans {
			if s.Timeline == sp.tli && s.Segment >= sp.begin && s.Segment <= sp.end {
				have[key{s.Timeline, s.Segment}] = s.ArchivedAt
				last = max(last, s.Segment)
			}
		}
	}
	cur := c.Timeline
	for seg := schemas.WALSegmentNo(c.Start); seg <= last; seg++ {
		var at time.Time
		found := false
		for _, sp := range spans {
			if sp.tli < cur || seg < sp.begin {
				continue
			}
			if t, ok := have[key{sp.tli, seg}]; ok {
				cur, at, found = sp.tli, t, true
				break
			}
		}
		if !found {
			want := c.Timeline
			for _, sp := range spans {
				if seg >= sp.begin && sp.tli >= cur {
					want = sp.tli
					break
				}
			}
			return read, schemas.WALSegmentName(want, schemas.LSN(seg*schemas.WALSegmentSize)), nil
		}
		read = append(read, schemas.WALSegmentName(cur, schemas.LSN(seg*schemas.WALSegmentSize)))
		if until != nil && at.After(*until) {
			return read, "", nil
		}
	}
	return read, "", nil
}
