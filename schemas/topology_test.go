package schemas

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const topologiesDir = "../testdata/topologies"

func exampleFiles(t testing.TB, kind string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(topologiesDir, kind, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no examples in %s/%s", topologiesDir, kind)
	}
	return files
}

func TestLoadTopology_AcceptsValidExamples(t *testing.T) {
	for _, file := range exampleFiles(t, "valid") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			topo, err := LoadTopology(file)
			if err != nil {
				t.Fatalf("LoadTopology: %v", err)
			}
			if err := topo.Validate(); err != nil {
				t.Errorf("Validate of a parsed topology: %v", err)
			}
		})
	}
}

func TestLoadTopology_ReadsTwoRegions(t *testing.T) {
	topo, err := LoadTopology(filepath.Join(topologiesDir, "valid", "two-regions.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := topo.RegionNames(), []string{"region-a", "region-b"}; !slices.Equal(got, want) {
		t.Errorf("regions = %v, want %v", got, want)
	}
	if got, want := topo.Targets.RPO.Std(), 30*time.Second; got != want {
		t.Errorf("rpo = %v, want %v", got, want)
	}
	if got := topo.Backup.Store.SecretKey; got == nil || got.Env != "LIFEBOAT_S3_SECRET_KEY" {
		t.Errorf("secret_key = %+v, want env LIFEBOAT_S3_SECRET_KEY", got)
	}
	if got, want := topo.Backup.DRRegion, "region-b"; got != want {
		t.Errorf("dr_region = %q, want %q", got, want)
	}
}

func TestLoadTopology_WrapsReadErrors(t *testing.T) {
	_, err := LoadTopology(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want one wrapping os.ErrNotExist", err)
	}
}

// wantLines returns the "# want: " lines of an invalid example.
func wantLines(data []byte) []string {
	var want []string
	for line := range strings.Lines(string(data)) {
		if w, ok := strings.CutPrefix(strings.TrimSpace(line), "# want: "); ok {
			want = append(want, w)
		}
	}
	return want
}

func TestParseTopology_ReportsEveryProblemOfInvalidExamples(t *testing.T) {
	files := exampleFiles(t, "invalid")
	if len(files) < 8 {
		t.Errorf("only %d invalid examples, want at least 8", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			want := wantLines(data)
			if len(want) == 0 {
				t.Fatal("no # want: lines")
			}
			topo, err := ParseTopology(data)
			if err == nil {
				t.Fatalf("ParseTopology accepted it: %+v", topo)
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error %T is not Problems: %v", err, err)
			}
			got := strings.Split(ps.Error(), "\n")
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("problems differ\ngot:\n  %s\nwant:\n  %s",
					strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}

func TestParseTopology_RoundTripsThroughJSON(t *testing.T) {
	for _, file := range exampleFiles(t, "valid") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			topo, err := ParseTopology(data)
			if err != nil {
				t.Fatal(err)
			}
			checkRoundTrip(t, topo)
		})
	}
}

// checkRoundTrip marshals topo to JSON, parses that again and wants the same value.
func checkRoundTrip(t *testing.T, topo *Topology) {
	t.Helper()
	js, err := json.Marshal(topo)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	again, err := ParseTopology(js)
	if err != nil {
		t.Fatalf("parse of marshalled topology: %v\n%s", err, js)
	}
	if !reflect.DeepEqual(topo, again) {
		t.Fatalf("round trip changed the topology\nbefore: %+v\nafter:  %+v", topo, again)
	}
}

func TestParseTopology_ProblemsAreSortedWithNumericIndexes(t *testing.T) {
	ps := Problems{
		{Path: "targets.rto", Message: "b"},
		{Path: "regions[10].name", Message: "a"},
		{Path: "regions[2].postgres[0].dsn", Message: "a"},
		{Path: "regions[2].name", Message: "a"},
		{Path: "backup", Message: "a"},
	}
	got := ps.Error()
	want := strings.Join([]string{
		"backup: a",
		"regions[2].name: a",
		"regions[2].postgres[0].dsn: a",
		"regions[10].name: a",
		"targets.rto: b",
	}, "\n")
	if got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
}

func TestParseTopology_RejectsNonMappings(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "(root): must be a mapping"},
		{"- a\n- b\n", "(root): must be a mapping"},
		{"cluster: [\n", "(root): not valid YAML: "},
	} {
		_, err := ParseTopology([]byte(tc.in))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("ParseTopology(%q) = %v, want %q...", tc.in, err, tc.want)
		}
	}
}

