// Command lifeboat-vulncheck runs govulncheck offline, for `make lint`: it
// builds a vulnerability database from a pinned golang.org/x/vulndb module,
// runs govulncheck against it and applies the project's policy (see report).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const vulndbModule = "golang.org/x/vulndb"

func main() {
	version := flag.String("vulndb", "", "version of "+vulndbModule+" to build the database from")
	dir := flag.String("db", ".dev/vulndb", "directory the database is built in (reused while it holds that version)")
	govulncheck := flag.String("govulncheck", "govulncheck", "govulncheck binary")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: lifeboat-vulncheck -vulndb VERSION [flags] [packages]\n\nflags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *version == "" {
		flag.Usage()
		os.Exit(2)
	}
	patterns := flag.Args()
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	failed, err := run(*version, *dir, *govulncheck, patterns)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lifeboat-vulncheck:", err)
		os.Exit(1)
	}
	if failed {
		os.Exit(1)
	}
}

func run(version, dir, govulncheck string, patterns []string) (failed bool, err error) {
	dir, err = filepath.Abs(dir)
	if err != nil {
		return false, err
	}
	date, entries, err := ensureDB(version, dir)
	if err != nil {
		return false, fmt.Errorf("vulnerability database: %w", err)
	}
	fmt.Printf("vulncheck: database %s@%s, entries up to %s (%d entries)\n",
		vulndbModule, version, date.Format("2006-01-02"), entries)

	rep, err := scan(govulncheck, dir, patterns)
	if err != nil {
		return false, err
	}
	rep.print(os.Stdout)
	return len(rep.modules) > 0, nil
}

// scan runs govulncheck on patterns against the database in dir.
func scan(govulncheck, dir string, patterns []string) (report, error) {
	var out, stderr bytes.Buffer
	cmd := exec.Command(govulncheck, append([]string{"-db", "file://" + dir, "-format", "json"}, patterns...)...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return report{}, fmt.Errorf("%s: %w\n%s", govulncheck, err, stderr.Bytes())
	}
	rep, err := readReport(&out)
	if err != nil {
		return report{}, fmt.Errorf("read govulncheck output: %w", err)
	}
	return rep, nil
}

// ensureDB builds, or reuses, the govulncheck database of vulndb version
// in dir and returns its date and number of entries.
func ensureDB(version, dir string) (time.Time, int, error) {
	src, err := download(version)
	if err != nil {
		return time.Time{}, 0, err
	}
	var stamp struct {
		Version string
		Entries int
	}
	if b, err := os.ReadFile(filepath.Join(dir, "lifeboat-stamp.json")); err == nil &&
		json.Unmarshal(b, &stamp) == nil && stamp.Version == version {
		return src.Time, stamp.Entries, nil
	}

	// Build beside dir and swap it in, so an interrupted build leaves no
	// half database to be reused.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return time.Time{}, 0, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".build-")
	if err != nil {
		return time.Time{}, 0, err
	}
	defer os.RemoveAll(tmp)
	n, err := writeDB(filepath.Join(src.Dir, "data", "osv"), tmp, src.Time)
	if err != nil {
		return time.Time{}, 0, err
	}
	stamp.Version, stamp.Entries = version, n
	b, _ := json.Marshal(stamp)
	if err := os.WriteFile(filepath.Join(tmp, "lifeboat-stamp.json"), b, 0o644); err != nil {
		return time.Time{}, 0, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return time.Time{}, 0, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return time.Time{}, 0, err
	}
	return src.Time, n, nil
}

// module is a downloaded vulndb module, fetched through the Go module proxy
// like any module: its directory in the module cache and the time of its
// pseudo-version, the commit the entries are as of.
type module struct {
	Dir  string
	Time time.Time
}

