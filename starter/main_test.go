package main

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wantLines reads the `# want: path: message` lines of an invalid example.
func wantLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if w, ok := strings.CutPrefix(sc.Text(), "# want: "); ok {
			want = append(want, w)
		}
	}
	return want
}

func TestValidate_NamesEveryBadFieldAndFails(t *testing.T) {
	files, err := filepath.Glob("../testdata/topologies/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid examples: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run([]string{"validate", file}, &stdout, &stderr)
			if ee, ok := err.(exitError); !ok || ee.code != 1 {
				t.Fatalf("validate %s: err = %v, want exit code 1", file, err)
			}
			for _, w := range wantLines(t, file) {
				if !strings.Contains(stderr.String(), w+"\n") {
					t.Errorf("output lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

func TestValidate_AcceptsValidExamples(t *testing.T) {
	files, _ := filepath.Glob("../testdata/topologies/valid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no valid examples")
	}
	for _, file := range files {
		var stdout, stderr bytes.Buffer
		if err := run([]string{"validate", file}, &stdout, &stderr); err != nil {
			t.Errorf("validate %s: %v\n%s", file, err, stderr.String())
		}
		if !strings.Contains(stdout.String(), "is valid") {
			t.Errorf("validate %s printed %q", file, stdout.String())
		}
	}
}

func TestRun_UnknownCommandOrMissingFileIsUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run([]string{"validate"}, &stdout, &stderr); err != errUsage {
		t.Errorf("validate with no file: err = %v, want usage", err)
	}
	if err := run([]string{"frobnicate"}, &stdout, &stderr); err != errUsage {
		t.Errorf("unknown command: err = %v, want usage", err)
	}
}

func TestParseInterspersed_TakesFlagsAfterArguments(t *testing.T) {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "")
	pos, err := parseInterspersed(fs, []string{"dev", "--json"})
	if err != nil || len(pos) != 1 || pos[0] != "dev" || !*asJSON {
		t.Errorf("got %v, json=%v, err %v; want [dev], json=true", pos, *asJSON, err)
	}
}
