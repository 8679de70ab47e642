package devstack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"sigs.k8s.io/yaml"

	"github.com/runnerhub/lifeboat/schemas"
)

func TestSharedDirFor_IsPerCheckoutUnderTempDir(t *testing.T) {
	a := SharedDirFor("/src/one", "")
	b := SharedDirFor("/src/two", "")
	if a == b {
		t.Fatalf("two checkouts share %s", a)
	}
	if got, want := filepath.Dir(a), os.TempDir(); got != want {
		t.Errorf("parent = %s, want %s", got, want)
	}
	if !regexp.MustCompile(`^lifeboat-[0-9a-f]{12}$`).MatchString(filepath.Base(a)) {
		t.Errorf("name = %s, want lifeboat-<12 hex>", filepath.Base(a))
	}
	// sha256("/src/one") begins with these 12 hex digits.
	if got, want := filepath.Base(a), "lifeboat-"+sha256Prefix("/src/one"); got != want {
		t.Errorf("name = %s, want %s", got, want)
	}
	if got := SharedDirFor("/src/one", ""); got != a {
		t.Errorf("not stable: %s then %s", a, got)
	}
}

func TestSharedDirFor_RelativeRootIsMadeAbsolute(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := SharedDirFor(".", ""), SharedDirFor(wd, ""); got != want {
		t.Errorf("SharedDirFor(.) = %s, want %s", got, want)
	}
}

func TestSharedDirFor_OverrideWins(t *testing.T) {
	if got, want := SharedDirFor("/src/one", "/var/tmp/pg"), "/var/tmp/pg"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestDefaultConfig_PathsUnderRoot(t *testing.T) {
	t.Setenv(EnvSharedDir, "")
	cfg := DefaultConfig("/src/one")
	if cfg.Root != "/src/one" || cfg.BinDir != "/src/one/bin" || cfg.SharedDir != SharedDirFor("/src/one", "") {
		t.Errorf("got %+v", cfg)
	}
	t.Setenv(EnvSharedDir, "/elsewhere")
	if got := DefaultConfig("/src/one").SharedDir; got != "/elsewhere" {
		t.Errorf("SharedDir = %s, want $%s", got, EnvSharedDir)
	}
}

func TestNew_RejectsRelativePaths(t *testing.T) {
	if _, err := New(Config{Root: "x", BinDir: "/b", SharedDir: "/s"}); err == nil {
		t.Error("New accepted a relative root")
	}
}

func TestPGConf_PrimarySettings(t *testing.T) {
	conf := pgCommonConf("/tmp/lifeboat-x/run") + pgNodeConf(pgNodes[0])
	for _, want := range []string{
		"listen_addresses = '127.0.0.1'",
		"unix_socket_directories = '/tmp/lifeboat-x/run'",
		"wal_level = replica",
		"wal_log_hints = on",
		"hot_standby = on",
		"max_wal_senders = 10",
		"max_replication_slots = 10",
		`synchronous_standby_names = '"pg-a2"'`,
		"synchronous_commit = on",
		"port = 15432",
		"log_line_prefix = '%m [%p] %q%a '",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("primary config lacks %q:\n%s", want, conf)
		}
	}
}

func TestPGConf_ReplicaOverridesPortAndSyncNames(t *testing.T) {
	for _, n := range pgNodes[1:] {
		conf := pgNodeConf(n)
		if !strings.Contains(conf, "port = "+strconv.Itoa(n.port)) {
			t.Errorf("%s: no port line in %q", n.name, conf)
		}
		if !strings.Contains(conf, "synchronous_standby_names = ''") {
			t.Errorf("%s: a promoted replica would wait for a standby named after itself: %q", n.name, conf)
		}
	}
}

func TestPGHBA_LoopbackSCRAMOnly(t *testing.T) {
	var rules []string
	for _, line := range strings.Split(pgHBA, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			rules = append(rules, strings.Join(strings.Fields(line), " "))
		}
	}
	want := []string{
		"host all all 127.0.0.1/32 scram-sha-256",
		"host replication all 127.0.0.1/32 scram-sha-256",
	}
	if strings.Join(rules, "\n") != strings.Join(want, "\n") {
		t.Errorf("rules = %q, want %q", rules, want)
	}
}

