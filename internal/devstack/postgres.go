package devstack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/runnerhub/lifeboat/activities/ha"
	"github.com/runnerhub/lifeboat/internal/pgos"
	"github.com/runnerhub/lifeboat/policy"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgUser is the OS user PostgreSQL runs as.
type pgUser = pgos.User

// postgresUser returns the user PostgreSQL runs as.
func postgresUser() (pgUser, error) { return pgos.PostgresUser() }

// Paths inside the shared directory.
func (s *Stack) pgDataDir(name string) string { return filepath.Join(s.cfg.SharedDir, "data", name) }
func (s *Stack) pgSocketDir() string          { return filepath.Join(s.cfg.SharedDir, "run") }
func (s *Stack) pgLogPath(name string) string {
	return filepath.Join(s.cfg.SharedDir, "log", name+".log")
}

// prepareShared creates the shared directory and its subdirectories, owned
// by u with mode 0700, checks u can reach it, and links .dev/pg to it.
func (s *Stack) prepareShared(u pgUser) error {
	shared := s.cfg.SharedDir
	if err := os.MkdirAll(filepath.Dir(shared), 0o755); err != nil {
		return err
	}
	if err := reachable(filepath.Dir(shared), u); err != nil {
		return fmt.Errorf("the PostgreSQL user (uid %d) cannot reach the shared directory %s: %w; set %s to a directory it can enter", u.UID, shared, err, EnvSharedDir)
	}
	if err := s.dropStaleData(shared); err != nil {
		return err
	}
	for _, d := range []string{"", "data", "run", "log", "tmp"} {
		p := filepath.Join(shared, d)
		if err := os.MkdirAll(p, 0o700); err != nil {
			return err
		}
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != u.UID {
			if os.Geteuid() != 0 {
				return fmt.Errorf("shared directory %s belongs to uid %d, not to you (uid %d): remove it or set %s", p, st.Uid, u.UID, EnvSharedDir)
			}
			if err := os.Chown(p, u.UID, u.GID); err != nil {
				return err
			}
		}
		if err := os.Chmod(p, 0o700); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(shared, ownerFile), []byte(s.ownerStamp()), 0o600); err != nil {
		return err
	}
	// .dev/pg and .dev/logs/pg-*.log lead to what lives outside .dev.
	links := map[string]string{filepath.Join(s.devDir, "pg"): shared}
	for _, n := range pgNodes {
		links[s.logPath(n.name)] = s.pgLogPath(n.name)
	}
	for link, target := range links {
		if err := symlink(target, link); err != nil {
			return err
		}
	}
	return nil
}

// ownerFile, in the shared directory, names the secrets its data was made
// with.
const ownerFile = "owner"

// ownerStamp identifies this checkout's PostgreSQL secrets without holding them.
func (s *Stack) ownerStamp() string {
	sum := sha256.Sum256([]byte(s.readSecret(secretPGPassword) + "\n" + s.readSecret(secretReplPassword)))
	return hex.EncodeToString(sum[:])
}

// dropStaleData removes the PostgreSQL data a shared directory holds for
// another checkout that once sat at this path (a fresh clone in the same
// folder, for one): its passwords went with that checkout's .dev, so no one
// can log in to it. Data with this checkout's stamp is kept, and so is
// unstamped data unless this checkout's secrets are brand new; nothing is
// removed while a node of it runs.
func (s *Stack) dropStaleData(shared string) error {
	b, err := os.ReadFile(filepath.Join(shared, ownerFile))
	switch {
	case err == nil && string(b) == s.ownerStamp():
		return nil
	case err != nil && !s.newPGSecret:
		return nil // unstamped, and the secrets are not new: this checkout's, keep it
	}
	if _, err := os.Stat(filepath.Join(shared, "data")); err != nil {
		return nil
	}
	for _, n := range pgNodes {
		if _, err := os.Stat(filepath.Join(s.pgDataDir(n.name), "postmaster.pid")); err == nil {
			return fmt.Errorf("the shared directory %s holds another checkout's PostgreSQL and %s runs from it: stop it or set %s", shared, n.name, EnvSharedDir)
		}
	}
	s.logf("%s holds another checkout's PostgreSQL data (made with other secrets): removing it", shared)
	for _, d := range []string{"data", "restores", "bench"} {
		if err := os.RemoveAll(filepath.Join(shared, d)); err != nil {
			return err
		}
	}
	return nil
}