func download(version string) (module, error) {
	// Outside any module, so the repository's go.mod and go.sum stay as
	// they are.
	tmp, err := os.MkdirTemp("", "lifeboat-vulndb-")
	if err != nil {
		return module{}, err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "mod", "download", "-json", vulndbModule+"@"+version)
	cmd.Dir = tmp
	out, err := cmd.Output() // -json reports its own errors on stdout
	var res struct {
		Dir, Info, Error string
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		return module{}, fmt.Errorf("go mod download %s@%s: %v %v", vulndbModule, version, err, jerr)
	}
	if res.Error != "" || err != nil {
		return module{}, fmt.Errorf("go mod download %s@%s: %s %v", vulndbModule, version, res.Error, err)
	}
	b, err := os.ReadFile(res.Info)
	if err != nil {
		return module{}, err
	}
	var info struct{ Time time.Time }
	if err := json.Unmarshal(b, &info); err != nil {
		return module{}, fmt.Errorf("%s: %w", res.Info, err)
	}
	return module{Dir: res.Dir, Time: info.Time}, nil
}

// osvEntry is the part of an OSV entry the index needs.
type osvEntry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
	} `json:"affected"`
}

// moduleVuln is one row of a module in index/modules.json.
type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
}

// writeDB writes, in out, the database layout govulncheck reads from a
// file:// URL (https://go.dev/security/vuln/database#api): ID/<id>.json,
// index/modules.json and index/db.json, from the OSV files in osvDir. It
// returns the number of entries.
//
// The index leaves out each vulnerability's "fixed" version: govulncheck
// uses it only to skip reading entries, and filters each entry it reads by
// its ranges anyway. index/db.json's "modified" is the vulndb commit's time,
// since the repository's entries carry no modification times.
func writeDB(osvDir, out string, date time.Time) (int, error) {
	files, err := filepath.Glob(filepath.Join(osvDir, "*.json"))
	if err != nil {
		return 0, err
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("no OSV entries in %s", osvDir)
	}
	for _, d := range []string{"ID", "index"} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			return 0, err
		}
	}
	modules := map[string][]moduleVuln{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		var e osvEntry
		if err := json.Unmarshal(b, &e); err != nil {
			return 0, fmt.Errorf("%s: %w", f, err)
		}
		if filepath.Base(f) != e.ID+".json" {
			return 0, fmt.Errorf("%s: holds entry %q", f, e.ID)
		}
		if err := os.WriteFile(filepath.Join(out, "ID", e.ID+".json"), b, 0o644); err != nil {
			return 0, err
		}
		for _, a := range e.Affected {
			vs := modules[a.Package.Name]
			if len(vs) > 0 && vs[len(vs)-1].ID == e.ID {
				continue // one entry, several ranges of one module
			}
			modules[a.Package.Name] = append(vs, moduleVuln{ID: e.ID, Modified: e.Modified})
		}
	}

	type moduleMeta struct {
		Path  string       `json:"path"`
		Vulns []moduleVuln `json:"vulns"`
	}
	index := make([]moduleMeta, 0, len(modules))
	for path, vulns := range modules {
		index = append(index, moduleMeta{Path: path, Vulns: vulns})
	}
	sort.Slice(index, func(i, j int) bool { return index[i].Path < index[j].Path })
	if err := writeJSON(filepath.Join(out, "index", "modules.json"), index); err != nil {
		return 0, err
	}
	db := struct {
		Modified time.Time `json:"modified"`
	}{date}
	if err := writeJSON(filepath.Join(out, "index", "db.json"), db); err != nil {
		return 0, err
	}
	return len(files), nil
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// finding is one vulnerability our code calls: the module it is in (stdlib
// for the standard library), the version found, the fix, and where our code
// reaches it.
type finding struct {
	ID, Summary, Module, Found, Fixed, At string
}

// report is govulncheck's result split by the policy: a vulnerable symbol
// our code calls in a required module fails; one in the standard library is
// reported with the Go release that fixes it but does not fail, since the
// fix is a newer Go toolchain rather than a change to this repository.
type report struct {
	goVersion string
	modules   []finding // fail
	stdlib    []finding // reported
}

