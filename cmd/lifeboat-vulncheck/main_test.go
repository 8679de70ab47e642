package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteDB_IndexesEntriesByModuleAndDatesTheDatabase(t *testing.T) {
	out := t.TempDir()
	date := time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC)
	n, err := writeDB("testdata/osv", out, date)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("entries = %d, want 3", n)
	}

	var db struct{ Modified time.Time }
	readJSON(t, filepath.Join(out, "index", "db.json"), &db)
	if !db.Modified.Equal(date) {
		t.Errorf("db.json modified = %v, want %v", db.Modified, date)
	}

	var modules []struct {
		Path  string
		Vulns []struct{ ID string }
	}
	readJSON(t, filepath.Join(out, "index", "modules.json"), &modules)
	got := map[string][]string{}
	for _, m := range modules {
		for _, v := range m.Vulns {
			got[m.Path] = append(got[m.Path], v.ID)
		}
	}
	want := map[string][]string{
		"github.com/klauspost/compress": {"GO-0000-0002", "GO-0000-0003"}, // 0002 once for its two ranges
		"stdlib":                        {"GO-0000-0001"},
	}
	if len(got) != len(want) {
		t.Errorf("modules = %v, want %v", got, want)
	}
	for path, ids := range want {
		if len(got[path]) != len(ids) || got[path][0] != ids[0] || got[path][len(ids)-1] != ids[len(ids)-1] {
			t.Errorf("modules[%s] = %v, want %v", path, got[path], ids)
		}
	}

	for _, id := range []string{"GO-0000-0001", "GO-0000-0002", "GO-0000-0003"} {
		want, _ := os.ReadFile(filepath.Join("testdata", "osv", id+".json"))
		got, err := os.ReadFile(filepath.Join(out, "ID", id+".json"))
		if err != nil || string(got) != string(want) {
			t.Errorf("ID/%s.json: %v, not a copy of the entry", id, err)
		}
	}
}

// The real govulncheck reads the database writeDB builds, and the policy
// fails the call into a required module and only reports the one into the
// standard library.
func TestScan_ModuleFindingFailsStdlibFindingIsReported(t *testing.T) {
	govulncheck, err := filepath.Abs("../../bin/govulncheck")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath(govulncheck); err != nil {
		t.Fatalf("govulncheck is missing: run `make deps` (it installs golang.org/x/vuln/cmd/govulncheck into bin/): %v", err)
	}
	db := t.TempDir()
	if _, err := writeDB("testdata/osv", db, time.Now()); err != nil {
		t.Fatal(err)
	}

	rep, err := scan(govulncheck, db, []string{"./testdata/app"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.modules) != 1 || rep.modules[0].ID != "GO-0000-0002" || rep.modules[0].Module != "github.com/klauspost/compress" {
		t.Errorf("failing findings = %+v, want GO-0000-0002 in github.com/klauspost/compress only (GO-0000-0003 is fixed)", rep.modules)
	}
	if len(rep.stdlib) != 1 || rep.stdlib[0].ID != "GO-0000-0001" || rep.stdlib[0].Fixed != "v99.0.0" {
		t.Errorf("reported findings = %+v, want GO-0000-0001 fixed in v99.0.0", rep.stdlib)
	}
	for _, f := range append(rep.modules, rep.stdlib...) {
		if f.At == "" || f.Summary == "" {
			t.Errorf("%s: no call site or summary: %+v", f.ID, f)
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