// symlink makes link point to target, replacing another link.
func symlink(target, link string) error {
	if cur, err := os.Readlink(link); err == nil && cur == target {
		return nil
	}
	_ = os.Remove(link)
	if err := os.Symlink(target, link); err != nil {
		return fmt.Errorf("link %s: %w", link, err)
	}
	return nil
}

// reachable checks that user u may traverse every directory from / to dir.
func reachable(dir string, u pgUser) error {
	if u.UID == 0 {
		return nil
	}
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		m := fi.Mode().Perm()
		var can bool
		switch {
		case int(st.Uid) == u.UID:
			can = m&0o100 != 0
		case int(st.Gid) == u.GID:
			can = m&0o010 != 0
		default:
			can = m&0o001 != 0
		}
		if !can {
			return fmt.Errorf("%s is not searchable by it", p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// chownTo gives path to u when this process is root.
func chownTo(path string, u pgUser) error {
	if u.Cred == nil {
		return nil
	}
	return os.Chown(path, u.UID, u.GID)
}

// pgEnv is the environment of PostgreSQL programs: minimal, so no PG*
// variable of the caller leaks in.
func (s *Stack) pgEnv(extra ...string) []string {
	return append([]string{
		"PATH=" + PostgresBinDir + ":/usr/local/bin:/usr/bin:/bin",
		"HOME=" + s.cfg.SharedDir,
		"LC_ALL=C",
		"TZ=UTC",
	}, extra...)
}

// runPG runs a PostgreSQL program to completion as u, its output appended to
// the node's log.
func (s *Stack) runPG(ctx context.Context, u pgUser, node string, env []string, prog string, args ...string) error {
	logPath := s.pgLogPath(node)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	defer logf.Close()
	_ = chownTo(logPath, u)
	fmt.Fprintf(logf, "\n=== lifeboat-dev: %s %s ===\n", prog, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, filepath.Join(PostgresBinDir, prog), args...)
	cmd.Env = env
	cmd.Dir = s.cfg.SharedDir // the caller's directory may be closed to u
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.Cred}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w; end of %s:\n%s", prog, err, logPath, indent(tail(logPath, 15)))
	}
	return nil
}

// pgCommonConf is appended to the primary's postgresql.conf at initdb; the
// replicas inherit it through pg_basebackup.
func pgCommonConf(socketDir string) string {
	return fmt.Sprintf(`
# --- lifeboat-dev ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
password_encryption = 'scram-sha-256'
wal_level = replica
wal_log_hints = on
hot_standby = on
max_wal_senders = 10
max_replication_slots = 10
max_slot_wal_keep_size = 1GB
# Node names hold '-', so the standby name must be double-quoted here.
synchronous_standby_names = '"%s"'
synchronous_commit = on
max_connections = 50
shared_buffers = 32MB
work_mem = 2MB
maintenance_work_mem = 32MB
effective_cache_size = 128MB
min_wal_size = 80MB
max_wal_size = 256MB
logging_collector = off
log_line_prefix = '%%m [%%p] %%q%%a '
log_timezone = 'UTC'
timezone = 'UTC'
`, socketDir, syncStandby)
}

// pgNodeConf is appended after the common settings; later lines win.
func pgNodeConf(n pgNode) string {
	c := fmt.Sprintf("\n# --- lifeboat-dev node %s ---\nport = %d\ncluster_name = '%s'\n", n.name, n.port, n.name)
	if n.slot != "" {
		// A promoted replica must not wait for a synchronous standby
		// named after itself; failover decides who its standbys are.
		c += "synchronous_standby_names = ''\n"
	}
	return c
}

// pgHBA allows password (SCRAM) logins over loopback TCP only.
const pgHBA = `# Generated by lifeboat-dev: loopback TCP with SCRAM only.
# TYPE  DATABASE     USER  ADDRESS        METHOD
host    all          all   127.0.0.1/32   scram-sha-256
host    replication  all   127.0.0.1/32   scram-sha-256
`

// appendFile appends text to an existing file, keeping its owner.
func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// pgConnString is the URL of node port as the lifeboat role.
func pgConnString(port int, password string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/postgres?sslmode=disable&connect_timeout=3", PGUser, password, addr(port))
}

// upPostgres initialises and starts the three nodes and waits for replication.
// It needs the shared directory made by prepareShared.
func (s *Stack) upPostgres(ctx context.Context) error {
	u := s.pgUser
	pw := s.readSecret(secretPGPassword)
	replPW := s.readSecret(secretReplPassword)
	if pw == "" || replPW == "" {
		return errors.New("PostgreSQL passwords missing from .dev/secrets")
	}

	if s.established() {
		if err := s.upEstablished(ctx, pw); err != nil {
			return err
		}
		return s.ensureMonitorRole(ctx, pw)
	}
	primary := pgNodes[0]
	if err := s.initPrimary(ctx, u, primary, pw); err != nil {
		return fmt.Errorf("init %s: %w", primary.name, err)
	}
	if err := s.startPG(ctx, u, primary, pw); err != nil {
		return err
	}

	replicas := pgNodes[1:]
	var missing []pgNode
	for _, n := range replicas {
		if !exists(filepath.Join(s.pgDataDir(n.name), "PG_VERSION")) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		if err := s.prepareReplication(ctx, primary, pw, replPW); err != nil {
			return fmt.Errorf("prepare replication on %s: %w", primary.name, err)
		}
	}
	errs := make(chan error, len(replicas))
	for _, n := range replicas {
		go func() {
			if err := s.initReplica(ctx, u, primary, n, replPW); err != nil {
				errs <- fmt.Errorf("init %s: %w", n.name, err)
				return
			}
			errs <- s.startPG(ctx, u, n, pw)
		}()
	}
	var all []error
	for range replicas {
		all = append(all, <-errs)
	}
	if err := errors.Join(all...); err != nil {
		return err
	}
	if err := s.waitReplication(ctx, pw); err != nil {
		return err
	}
	return s.ensureMonitorRole(ctx, pw)
}

// ensureMonitorRole creates the monitor's least-privileged role on the
// primary, or sets it again: a login with the stack's monitor password and
// what activities.MonitorRoleSQL grants, nothing more. The replicas get it
// by replication. When no single primary answers (a stack started while a
// failover is under way) a role some node already knows is left as it is;
// the probes would fail without one, so its absence is an error.
func (s *Stack) ensureMonitorRole(ctx context.Context, password string) error {
	monPW := s.readSecret(secretMonitorPassword)
	if monPW == "" {
		return errors.New("the monitor role's password is missing from .dev/secrets")
	}
	var primaries []pgNode
	known := false
	for _, n := range pgNodes {
		conn, err := pgx.Connect(ctx, pgConnString(n.port, password))
		if err != nil {
			continue // a node left to the health monitor
		}
		var inRecovery, exists bool
		err = conn.QueryRow(ctx, `SELECT pg_is_in_recovery(), EXISTS (SELECT FROM pg_roles WHERE rolname = $1)`, PGMonitor).
			Scan(&inRecovery, &exists)
		conn.Close(context.WithoutCancel(ctx))
		if err != nil {
			continue
		}
		known = known || exists
		if !inRecovery {
			primaries = append(primaries, n)
		}
	}
	if len(primaries) != 1 {
		if known {
			s.logf("%-12s %d primaries answer: the role %s is left as it is", "monitor role", len(primaries), PGMonitor)
			return nil
		}
		return fmt.Errorf("create the role %s: %d primaries answer, want one", PGMonitor, len(primaries))
	}
	p := primaries[0]
	conn, err := pgx.Connect(ctx, pgConnString(p.port, password))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	role := pgx.Identifier{PGMonitor}.Sanitize()
	// Local commits: a synchronous standby that is down must not hang up.
	stmts := []string{
		`SET synchronous_commit = local`,
		fmt.Sprintf(`DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN
    CREATE ROLE %s;
  END IF;
END $$`, PGMonitor, role),
		fmt.Sprintf(`ALTER ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '%s'`, role, monPW),
	}
	stmts = append(stmts, ha.MonitorRoleSQL(PGMonitor, "postgres")...)
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			// The first line, and never the password one of them holds.
			head, _, _ := strings.Cut(strings.SplitN(q, "\n", 2)[0], " PASSWORD")
			return fmt.Errorf("role %s on %s: %s: %w", PGMonitor, p.name, head, err)
		}
	}
	s.ready("monitor role", addr(p.port), PGMonitor+" (pg_monitor, lifeboat.heartbeat) on "+p.name)
	return nil
}