// readReport reads govulncheck's -format json stream and keeps the
// vulnerabilities whose symbols our code calls, one finding per
// vulnerability and module.
func readReport(r io.Reader) (report, error) {
	var rep report
	summaries := map[string]string{}
	seen := map[string]bool{}
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Config *struct {
				GoVersion string `json:"go_version"`
			} `json:"config"`
			OSV *struct {
				ID      string `json:"id"`
				Summary string `json:"summary"`
			} `json:"osv"`
			Finding *struct {
				OSV          string `json:"osv"`
				FixedVersion string `json:"fixed_version"`
				Trace        []struct {
					Module   string `json:"module"`
					Version  string `json:"version"`
					Function string `json:"function"`
					Position *struct {
						Filename string `json:"filename"`
						Line     int    `json:"line"`
					} `json:"position"`
				} `json:"trace"`
			} `json:"finding"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return report{}, err
		}
		switch {
		case msg.Config != nil:
			rep.goVersion = msg.Config.GoVersion
		case msg.OSV != nil:
			summaries[msg.OSV.ID] = msg.OSV.Summary
		case msg.Finding != nil:
			f := msg.Finding
			// A finding whose first frame names no function is an imported
			// package or a required module, not a call.
			if len(f.Trace) == 0 || f.Trace[0].Function == "" {
				continue
			}
			vuln := f.Trace[0]
			key := f.OSV + " " + vuln.Module
			if seen[key] {
				continue
			}
			seen[key] = true
			// The trace runs from the vulnerable symbol to our code.
			at := ""
			if p := f.Trace[len(f.Trace)-1].Position; p != nil {
				at = fmt.Sprintf("%s:%d", p.Filename, p.Line)
			}
			fd := finding{ID: f.OSV, Module: vuln.Module, Found: vuln.Version, Fixed: f.FixedVersion, At: at}
			if vuln.Module == "stdlib" {
				rep.stdlib = append(rep.stdlib, fd)
			} else {
				rep.modules = append(rep.modules, fd)
			}
		}
	}
	for _, l := range []*[]finding{&rep.modules, &rep.stdlib} {
		for i := range *l {
			(*l)[i].Summary = summaries[(*l)[i].ID]
		}
		sort.Slice(*l, func(i, j int) bool { return (*l)[i].ID < (*l)[j].ID })
	}
	return rep, nil
}

func (rep report) print(w io.Writer) {
	for _, f := range rep.modules {
		fmt.Fprintf(w, "FAIL %s %s@%s, fixed in %s: %s (called at %s)\n", f.ID, f.Module, f.Found, f.Fixed, f.Summary, f.At)
	}
	if len(rep.modules) > 0 {
		fmt.Fprintf(w, "vulncheck: %d vulnerabilities called in required modules: upgrade them (go get MODULE@FIXED, go mod tidy)\n", len(rep.modules))
	}
	newest := ""
	for _, f := range rep.stdlib {
		fmt.Fprintf(w, "stdlib %s go%s, fixed in go%s: %s (called at %s)\n",
			f.ID, strings.TrimPrefix(f.Found, "v"), strings.TrimPrefix(f.Fixed, "v"), f.Summary, f.At)
		if goLess(newest, f.Fixed) {
			newest = f.Fixed
		}
	}
	if len(rep.stdlib) > 0 {
		fmt.Fprintf(w, "vulncheck: %d vulnerabilities called in the standard library of %s, fixed by Go %s or newer (reported, not failing)\n",
			len(rep.stdlib), rep.goVersion, strings.TrimPrefix(newest, "v"))
	}
	if len(rep.modules)+len(rep.stdlib) == 0 {
		fmt.Fprintln(w, "vulncheck: no vulnerability called")
	}
}

// goLess orders Go releases as govulncheck writes them (v1.26.9, v1.26.10).
func goLess(a, b string) bool {
	pa, pb := strings.Split(strings.TrimPrefix(a, "v"), "."), strings.Split(strings.TrimPrefix(b, "v"), ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y int
		if i < len(pa) {
			fmt.Sscan(pa[i], &x)
		}
		if i < len(pb) {
			fmt.Sscan(pb[i], &y)
		}
		if x != y {
			return x < y
		}
	}
	return false
}
