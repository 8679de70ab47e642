package ha

import (
	"os"
	"strings"
	"testing"
)

func TestMonitorRoleSQL_QuotesNamesAndGrantsTheHeartbeatOnly(t *testing.T) {
	got := strings.Join(MonitorRoleSQL(`mon"itor`, "shop"), ";\n")
	for _, want := range []string{
		`CREATE TABLE IF NOT EXISTS lifeboat.heartbeat`,
		`GRANT pg_monitor TO "mon""itor"`,
		`GRANT CONNECT ON DATABASE "shop" TO "mon""itor"`,
		`GRANT USAGE ON SCHEMA lifeboat TO "mon""itor"`,
		`GRANT SELECT, INSERT, UPDATE ON lifeboat.heartbeat TO "mon""itor"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("MonitorRoleSQL lacks %q:\n%s", want, got)
		}
	}
	if i, j := strings.Index(got, "CREATE TABLE"), strings.Index(got, "ON lifeboat.heartbeat TO"); i > j {
		t.Error("the heartbeat table is granted before it is created")
	}
	if n := strings.Count(got, "GRANT"); n != 4 {
		t.Errorf("%d GRANTs, want 4: the monitor role gets nothing else", n)
	}
}

// The operators' copy of the role's setup must not drift from the stack's.
func TestMonitorRoleSQL_IsTheSQLDeploymentsREADMEGives(t *testing.T) {
	b, err := os.ReadFile("../../deployments/README.md")
	if err != nil {
		t.Fatal(err)
	}
	norm := func(s string) string { return strings.Join(strings.Fields(strings.ReplaceAll(s, `"`, "")), " ") }
	doc := norm(string(b))
	for _, stmt := range MonitorRoleSQL("lifeboat_monitor", "shop") {
		if !strings.Contains(doc, norm(stmt)+";") {
			t.Errorf("deployments/README.md lacks %q", norm(stmt))
		}
	}
}