// established reports whether every node has a data directory: a cluster
// made before, whose roles failovers may have moved since.
func (s *Stack) established() bool {
	for _, n := range pgNodes {
		if !exists(filepath.Join(s.pgDataDir(n.name), "PG_VERSION")) {
			return false
		}
	}
	return true
}

// upEstablished starts the nodes of an established cluster as they are. A
// node that does not come up (a former primary a failover fenced, waiting
// to be rejoined) is reported, not fatal: the stack's workers and their
// HealthMonitor are what repair it, so they must start.
func (s *Stack) upEstablished(ctx context.Context, pw string) error {
	var failed []string
	for _, n := range pgNodes {
		if err := s.startPG(ctx, s.pgUser, n, pw); err != nil {
			s.logf("%-12s did not start; the health monitor rejoins it: %v", n.name, err)
			failed = append(failed, n.name)
		}
	}
	if len(failed) == len(pgNodes) {
		return errors.New("no PostgreSQL node started")
	}
	if len(failed) > 0 {
		return nil
	}
	return s.waitReplication(ctx, pw)
}

// initPrimary runs initdb for n unless its data directory exists. It works
// in <dir>.init and renames it at the end, so a half-made directory is never
// taken for a real one.
func (s *Stack) initPrimary(ctx context.Context, u pgUser, n pgNode, password string) error {
	dir := s.pgDataDir(n.name)
	if exists(filepath.Join(dir, "PG_VERSION")) {
		return nil
	}
	if exists(dir) {
		return fmt.Errorf("%s exists but holds no PostgreSQL data directory: remove it", dir)
	}
	s.logf("%-12s initdb in %s", n.name, dir)
	tmp := dir + ".init"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	pwfile := filepath.Join(s.cfg.SharedDir, "tmp", "pwfile")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if err := chownTo(pwfile, u); err != nil {
		return err
	}
	if err := s.runPG(ctx, u, n.name, s.pgEnv(), "initdb",
		"--pgdata="+tmp,
		"--username="+PGUser,
		"--pwfile="+pwfile,
		"--auth=scram-sha-256",
		"--data-checksums",
		"--encoding=UTF8",
		"--no-locale",
		"--no-instructions",
	); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "pg_hba.conf"), []byte(pgHBA), 0o600); err != nil {
		return err
	}
	if err := appendFile(filepath.Join(tmp, "postgresql.conf"), pgCommonConf(s.pgSocketDir())+pgNodeConf(n)); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// demoData is a small table of the local stack's own that drills verify