// minimalTopology is a valid topology built in Go, for tests to spoil.
func minimalTopology() *Topology {
	return &Topology{
		Cluster: "solo",
		Regions: []Region{{
			Name:     "region-a",
			Postgres: []PostgresNode{{Name: "pg-1", DSN: "host=127.0.0.1 dbname=postgres"}},
		}},
		Backup: Backup{
			Store:      Store{Type: StoreLocal, Path: "/var/backups"},
			Recipients: []string{"age1dq24zp9p5cqmg2mfty2sea8eaueusvg7u49288369y7qf5r5dcls34g47g"},
		},
		Targets: Targets{RTO: Duration(time.Minute), RPO: Duration(time.Second)},
	}
}

func TestValidate_ChecksTopologiesBuiltInGo(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(*Topology)
		want  []string
	}{
		{"valid", func(*Topology) {}, nil},
		{"zero value", func(t *Topology) { *t = Topology{} }, []string{
			"backup.recipients: must not be empty",
			"backup.store.type: required",
			"cluster: required",
			"regions: must not be empty",
			"targets.rpo: must be greater than 0",
			"targets.rto: must be greater than 0",
		}},
		{"missing dsn", func(t *Topology) { t.Regions[0].Postgres[0].DSN = "" }, []string{
			"regions[0].postgres[0].dsn: required",
		}},
		{"password in dsn", func(t *Topology) { t.Regions[0].Postgres[0].DSN = "host=h password=x" }, []string{
			"regions[0].postgres[0].dsn: must not contain a password: use password: {env: ...} or {file: ...}",
		}},
		{"redis without master name", func(t *Topology) {
			t.Regions[0].Redis = []RedisNode{{Name: "cache-1", Addr: "[::1]:6379"}}
		}, []string{
			"redis.master_name: required when the cluster has redis nodes or sentinels",
		}},
		{"bad store type", func(t *Topology) { t.Backup.Store.Type = "gcs" }, []string{
			"backup.store.type: must be one of s3, local",
		}},
		{"s3 without bucket", func(t *Topology) { t.Backup.Store = Store{Type: StoreS3} }, []string{
			"backup.store.bucket: required for an s3 store",
		}},
		{"negative monitor values", func(t *Topology) {
			t.Monitor = Monitor{ProbeInterval: Duration(-time.Second), FailureThreshold: -1}
		}, []string{
			"monitor.failure_threshold: must be at least 1",
			"monitor.probe_interval: must be at least 100ms",
		}},
		{"replica is the primary store", func(t *Topology) {
			r := t.Backup.Store
			t.Backup.Replica = &r
		}, []string{
			"backup.replica: is the same store as backup.store: a replica must be a second store",
		}},
		{"replica without bucket in an unknown region", func(t *Topology) {
			t.Backup.Replica = &Store{Type: StoreS3}
			t.Backup.ReplicaRegion = "region-z"
		}, []string{
			"backup.replica.bucket: required for an s3 store",
			"backup.replica_region: no region named \"region-z\"",
		}},
		{"secret key without access key", func(t *Topology) {
			t.Backup.Store = Store{Type: StoreS3, Bucket: "b", SecretKey: &Secret{Env: "S"}}
		}, []string{
			"backup.store.access_key: required when secret_key is set",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topo := minimalTopology()
			tc.spoil(topo)
			var got []string
			if err := topo.Validate(); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Validate:\ngot:\n  %s\nwant:\n  %s",
					strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func FuzzParseTopology(f *testing.F) {
	for _, kind := range []string{"valid", "invalid"} {
		for _, file := range exampleFiles(f, kind) {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		topo, err := ParseTopology(data)
		if err != nil {
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error %T is not Problems: %v", err, err)
			}
			if len(ps) == 0 {
				t.Fatal("error with no problems")
			}
			for _, p := range ps {
				if p.Path == "" || strings.Contains(p.String(), "\n") {
					t.Fatalf("problem %q is not one non-empty line", p)
				}
			}
			return
		}
		if err := topo.Validate(); err != nil {
			t.Fatalf("accepted topology fails Validate: %v", err)
		}
		checkRoundTrip(t, topo)
	})
}

func TestCheckClusterName_IsTheTopologysRule(t *testing.T) {
	for name, ok := range map[string]bool{
		"dev": true, "prod-eu": true, "a" + strings.Repeat("b", 62): true,
		"": false, "Dev": false, "1dev": false, "a'b": false, "a b": false, "a" + strings.Repeat("b", 63): false,
	} {
		err := CheckClusterName(name)
		if (err == nil) != ok || (err == nil) != (checkName("cluster", name) == nil) {
			t.Errorf("CheckClusterName(%q) = %v, want ok = %v as the topology's check", name, err, ok)
		}
	}
}
