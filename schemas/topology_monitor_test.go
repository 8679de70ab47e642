package schemas

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestValidate_MonitorLogin(t *testing.T) {
	tests := []struct {
		name  string
		dsn   string
		login *PostgresLogin
		want  []string
	}{
		{"absent: probes use the dsn's login", "host=h user=lifeboat", nil, nil},
		{"a role of its own", "host=h user=lifeboat",
			&PostgresLogin{User: "lifeboat_monitor", Password: &Secret{Env: "PG_MONITOR_PASSWORD"}}, nil},
		{"password from a file", "postgres://lifeboat@h/db",
			&PostgresLogin{User: "lifeboat_monitor", Password: &Secret{File: "/run/secrets/pg-monitor"}}, nil},
		{"dsn without a user", "host=h", &PostgresLogin{User: "lifeboat_monitor"}, nil},
		{"no user", "host=h user=lifeboat", &PostgresLogin{Password: &Secret{Env: "P"}}, []string{
			"monitor.postgres.user: required",
		}},
		{"password with two sources", "host=h user=lifeboat",
			&PostgresLogin{User: "lifeboat_monitor", Password: &Secret{Env: "P", File: "/p"}}, []string{
				"monitor.postgres.password: must name exactly one of env or file",
			}},
		{"the dsn's own user (keywords)", "host=h user=lifeboat", &PostgresLogin{User: "lifeboat"}, []string{
			"monitor.postgres.user: is the user of regions[0].postgres[0].dsn: the monitor needs a least-privileged role of its own",
		}},
		{"the dsn's own user (url)", "postgresql://lifeboat@h:5432/db?sslmode=require", &PostgresLogin{User: "lifeboat"}, []string{
			"monitor.postgres.user: is the user of regions[0].postgres[0].dsn: the monitor needs a least-privileged role of its own",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topo := minimalTopology()
			topo.Regions[0].Postgres[0].DSN = tc.dsn
			topo.Monitor.Postgres = tc.login
			var got []string
			if err := topo.Validate(); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Validate:\ngot:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// monitorYAML is a valid topology but for its monitor section.
const monitorYAML = `cluster: solo
regions:
  - name: region-a
    postgres:
      - name: pg-1
        dsn: host=127.0.0.1 user=lifeboat dbname=postgres
        password: {env: PG_PASSWORD}
backup:
  store: {type: local, path: /var/backups}
  recipients: [age1dq24zp9p5cqmg2mfty2sea8eaueusvg7u49288369y7qf5r5dcls34g47g]
targets: {rto: 1m, rpo: 1s}
`

func TestParseTopology_MonitorLogin(t *testing.T) {
	tests := []struct {
		name, monitor string
		want          []string // problems; none means it parses
	}{
		{"read", "monitor:\n  postgres: {user: lifeboat_monitor, password: {env: PG_MONITOR_PASSWORD}}\n", nil},
		{"user missing", "monitor:\n  postgres: {password: {env: P}}\n", []string{"monitor.postgres.user: required"}},
		{"user empty", "monitor:\n  postgres: {user: ''}\n", []string{"monitor.postgres.user: must not be empty"}},
		{"a dsn is not the way", "monitor:\n  postgres: {user: m, dsn: 'host=h password=x'}\n", []string{"monitor.postgres.dsn: unknown field"}},
		{"password written in", "monitor:\n  postgres: {user: m, password: secret}\n", []string{"monitor.postgres.password: must be a mapping"}},
		{"the dsn's user", "monitor:\n  postgres: {user: lifeboat}\n", []string{
			"monitor.postgres.user: is the user of regions[0].postgres[0].dsn: the monitor needs a least-privileged role of its own",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topo, err := ParseTopology([]byte(monitorYAML + tc.monitor))
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				got := topo.Monitor.Postgres
				if got == nil || got.User != "lifeboat_monitor" || got.Password == nil || got.Password.Env != "PG_MONITOR_PASSWORD" {
					t.Errorf("monitor.postgres = %+v, want lifeboat_monitor with env PG_MONITOR_PASSWORD", got)
				}
				checkRoundTrip(t, topo)
				return
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("err = %v, want Problems", err)
			}
			if got := strings.Split(ps.Error(), "\n"); !slices.Equal(got, tc.want) {
				t.Errorf("problems:\ngot:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// The failover drill set's scratch servers are restored from the cluster's
// backups, so they hold its monitor role: Resolve gives them its login.
func TestResolve_DrillSetKeepsTheMonitorLogin(t *testing.T) {
	topo, err := LoadTopology(filepath.Join(topologiesDir, "valid", "two-regions.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if topo.Monitor.Postgres == nil {
		t.Fatal("two-regions.yaml sets no monitor.postgres")
	}
	topo.Drill = &Drill{ScratchDir: "/srv/drills", Port: 25432}
	set, ok := topo.Resolve(DrillClusterName(topo.Cluster))
	if !ok {
		t.Fatal("no drill set")
	}
	if got, want := set.Monitor.Postgres, topo.Monitor.Postgres; got == nil || *got != *want {
		t.Errorf("drill set monitor.postgres = %+v, want %+v", got, want)
	}
	if err := set.Validate(); err != nil {
		t.Errorf("drill set: %v", err)
	}
}