// (the topology's drill.tables): restored copies must hold its 10,000 rows.
var demoData = []string{
	`CREATE SCHEMA IF NOT EXISTS demo`,
	`CREATE TABLE IF NOT EXISTS demo.orders (
		id bigint PRIMARY KEY,
		placed_at timestamptz NOT NULL,
		amount numeric(10,2) NOT NULL)`,
	`INSERT INTO demo.orders
		SELECT g, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute', (g % 1000) / 10.0
		FROM generate_series(1, 10000) g ON CONFLICT DO NOTHING`,
}

// prepareReplication creates the replication role and one physical slot per
// replica on the primary, leaving existing ones alone.
func (s *Stack) prepareReplication(ctx context.Context, primary pgNode, password, replPassword string) error {
	conn, err := pgx.Connect(ctx, pgConnString(primary.port, password))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// Until pg-a2 streams, a commit waiting for the synchronous standby
	// would hang: this session's commits are local only.
	stmts := []string{
		`SET synchronous_commit = local`,
		fmt.Sprintf(`DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%[1]s') THEN
    CREATE ROLE %[1]s LOGIN REPLICATION;
  END IF;
END $$`, PGReplicator),
		fmt.Sprintf(`ALTER ROLE %s LOGIN REPLICATION PASSWORD '%s'`, PGReplicator, replPassword),
	}
	stmts = append(stmts, demoData...)
	for _, n := range pgNodes {
		if n.slot != "" {
			stmts = append(stmts, fmt.Sprintf(`SELECT pg_create_physical_replication_slot('%[1]s')
WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = '%[1]s')`, n.slot))
		}
	}
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", strings.SplitN(q, "\n", 2)[0], err)
		}
	}
	return nil
}