func TestRedisConf_ReplicaFollowsMaster(t *testing.T) {
	master, replica := redisNodes[0], redisNodes[1]
	if c := redisServerConf(master, "/d", master.port); strings.Contains(c, "replicaof") {
		t.Errorf("master config has replicaof:\n%s", c)
	}
	c := redisServerConf(replica, "/d", master.port)
	for _, want := range []string{"bind 127.0.0.1", "port 16380", "daemonize no", "dir /d", "replicaof 127.0.0.1 16379"} {
		if !strings.Contains(c, want) {
			t.Errorf("replica config lacks %q:\n%s", want, c)
		}
	}
}

func TestSentinelConf_MonitorsMasterWithQuorum(t *testing.T) {
	c := sentinelConf(redisNodes[2], "/d", RedisA1Port)
	for _, want := range []string{
		"port 16381",
		"sentinel monitor lifeboat-dev 127.0.0.1 16379 2",
		"sentinel down-after-milliseconds lifeboat-dev 5000",
		"sentinel failover-timeout lifeboat-dev 60000",
	} {
		if !strings.Contains(c, want) {
			t.Errorf("sentinel config lacks %q:\n%s", want, c)
		}
	}
}

func TestTemporalArgs_PortsDBAndSearchAttributes(t *testing.T) {
	got := strings.Join(temporalArgs("/r/.dev/temporal/temporal.db", ""), " ")
	for _, want := range []string{
		"server start-dev", "--ip 127.0.0.1", "--port 17233", "--ui-port 18233",
		"--http-port 17243", "--metrics-port 17239", "--db-filename /r/.dev/temporal/temporal.db",
		"--namespace default",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("args lack %q: %s", want, got)
		}
	}
	for _, sa := range schemas.SearchAttributes {
		if !strings.Contains(got, "--search-attribute "+sa+"=Keyword") {
			t.Errorf("args lack search attribute %s: %s", sa, got)
		}
	}
}

func TestVersitygwArgs_GlobalFlagsBeforeBackend(t *testing.T) {
	got := strings.Join(versitygwArgs(S3Port, "/d/s3", ""), " ")
	if want := "--port 127.0.0.1:19000 --region us-east-1 --quiet posix /d/s3"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	got = strings.Join(versitygwArgs(S3Port, "/d/s3", "/d/meta"), " ")
	if want := "posix --sidecar /d/meta /d/s3"; !strings.HasSuffix(got, want) {
		t.Errorf("got %q, want it to end with %q", got, want)
	}
}

func TestTopology_RoundTripsThroughYAML(t *testing.T) {
	topo := buildTopology("/r/.dev", "/s", "/s/secrets/age-identity.txt", "age1example")
	b, err := renderTopology(topo)
	if err != nil {
		t.Fatal(err)
	}
	var got schemas.Topology
	if err := yaml.Unmarshal(b, &got); err != nil {
		t.Fatalf("unmarshal: %v\n%s", err, b)
	}
	if got.Cluster != "dev" || len(got.Regions) != 2 || got.Regions[0].Name != RegionA || got.Regions[1].Name != RegionB {
		t.Fatalf("cluster/regions = %s %v", got.Cluster, got.RegionNames())
	}
	a, bb := got.Regions[0], got.Regions[1]
	if len(a.Postgres) != 2 || len(bb.Postgres) != 1 || len(a.Redis) != 1 || len(bb.Redis) != 1 || len(a.Sentinels) != 1 || len(bb.Sentinels) != 2 {
		t.Errorf("node counts wrong:\n%s", b)
	}
	prio := map[string]int{}
	for _, r := range got.Regions {
		for _, n := range r.Postgres {
			prio[n.Name] = n.Priority
			if n.Password == nil || n.Password.Env != EnvPGPassword {
				t.Errorf("%s password = %+v", n.Name, n.Password)
			}
			if strings.Contains(n.DSN, ":"+"@") || !strings.HasPrefix(n.DSN, "postgres://lifeboat@127.0.0.1:") {
				t.Errorf("%s dsn = %s", n.Name, n.DSN)
			}
		}
	}
	if prio["pg-a1"] != 100 || prio["pg-a2"] != 100 || prio["pg-b1"] != 50 {
		t.Errorf("priorities = %v", prio)
	}
	st := got.Backup.Store
	if st.Type != "s3" || st.Endpoint != "http://127.0.0.1:19000" || st.Bucket != "lifeboat-dev" || st.Region != "us-east-1" || !st.PathStyle ||
		st.AccessKey == nil || st.AccessKey.Env != EnvS3AccessKey || st.SecretKey == nil || st.SecretKey.Env != EnvS3SecretKey {
		t.Errorf("store = %+v", st)
	}
	rs := got.Backup.Replica
	if rs == nil || rs.Endpoint != "http://127.0.0.1:19001" || rs.Bucket != "lifeboat-dev-b" || rs.AccessKey == nil || rs.AccessKey.Env != EnvS3AccessKey ||
		got.Backup.ReplicaRegion != RegionB {
		t.Errorf("replica = %+v in %s", rs, got.Backup.ReplicaRegion)
	}
	if got.Backup.DRRegion != RegionB || len(got.Backup.Recipients) != 1 || got.Backup.Identity.File != "/s/secrets/age-identity.txt" {
		t.Errorf("backup = %+v", got.Backup)
	}
	if got.Targets.RTO.Std() != 15*time.Minute || got.Targets.RPO.Std() != 5*time.Minute {
		t.Errorf("targets = %+v", got.Targets)
	}
	if got.Monitor.Interval() != time.Second || got.Monitor.Threshold() != 3 {
		t.Errorf("monitor = %+v", got.Monitor)
	}
	if l := got.Monitor.Postgres; l == nil || l.User != PGMonitor || l.Password == nil || l.Password.File != "/r/.dev/secrets/"+secretMonitorPassword {
		t.Errorf("monitor.postgres = %+v: the probes must log in as %s with the password file", l, PGMonitor)
	}
	if got.Redis == nil || got.Redis.MasterName != SentinelMaster {
		t.Errorf("redis = %+v", got.Redis)
	}
	if len(got.Files) != 1 || got.Files[0].Path != "/r/.dev/files/uploads" || got.Files[0].Region != RegionA {
		t.Errorf("files = %+v", got.Files)
	}
	if strings.Contains(string(b), "AGE-SECRET-KEY") {
		t.Error("topology holds a secret key")
	}
}

