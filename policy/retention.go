package policy

import (
	"cmp"
	"fmt"
	"github.com/runnerhub/lifeboat/schemas"
	"slices"
	"strings"
	"time"
)

// PlanRetention applies a grandfather-father-son policy to valid backups,
// each kind on its own. Periods are UTC calendar days, ISO weeks and months
// counted back from now, the current one included; in each of the last
// Daily days, Weekly weeks and Monthly months the newest backup (by end
// time) is kept. A period without a backup keeps nothing: the policy bounds
// how far back recovery points reach, not how many there are. The newest
// backup of each kind is kept whatever the policy, and so is a backup dated
// after now, which no period can place. reasons maps every input ID to why
// it is kept or removed. keep and remove are ordered by kind, newest first.
func PlanRetention(manifests []schemas.Manifest, policy schemas.RetentionPolicy, now time.Time) (keep, remove []schemas.Manifest, reasons map[string]string) {
	now = now.UTC()
	sorted := slices.Clone(manifests)
	slices.SortStableFunc(sorted, func(a, b schemas.Manifest) int {
		if c := cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)); c != 0 {
			return c
		}
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		if c := b.EndTime.Compare(a.EndTime); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	reasons = make(map[string]string, len(sorted))
	for start := 0; start < len(sorted); {
		end := start + 1
		for end < len(sorted) && sorted[end].Kind == sorted[start].Kind {
			end++
		}
		k, r := planKind(sorted[start:end], policy, now, reasons)
		keep = append(keep, k...)
		remove = append(remove, r...)
		start = end
	}
	return keep, remove, reasons
}

// period is one of the policy's calendars.
type period struct {
	name  string
	count int
	// ago is how many periods before now's t falls in (0: the same one).
	ago   func(t, now time.Time) int
	label func(t time.Time) string
}

func periods(p schemas.RetentionPolicy) []period {
	return []period{
		{"daily", p.Daily, func(t, now time.Time) int { return dayNumber(now) - dayNumber(t) },
			func(t time.Time) string { return t.Format("2006-01-02") }},
		{"weekly", p.Weekly, func(t, now time.Time) int { return (mondayNumber(now) - mondayNumber(t)) / 7 },
			func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%04d-W%02d", y, w) }},
		{"monthly", p.Monthly, func(t, now time.Time) int { return monthNumber(now) - monthNumber(t) },
			func(t time.Time) string { return t.Format("2006-01") }},
	}
}

func kindRank(kind string) int {
	if i := slices.Index(schemas.BackupKinds, kind); i >= 0 {
		return i
	}
	return len(schemas.BackupKinds)
}

// dayNumber counts UTC days since 1970-01-01, negative before.
func dayNumber(t time.Time) int {
	s := t.UTC().Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return int(d)
}

// mondayNumber is the day number of the Monday starting t's ISO week.
func mondayNumber(t time.Time) int {
	return dayNumber(t) - (int(t.UTC().Weekday())+6)%7
}

func monthNumber(t time.Time) int {
	t = t.UTC()
	return t.Year()*12 + int(t.Month()) - 1
}

// PlanWAL splits archived WAL file names into those a kept database backup
// may need and the rest. A backup needs every segment from the one holding
// its start LSN on, on its own timeline and every later one; a segment is
// kept when any kept backup needs it (in a normal history the oldest one
// decides). .history files are always kept; .partial and .backup files
// follow their segment. With no kept database backup nothing is removed, and
// any name or LSN the arithmetic cannot read stops all removal with an error:
// WAL that might be needed is never guessed about.
func PlanWAL(names []string, kept []schemas.Manifest) (keep, remove []string, err error) {
	type need struct {
		timeline uint32
		segno    uint64
	}
	var needs []need
	for _, m := range kept {
		if m.Kind != schemas.BackupDatabase {
			continue
		}
		lsn, err := schemas.ParseLSN(m.StartLSN)
		if err != nil {
			return names, nil, fmt.Errorf("backup %s: start lsn: %w", m.ID, err)
		}
		if m.Timeline < 1 || m.Timeline > 0xFFFFFFFF {
			return names, nil, fmt.Errorf("backup %s: timeline %d is not a PostgreSQL timeline", m.ID, m.Timeline)
		}
		needs = append(needs, need{uint32(m.Timeline), schemas.WALSegmentNo(lsn)})
	}
	if len(needs) == 0 {
		return names, nil, nil
	}
	for _, name := range names {
		if strings.HasSuffix(name, ".history") {
			keep = append(keep, name)
			continue
		}
		tli, segno, err := schemas.ParseWALSegment(name)
		if err != nil {
			return names, nil, err
		}
		needed := slices.ContainsFunc(needs, func(n need) bool { return tli >= n.timeline && segno >= n.segno })
		if needed {
			keep = append(keep, name)
		} else {
			remove = append(remove, name)
		}
	}
	return keep, remove, nil
}

// planKind plans one kind's backups, sorted newest first.
func planKind(ms []schemas.Manifest, policy schemas.RetentionPolicy, now time.Time, reasons map[string]string) (keep, remove []schemas.Manifest) {
	why := make([][]string, len(ms))
	why[0] = append(why[0], "newest "+ms[0].Kind+" backup")
	// superseded[i] says, for a backup within a period's window that is not
	// the newest of its period, which backup is.
	superseded := make([]string, len(ms))
	for _, p := range periods(policy) {
		if p.count <= 0 {
			continue
		}
		lastLabel, lastID := "", ""
		for i, m := range ms {
			t := m.EndTime.UTC()
			if t.After(now) {
				continue
			}
			if p.ago(t, now) >= p.count {
				break // sorted newest first: every later one is older still
			}
			label := p.label(t)
			if label == lastLabel {
				if superseded[i] == "" {
					superseded[i] = fmt.Sprintf("not the newest of %s %s (%s is)", p.name, label, lastID)
				}
				continue
			}
			lastLabel, lastID = label, m.ID
			why[i] = append(why[i], p.name+" "+label)
		}
	}
	for i, m := range ms {
		if m.EndTime.After(now) {
			why[i] = append(why[i], "dated after now ("+m.EndTime.UTC().Format(time.RFC3339)+"): no period can place it")
		}
		switch {
		case len(why[i]) > 0:
			keep = append(keep, m)
			reasons[m.ID] = strings.Join(why[i], ", ")
		case superseded[i] != "":
			remove = append(remove, m)
			reasons[m.ID] = superseded[i]
		default:
			remove = append(remove, m)
			reasons[m.ID] = "older than the policy keeps (" + policy.String() + ")"
		}
	}
	return keep, remove
}
