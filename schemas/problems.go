package schemas

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a topology, at the place it is wrong.
type Problem struct {
	// Path locates the value, as in regions[1].postgres[0].dsn.
	Path string
	// Message says what is wrong, briefly.
	Message string
}

// String returns "path: message".
func (p Problem) String() string { return p.Path + ": " + p.Message }

// Problems is every problem found in a topology. Reporting all of them at once
// spares the operator a fix-and-retry loop per mistake.
type Problems []Problem

// Error returns one "path: message" line per problem, sorted by path.
func (ps Problems) Error() string {
	sorted := ps.sorted()
	lines := make([]string, len(sorted))
	for i, p := range sorted {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sorted returns a sorted copy without duplicates. Indexes compare as numbers,
// so regions[2] comes before regions[10].
func (ps Problems) sorted() Problems {
	out := slices.Clone(ps)
	slices.SortStableFunc(out, func(a, b Problem) int {
		if c := comparePaths(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	return slices.Compact(out)
}

// orNil returns nil for no problems, so callers can test err != nil.
func (ps Problems) orNil() error {
	if len(ps) == 0 {
		return nil
	}
	return ps.sorted()
}

// comparePaths orders paths segment by segment, numerically within brackets.
func comparePaths(a, b string) int {
	sa, sb := pathSegments(a), pathSegments(b)
	for i := 0; i < len(sa) && i < len(sb); i++ {
		if c := compareSegments(sa[i], sb[i]); c != 0 {
			return c
		}
	}
	return len(sa) - len(sb)
}

func compareSegments(a, b string) int {
	na, errA := strconv.Atoi(a)
	nb, errB := strconv.Atoi(b)
	if errA == nil && errB == nil {
		return na - nb
	}
	return strings.Compare(a, b)
}

var segmentRE = regexp.MustCompile(`\[[0-9]+\]|\["(?:[^"\\]|\\.)*"\]|[^.\[]+`)

// pathSegments splits regions[1].dsn into "regions", "1", "dsn".
func pathSegments(p string) []string {
	segs := segmentRE.FindAllString(p, -1)
	for i, s := range segs {
		if strings.HasPrefix(s, "[") && !strings.HasPrefix(s, `["`) {
			segs[i] = s[1 : len(s)-1]
		}
	}
	return segs
}

// problemPath builds the Path of a Problem.
type problemPath string

// rootPath names the whole document, for problems that belong to no field.
const rootPath problemPath = "(root)"

var plainKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// field returns p.name; odd keys are quoted so the path stays unambiguous.
func (p problemPath) field(name string) problemPath {
	if !plainKeyRE.MatchString(name) {
		name = "[" + strconv.Quote(name) + "]"
		if p == "" || p == rootPath {
			return problemPath(name)
		}
		return p + problemPath(name)
	}
	if p == "" || p == rootPath {
		return problemPath(name)
	}
	return p + "." + problemPath(name)
}

// index returns p[i].
func (p problemPath) index(i int) problemPath { return p + problemPath(fmt.Sprintf("[%d]", i)) }

// problem makes a Problem at p; a path of "" means the whole document.
func (p problemPath) problem(msg string) Problem {
	if p == "" {
		p = rootPath
	}
	return Problem{Path: string(p), Message: msg}
}
