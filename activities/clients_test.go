package activities

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/runnerhub/lifeboat/schemas"
)

// A pool dials lazily, so these tests read the configuration the pools
// were made with; the integration test TestMonitorLogin_* logs in.

func clientsFor(t *testing.T, login *schemas.PostgresLogin) (*Clients, schemas.PostgresNode) {
	t.Helper()
	node := schemas.PostgresNode{
		Name: "pg-1", DSN: "postgres://lifeboat@127.0.0.1:5/postgres?sslmode=disable",
		Password: &schemas.Secret{Env: "PG_PASSWORD"},
	}
	env := map[string]string{"PG_PASSWORD": "privileged-secret", "PG_MONITOR_PASSWORD": "monitor-secret"}
	c := &Clients{
		Topology: &schemas.Topology{Monitor: schemas.Monitor{Postgres: login}},
		Secrets:  Secrets{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }},
	}
	t.Cleanup(c.Close)
	return c, node
}

// pools returns the privileged and the monitor pool of node.
func pools(t *testing.T, c *Clients, node schemas.PostgresNode) (priv, mon *pgxpool.Pool) {
	t.Helper()
	priv, err := c.Postgres(context.Background(), node)
	if err != nil {
		t.Fatal(err)
	}
	mon, err = c.PostgresMonitor(context.Background(), node)
	if err != nil {
		t.Fatal(err)
	}
	return priv, mon
}

func TestClients_PostgresMonitorLogsInAsTheMonitorRole(t *testing.T) {
	c, node := clientsFor(t, &schemas.PostgresLogin{User: "lifeboat_monitor", Password: &schemas.Secret{Env: "PG_MONITOR_PASSWORD"}})
	priv, mon := pools(t, c, node)
	if priv == mon {
		t.Fatal("the monitor login shares the privileged pool")
	}
	for _, tc := range []struct {
		what                string
		got                 map[string]string
		user, password, app string
	}{
		{"Postgres", configOf(priv), "lifeboat", "privileged-secret", "lifeboat"},
		{"PostgresMonitor", configOf(mon), "lifeboat_monitor", "monitor-secret", "lifeboat-monitor"},
	} {
		want := map[string]string{"user": tc.user, "password": tc.password, "application_name": tc.app, "host": "127.0.0.1"}
		for k, v := range want {
			if tc.got[k] != v {
				t.Errorf("%s: %s = %q, want %q", tc.what, k, tc.got[k], v)
			}
		}
	}
	again, err := c.PostgresMonitor(context.Background(), node)
	if err != nil {
		t.Fatal(err)
	}
	if again != mon {
		t.Error("a second PostgresMonitor made a new pool: pools are kept per node and login")
	}
}

func TestClients_PostgresMonitorWithoutLoginIsThePrivilegedPool(t *testing.T) {
	c, node := clientsFor(t, nil)
	if priv, mon := pools(t, c, node); mon != priv {
		t.Error("without monitor.postgres the probes must use the DSN's login, as before")
	}
}

// A passfile entry found for the DSN's user must not become the monitor
// role's password.
func TestClients_PostgresMonitorIgnoresTheDSNUsersPassfileEntry(t *testing.T) {
	passfile := filepath.Join(t.TempDir(), "pgpass")
	if err := os.WriteFile(passfile, []byte("127.0.0.1:5:postgres:lifeboat:from-passfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGPASSFILE", passfile)
	c, node := clientsFor(t, &schemas.PostgresLogin{User: "lifeboat_monitor"})
	node.Password = nil
	priv, mon := pools(t, c, node)
	if got := configOf(priv)["password"]; got != "from-passfile" {
		t.Fatalf("the privileged pool's password = %q, want the passfile's (the test's premise)", got)
	}
	if got := configOf(mon)["password"]; got != "" {
		t.Errorf("the monitor pool's password = %q, want none", got)
	}
}

// configOf returns what a pool logs in with.
func configOf(p *pgxpool.Pool) map[string]string {
	cc := p.Config().ConnConfig
	return map[string]string{"user": cc.User, "password": cc.Password, "application_name": cc.RuntimeParams["application_name"], "host": cc.Host}
}