func TestTopology_PassesSchemaAndValidate(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	b, err := renderTopology(buildTopology("/r/.dev", "/s", "/s/secrets/age-identity.txt", id.Recipient().String()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := schemas.ParseTopology(b); err != nil {
		t.Errorf("ParseTopology: %v\n%s", err, b)
	}
}

func TestRenderEnvFile_ExportsQuotedValues(t *testing.T) {
	got := string(renderEnvFile([]string{"B=it's", "A=x y"}))
	for _, want := range []string{"export A='x y'\n", `export B='it'\''s'` + "\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("env file lacks %q:\n%s", want, got)
		}
	}
	if strings.Index(got, "export A") > strings.Index(got, "export B") {
		t.Errorf("not sorted:\n%s", got)
	}
}

func TestRandomString_LengthAndAlphabet(t *testing.T) {
	s := randomString(64, alnum)
	if len(s) != 64 || strings.Trim(s, alnum) != "" {
		t.Errorf("got %q", s)
	}
	if randomString(32, alnum) == randomString(32, alnum) {
		t.Error("two draws are equal")
	}
}

func TestEnsureSecrets_CreatesOnceWithMode0600(t *testing.T) {
	s := newTestStack(t)
	if err := s.ensureSecrets(); err != nil {
		t.Fatal(err)
	}
	pw := s.readSecret(secretPGPassword)
	if len(pw) != 32 {
		t.Fatalf("pg password = %q", pw)
	}
	for _, name := range []string{secretPGPassword, secretReplPassword, secretMonitorPassword, secretS3AccessKey, secretS3SecretKey, secretAgeIdentity} {
		fi, err := os.Stat(s.secretPath(name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", name, fi.Mode().Perm())
		}
	}
	if err := s.ensureSecrets(); err != nil {
		t.Fatal(err)
	}
	if got := s.readSecret(secretPGPassword); got != pw {
		t.Errorf("second call changed the password: %q, then %q", pw, got)
	}
	r, err := s.ageRecipient()
	if err != nil || !strings.HasPrefix(r, "age1") {
		t.Errorf("recipient = %q, %v", r, err)
	}
	env := strings.Join(s.Env(), "\n")
	if !strings.Contains(env, EnvPGPassword+"="+pw) || !strings.Contains(env, EnvTemporalAddr+"=127.0.0.1:17233") {
		t.Errorf("env = %s", env)
	}
}

func TestPIDFile_RoundTripAndGarbage(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.pid")
	if got := readPID(p); got != 0 {
		t.Errorf("missing file read as %d", got)
	}
	if err := writePID(p, 4242); err != nil {
		t.Fatal(err)
	}
	if got := readPID(p); got != 4242 {
		t.Errorf("got %d, want 4242", got)
	}
	// PostgreSQL's postmaster.pid: the PID, then the data directory and more.
	if err := os.WriteFile(p, []byte("4243\n/var/lib/pg\n1700000000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := readPID(p); got != 4243 {
		t.Errorf("postmaster.pid read as %d, want 4243", got)
	}
	for _, garbage := range []string{"", "abc", "-5", "0"} {
		if err := os.WriteFile(p, []byte(garbage), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := readPID(p); got != 0 {
			t.Errorf("%q read as %d", garbage, got)
		}
	}
}

func TestProcAlive_ChecksCommandName(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !procAlive(os.Getpid(), exe) {
		t.Errorf("this process (%s) reads as dead", commOf(exe))
	}
	if procAlive(os.Getpid(), "/usr/bin/not-this-one") {
		t.Error("a live PID with another command name reads as ours")
	}
	if procAlive(0, "") || procAlive(-1, "") {
		t.Error("PID 0 or -1 reads as alive")
	}
}

func TestCommOf_CutsTo15Bytes(t *testing.T) {
	if got := commOf("/work/bin/lifeboat-worker-long-name"); got != "lifeboat-worker" {
		t.Errorf("got %q", got)
	}
}

func TestRunning_IgnoresStalePIDFile(t *testing.T) {
	s := newTestStack(t)
	// A process that has exited leaves a stale PID behind.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := writePID(s.pidFile("pg-a1"), cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	// A live process that is not PostgreSQL: a reused PID.
	if err := writePID(s.pidFile("pg-a2"), os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if got := s.Running(); len(got) != 0 {
		t.Errorf("Running = %v, want none", got)
	}
	if err := s.Down(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.pidFile("pg-a1")); !os.IsNotExist(err) {
		t.Errorf("stale pid file kept: %v", err)
	}
}

func TestStartDetached_RecordsPIDAndStopRemovesProcess(t *testing.T) {
	s := newTestStack(t)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	p := procSpec{name: "sleeper", path: sleep, args: []string{"300"}, env: os.Environ(), dir: s.devDir, log: s.logPath("sleeper")}
	pid, err := s.startDetached(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
	if got := s.running("sleeper", sleep); got != pid {
		t.Fatalf("running = %d, want %d", got, pid)
	}
	if sid, _ := syscall.Getpgid(pid); sid != pid {
		t.Errorf("process group = %d, want its own (%d)", sid, pid)
	}
	if err := stopProcess(context.Background(), pid, sleep, syscall.SIGTERM, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if procAlive(pid, sleep) {
		t.Error("still alive after stop")
	}
	if !strings.Contains(tail(p.log, 5), "starting sleeper") {
		t.Errorf("log = %q", tail(p.log, 5))
	}
}

func TestPortFree_NamesTheBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	err = portFree(port)
	if err == nil || !strings.Contains(err.Error(), "port "+strconv.Itoa(port)) {
		t.Errorf("err = %v, want it to name port %d", err, port)
	}
	if err != nil && !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Logf("holder not named (needs /proc access): %v", err)
	}
}

func sha256Prefix(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:12]
}

func newTestStack(t *testing.T) *Stack {
	t.Helper()
	root := t.TempDir()
	s, err := New(Config{Root: root, BinDir: filepath.Join(root, "bin"), SharedDir: filepath.Join(root, "shared"), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHasApplicationName_QuotedAndPlain(t *testing.T) {
	for _, tc := range []struct {
		conf string
		want bool
	}{
		{`primary_conninfo = 'user=replicator host=127.0.0.1 application_name=''pg-a2'' sslmode=prefer'`, true},
		{`primary_conninfo = 'host=127.0.0.1 application_name=pg-a2 password=x'`, true},
		{`primary_conninfo = 'host=127.0.0.1 application_name=pg-a2'`, true},
		{`primary_conninfo = 'host=127.0.0.1 application_name=pg-a22'`, false},
		{`primary_conninfo = 'user=replicator host=127.0.0.1'`, false},
	} {
		if got := hasApplicationName(tc.conf, "pg-a2"); got != tc.want {
			t.Errorf("hasApplicationName(%q) = %v, want %v", tc.conf, got, tc.want)
		}
	}
}