// initReplica makes n's data directory with pg_basebackup -R from primary
// unless it exists, in <dir>.init renamed at the end.
func (s *Stack) initReplica(ctx context.Context, u pgUser, primary, n pgNode, replPassword string) error {
	dir := s.pgDataDir(n.name)
	if exists(filepath.Join(dir, "PG_VERSION")) {
		return nil
	}
	if exists(dir) {
		return fmt.Errorf("%s exists but holds no PostgreSQL data directory: remove it", dir)
	}
	s.logf("%-12s pg_basebackup from %s into %s", n.name, primary.name, dir)
	tmp := dir + ".init"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	conninfo := fmt.Sprintf("host=%s port=%d user=%s application_name=%s", Host, primary.port, PGReplicator, n.name)
	if err := s.runPG(ctx, u, n.name, s.pgEnv("PGPASSWORD="+replPassword), "pg_basebackup",
		"--dbname="+conninfo,
		"--pgdata="+tmp,
		"--write-recovery-conf",
		"--wal-method=stream",
		"--slot="+n.slot,
		"--checkpoint=fast",
		"--no-password",
	); err != nil {
		return err
	}
	auto := filepath.Join(tmp, "postgresql.auto.conf")
	b, err := os.ReadFile(auto)
	if err != nil {
		return err
	}
	// -R copies the connection's parameters (PostgreSQL 15 writes
	// application_name=''pg-a2''); make sure the standby names itself, since
	// synchronous_standby_names matches application_name.
	if !hasApplicationName(string(b), n.name) {
		line := fmt.Sprintf("primary_conninfo = '%s password=%s'\n", conninfo, replPassword)
		if err := appendFile(auto, line); err != nil {
			return err
		}
	}
	if err := appendFile(filepath.Join(tmp, "postgresql.conf"), pgNodeConf(n)); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// hasApplicationName reports whether postgresql.auto.conf text sets
// application_name=name in primary_conninfo, quoted or not.
func hasApplicationName(autoConf, name string) bool {
	return strings.Contains(autoConf, "application_name="+name+" ") ||
		strings.Contains(autoConf, "application_name="+name+"'") ||
		strings.Contains(autoConf, "application_name=''"+name+"''")
}

// startPG starts node n unless it runs, and waits until it accepts logins.
func (s *Stack) startPG(ctx context.Context, u pgUser, n pgNode, password string) error {
	exe := filepath.Join(PostgresBinDir, "postgres")
	logPath := s.pgLogPath(n.name)
	if !exists(logPath) {
		if err := os.WriteFile(logPath, nil, 0o640); err != nil {
			return err
		}
		_ = chownTo(logPath, u)
	}
	pid, err := s.ensure(procSpec{
		name:  n.name,
		path:  exe,
		args:  append([]string{"-D", s.pgDataDir(n.name)}, s.archiveArgs()...),
		env:   s.pgEnv(s.archiveEnv()...),
		dir:   s.cfg.SharedDir,
		log:   logPath,
		cred:  u.Cred,
		ports: []int{n.port},
	})
	if err != nil {
		return err
	}
	var role string
	err = waitReady(ctx, n.name, pid, exe, logPath, 60*time.Second, func(ctx context.Context) error {
		inRecovery, err := pgInRecovery(ctx, n.port, password)
		if err != nil {
			return err
		}
		role = "primary"
		if inRecovery {
			role = "replica"
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.ready(n.name, addr(n.port), "PostgreSQL "+role+", "+n.region)
	return nil
}

// pgInRecovery reports whether the node on port is a standby.
func pgInRecovery(ctx context.Context, port int, password string) (bool, error) {
	conn, err := pgx.Connect(ctx, pgConnString(port, password))
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	var inRecovery bool
	err = conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery)
	return inRecovery, err
}

// waitReplication waits until the one primary streams to every other node
// and, when it names synchronous standbys, one of them is synchronous.
func (s *Stack) waitReplication(ctx context.Context, password string) error {
	var last string
	check := func(ctx context.Context) error {
		var primaries []pgNode
		for _, n := range pgNodes {
			inRecovery, err := pgInRecovery(ctx, n.port, password)
			if err != nil {
				return err
			}
			if !inRecovery {
				primaries = append(primaries, n)
			}
		}
		if len(primaries) != 1 {
			var names []string
			for _, p := range primaries {
				names = append(names, p.name)
			}
			return fmt.Errorf("%d nodes are primaries %v: expected exactly one", len(primaries), names)
		}
		p := primaries[0]
		conn, err := pgx.Connect(ctx, pgConnString(p.port, password))
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		var syncNames string
		if err := conn.QueryRow(ctx, "SHOW synchronous_standby_names").Scan(&syncNames); err != nil {
			return err
		}
		rows, err := conn.Query(ctx, "SELECT application_name, state, sync_state FROM pg_stat_replication")
		if err != nil {
			return err
		}
		seen := map[string][2]string{}
		for rows.Next() {
			var app, state, syncState string
			if err := rows.Scan(&app, &state, &syncState); err != nil {
				return err
			}
			seen[app] = [2]string{state, syncState}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var parts []string
		hasSync := false
		for _, n := range pgNodes {
			if n.name == p.name {
				continue
			}
			st, ok := seen[n.name]
			if !ok || st[0] != "streaming" {
				return fmt.Errorf("%s is not streaming from primary %s (pg_stat_replication: %v)", n.name, p.name, seen)
			}
			// A failover names its standbys ANY 1 (...): a quorum standby
			// is as synchronous as the one the stack named itself.
			hasSync = hasSync || policy.Synchronous(st[1])
			parts = append(parts, n.name+" "+st[1])
		}
		if syncNames != "" && !hasSync {
			return fmt.Errorf("no synchronous standby yet on %s (synchronous_standby_names %s; %v)", p.name, syncNames, seen)
		}
		last = fmt.Sprintf("primary %s; %s", p.name, strings.Join(parts, ", "))
		return nil
	}
	if err := waitReady(ctx, "PostgreSQL replication", 0, "", s.pgLogPath(pgNodes[0].name), 60*time.Second, check); err != nil {
		return err
	}
	s.ready("replication", "", last)
	return nil
}
