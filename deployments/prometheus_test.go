package deployments

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/backup"
	"github.com/runnerhub/lifeboat/schemas"
)

// ruleFile is a Prometheus rule file, strictly: a misspelt key fails.
type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []rule `json:"rules"`
	} `json:"groups"`
}

type rule struct {
	Record      string            `json:"record,omitempty"`
	Alert       string            `json:"alert,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

const alertsFile = "prometheus/alerts.yaml"

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	return f
}

// promtool returns the path of promtool, failing with how to install it.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("the alert rules are checked with promtool: `make deps` (as root) installs it, or apt-get install -y prometheus")
	}
	return p
}

func TestAlerts_PromtoolChecksAndUnitTests(t *testing.T) {
	tool := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", alertsFile},
		{"test", "rules", "prometheus/alerts_test.yaml"},
	} {
		out, err := exec.Command(tool, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func TestAlerts_EveryConditionOfTheRunbookHasOne(t *testing.T) {
	alerts := map[string]rule{}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts[r.Alert] = r
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s lacks a summary or a description", r.Alert)
			}
			if r.For != "" {
				if _, err := model.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for %q: %v", r.Alert, r.For, err)
				}
			}
		}
	}
	for _, want := range []string{
		"LifeboatBackupOverdue",            // no successful backup within 1.5 × its schedule
		"LifeboatWALArchiveBehindRPO",      // WAL archiving behind the RPO
		"LifeboatReplicationLagOverBudget", // replication lag over budget
		"LifeboatDrillFailed",              // a failed drill
		"LifeboatRTOBreached",              // an RTO breach
		"LifeboatMonitorNotRunning",        // a monitor not running
	} {
		if _, ok := alerts[want]; !ok {
			t.Errorf("no alert %s", want)
		}
	}
}

// The overdue alert knows the schedules only through these recordings:
// they must be what `lifeboat schedules apply` creates by default.
func TestAlerts_ScheduleIntervalsAreTheCLIDefaults(t *testing.T) {
	want := map[string]time.Duration{
		schemas.BackupDatabase: schemas.DatabaseBackupEvery,
		schemas.BackupFiles:    schemas.FilesBackupEvery,
		schemas.BackupConfig:   schemas.ConfigBackupEvery,
	}
	got := map[string]time.Duration{}
	re := regexp.MustCompile(`^vector\((\d+)\)$`)
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Record != "lifeboat:backup_schedule_interval_seconds" {
				continue
			}
			m := re.FindStringSubmatch(strings.TrimSpace(r.Expr))
			if m == nil {
				t.Fatalf("schedule recording %q: want vector(<seconds>)", r.Expr)
			}
			d, _ := time.ParseDuration(m[1] + "s")
			got[r.Labels["kind"]] = d
		}
	}
	for _, kind := range schemas.BackupKinds {
		if got[kind] != want[kind] {
			t.Errorf("schedule of %s backups = %v, want %v", kind, got[kind], want[kind])
		}
	}
}

func TestAlerts_NameOnlyMetricsTheWorkersExport(t *testing.T) {
	exported := workerMetrics(t)
	defined := map[string]bool{}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				defined[r.Record] = true
			}
		}
	}
	var exprs []string
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	unit, err := os.ReadFile("prometheus/alerts_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checkNames(t, alertsFile+" and its unit tests", append(exprs, string(unit)), exported, defined)
}

// metricRE finds Lifeboat's metric and recording rule names in PromQL.
var metricRE = regexp.MustCompile(`\blifeboat[_:][A-Za-z0-9_:]*`)

// checkNames fails for every Lifeboat name in texts that is neither
// exported by a worker nor a recording rule.
func checkNames(t *testing.T, where string, texts []string, exported map[string]string, defined map[string]bool) {
	t.Helper()
	seen := 0
	for _, text := range texts {
		for _, name := range metricRE.FindAllString(text, -1) {
			seen++
			if defined[name] {
				continue
			}
			base := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, suffix); ok && exported[b] == "histogram" {
					base = b
				}
			}
			if _, ok := exported[base]; !ok {
				t.Errorf("%s names %s, which no worker exports", where, name)
			}
		}
	}
	if seen == 0 {
		t.Errorf("%s names no Lifeboat metric", where)
	}
}

// workerMetrics returns every Lifeboat series a worker registers, name →
// "histogram" or "other": the Metrics of activities.NewMetrics and the
// collectors worker/main.go adds.
func workerMetrics(t *testing.T) map[string]string {
	t.Helper()
	var rec recorder
	activities.NewMetrics(&rec)
	rec.MustRegister(backup.BackupCollector(&backup.Backup{Topology: &schemas.Topology{Cluster: "dev"}}))
	names := map[string]string{}
	for _, c := range rec {
		kind := "other"
		if _, ok := c.(*prometheus.HistogramVec); ok {
			kind = "histogram"
		}
		ch := make(chan *prometheus.Desc, 16)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			// A Desc shows its name only in its String().
			m := descFQName.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("no name in %s", d)
			}
			names[m[1]] = kind
		}
	}
	if len(names) < 20 {
		t.Fatalf("a worker exports only %d series: %v", len(names), names)
	}
	return names
}

var descFQName = regexp.MustCompile(`^Desc\{fqName: "([^"]+)"`)

// recorder is a Registerer that keeps what is registered.
type recorder []prometheus.Collector

func (r *recorder) Register(c prometheus.Collector) error   { *r = append(*r, c); return nil }
func (r *recorder) MustRegister(cs ...prometheus.Collector) { *r = append(*r, cs...) }
func (r *recorder) Unregister(prometheus.Collector) bool    { return false }
