package deployments

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const dashboardFile = "grafana/lifeboat.json"

type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID          int        `json:"id"`
	Type        string     `json:"type"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Datasource  datasource `json:"datasource"`
	GridPos     struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string     `json:"refId"`
		Expr       string     `json:"expr"`
		Datasource datasource `json:"datasource"`
	} `json:"targets"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

func TestDashboard_HasTheSectionsAndWellFormedPanels(t *testing.T) {
	d := loadDashboard(t)
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 36 {
		t.Errorf("title %q, uid %q, schemaVersion %d: want a title, a uid and a current schema", d.Title, d.UID, d.SchemaVersion)
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	if !slices.Contains(vars, "datasource") || !slices.Contains(vars, "cluster") {
		t.Errorf("variables %v, want datasource and cluster", vars)
	}

	var rows []string
	ids := map[int]string{}
	cells := map[[2]int]string{} // grid cells taken, for overlaps
	for _, p := range d.Panels {
		if other, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, taken := cells[[2]int{x, y}]; taken {
					t.Errorf("panels %q and %q overlap at %d,%d", other, p.Title, x, y)
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
		if p.Type == "row" {
			rows = append(rows, p.Title)
			continue
		}
		if !slices.Contains([]string{"stat", "timeseries", "table", "state-timeline"}, p.Type) {
			t.Errorf("panel %q: type %q", p.Title, p.Type)
		}
		if p.Title == "" || p.Description == "" {
			t.Errorf("panel %d lacks a title or a description", p.ID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range append([]datasource{p.Datasource}, targetSources(p)...) {
			if tg.Type != "prometheus" || tg.UID != "${datasource}" {
				t.Errorf("panel %q uses data source %+v, want the ${datasource} variable", p.Title, tg)
			}
		}
		for _, tg := range p.Targets {
			if tg.RefID == "" || !strings.Contains(tg.Expr, `cluster="$cluster"`) {
				t.Errorf("panel %q query %s %q: want a refId and the $cluster filter", p.Title, tg.RefID, tg.Expr)
			}
		}
	}
	for _, want := range []string{"Overall health", "Component status", "Failover events", "Replication lag", "Backup status", "Performance baselines"} {
		if !slices.Contains(rows, want) {
			t.Errorf("no row %q (rows: %v)", want, rows)
		}
	}
}

func targetSources(p panel) []datasource {
	var out []datasource
	for _, tg := range p.Targets {
		out = append(out, tg.Datasource)
	}
	return out
}

// dashboardQueries returns every query of the dashboard, its variables
// given values, as PromQL Prometheus would run.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	r := strings.NewReplacer("$cluster", "dev", "$__rate_interval", "5m")
	for _, p := range loadDashboard(t).Panels {
		for _, tg := range p.Targets {
			out[fmt.Sprintf("%s (%s)", p.Title, tg.RefID)] = r.Replace(tg.Expr)
		}
	}
	return out
}

func TestDashboard_QueriesParseAndNameOnlyExportedMetrics(t *testing.T) {
	queries := dashboardQueries(t)
	var exprs []string
	for _, q := range queries {
		exprs = append(exprs, q)
	}
	checkNames(t, dashboardFile, exprs, workerMetrics(t), nil)

	// promtool parses PromQL: give it each query as a recording rule.
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	names := make([]string, 0, len(queries))
	for name := range queries {
		names = append(names, name)
	}
	slices.Sort(names)
	for i, name := range names {
		q, _ := json.Marshal(queries[name]) // a JSON string is a YAML string
		fmt.Fprintf(&rules, "      - record: dashboard:query_%d\n        expr: %s\n", i, q)
	}
	file := filepath.Join(t.TempDir(), "dashboard-queries.yaml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool(t), "check", "rules", file).CombinedOutput()
	if err != nil {
		t.Errorf("a dashboard query does not parse: %v\n%s\n%s", err, out, rules.String())
	}
}
