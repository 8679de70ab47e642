package backup

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/fstree"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/activities/pipeline"
	"github.com/runnerhub/lifeboat/internal/pgos"
	"github.com/runnerhub/lifeboat/schemas"
)

// untar's write-behind: three writers, so that creating a file or starting
// its writeback, which can wait on the file system's journal, overlaps the
// others' writes; 8 MiB of buffers, in chunks that keep write calls few.
const (
	untarWriters   = 3
	untarChunks    = 8
	untarChunkSize = 1 << 20
)

// Restore brings a database backup back as a running PostgreSQL server.
type Restore struct {
	Topology *schemas.Topology
	Clients  *activities.Clients
	Logger   *zap.Logger
	// PGBinDir holds pg_ctl; empty means DefaultPGBinDir.
	PGBinDir string
	// LifeboatBin and TopologyPath are the CLI and the topology as the
	// PostgreSQL user can reach them: the restored server's restore_command
	// runs `LifeboatBin wal-fetch --topology TopologyPath %f %p`.
	LifeboatBin  string
	TopologyPath string
	// Metrics may be nil.
	Metrics *activities.Metrics
}

// FindBackup returns the manifest of a backup by ID, or of the newest one of
// a kind that ended before a time. A backup without a manifest does not
// exist, so a missing manifest is "no such backup", with the newest listed.
func (r *Restore) FindBackup(ctx context.Context, in schemas.FindBackupInput) (schemas.FindBackupResult, error) {
	if in.Cluster != r.Topology.Cluster {
		return schemas.FindBackupResult{}, activities.UnknownCluster(in.Cluster, r.Topology.Cluster)
	}
	var m schemas.Manifest
	which, err := r.fromStores(ctx, in.Store, func(store objstore.Store) (err error) {
		m, err = findBackup(ctx, store, in)
		return err
	})
	if err == nil && m.Kind == schemas.BackupDatabase {
		err = r.checkWAL(ctx, m, in.Before)
	}
	return schemas.FindBackupResult{Manifest: m, Store: which}, err
}

// findBackup is FindBackup in one store.
func findBackup(ctx context.Context, store objstore.Store, in schemas.FindBackupInput) (schemas.Manifest, error) {
	ids, err := backupIDs(ctx, store, in.Cluster)
	if err != nil {
		return schemas.Manifest{}, err
	}
	if in.Backup != schemas.LatestBackup {
		if !slices.Contains(ids, in.Backup) {
			return schemas.Manifest{}, activities.NoSuchBackup(in.Cluster, in.Backup, ids)
		}
		return readManifest(ctx, store, in.Cluster, in.Backup)
	}
	for _, id := range slices.Backward(ids) {
		m, err := readManifest(ctx, store, in.Cluster, id)
		if err != nil {
			return schemas.Manifest{}, err
		}
		if m.Kind == in.Kind && (in.Before == nil || !m.EndTime.After(*in.Before)) {
			return m, nil
		}
	}
	what := "latest " + in.Kind
	if in.Before != nil {
		what += " before " + in.Before.Format(time.RFC3339)
	}
	return schemas.Manifest{}, activities.NoSuchBackup(in.Cluster, what, ids)
}

// fromStores runs read against the store a restore chose (schemas.Store*)
// and returns which one succeeded. In auto mode the primary store is read
// first and the replica only when the primary cannot be reached or lacks
// what was asked for: a backup the primary finds corrupt or cannot decrypt
// is reported as it is, not hidden behind its copy.
func (r *Restore) fromStores(ctx context.Context, choice string, read func(objstore.Store) error) (string, error) {
	readOne := func(which string) error {
		open := r.Clients.Store
		if which == schemas.StoreReplica {
			open = r.Clients.ReplicaStore
		}
		store, err := open(ctx)
		if err != nil {
			return err
		}
		return read(store)
	}
	switch choice {
	case schemas.StorePrimary, schemas.StoreReplica:
		return choice, readOne(choice)
	case schemas.StoreAuto:
	default:
		return "", activities.InvalidInput("store", fmt.Sprintf("%q: want %q, %q or empty for either", choice, schemas.StorePrimary, schemas.StoreReplica))
	}
	perr := readOne(schemas.StorePrimary)
	if perr == nil || r.Topology.Backup.Replica == nil || !primaryMayLack(perr) {
		return schemas.StorePrimary, perr
	}
	rerr := readOne(schemas.StoreReplica)
	switch {
	case rerr == nil:
		r.logger().Warn("read from the replica store: the primary failed", zap.Error(perr))
		return schemas.StoreReplica, nil
	case isType(perr, schemas.ErrNoSuchBackup) && isType(rerr, schemas.ErrNoSuchBackup):
		return schemas.StorePrimary, perr
	case isType(rerr, schemas.ErrNoSuchBackup) || primaryMayLack(rerr):
		// One store may come back with the backup: retryable, naming both.
		return "", fmt.Errorf("primary store: %v; replica store: %v", perr, rerr)
	}
	return schemas.StoreReplica, rerr
}

// primaryMayLack reports whether err is one the replica may not share: the
// store could not be reached, or lacks the object or backup.
func primaryMayLack(err error) bool {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type() == schemas.ErrNoSuchBackup
	}
	return true
}

// isType reports whether err is an application error of type typ.
func isType(err error, typ string) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == typ
}

func (r *Restore) logger() *zap.Logger {
	if r.Logger == nil {
		return zap.NewNop()
	}
	return r.Logger
}

// backupIDs lists the IDs of the backups that have a manifest, oldest first.
func backupIDs(ctx context.Context, store objstore.Store, cluster string) ([]string, error) {
	objs, err := store.List(ctx, schemas.BackupsPrefix(cluster))
	if err != nil {
		return nil, fmt.Errorf("list backups in %s: %w", store, err)
	}
	var ids []string
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Key, schemas.BackupsPrefix(cluster))
		if id, ok := strings.CutSuffix(rest, "/manifest.json"); ok && !strings.Contains(id, "/") {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// readManifest reads and checks one manifest; one that does not parse is
// corruption, reported with the key.
func readManifest(ctx context.Context, store objstore.Store, cluster, id string) (schemas.Manifest, error) {
	key := schemas.ManifestKey(cluster, id)
	rc, err := store.Get(ctx, key)
	if err != nil {
		return schemas.Manifest{}, fmt.Errorf("read manifest %s: %w", key, err)
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return schemas.Manifest{}, fmt.Errorf("read manifest %s: %w", key, err)
	}
	m, err := schemas.ParseManifest(body)
	if err != nil {
		return schemas.Manifest{}, activities.Corrupt(fmt.Sprintf("manifest %s does not parse, so backup %s cannot be trusted:\n%v", key, id, err))
	}
	return m, nil
}

// RestoreBase unpacks a database backup into a new data directory. It
// streams download → decrypt → decompress → untar into a staging directory
// beside the target and renames it into place only once the checksums of the
// whole stream are proven: a damaged backup never reaches the target.
func (r *Restore) RestoreBase(ctx context.Context, in schemas.RestoreBaseInput) (schemas.RestoreBaseResult, error) {
	m := in.Manifest
	if in.Cluster != r.Topology.Cluster {
		return schemas.RestoreBaseResult{}, activities.UnknownCluster(in.Cluster, r.Topology.Cluster)
	}
	if !filepath.IsAbs(in.DataDir) {
		return schemas.RestoreBaseResult{}, activities.InvalidInput("data_dir", "must be an absolute path")
	}
	if err := requireEmpty(in.DataDir); err != nil {
		return schemas.RestoreBaseResult{}, err
	}
	start := time.Now()
	ids, err := r.identities()
	if err != nil {
		return schemas.RestoreBaseResult{}, err
	}
	pgUser, err := pgos.PostgresUser()
	if err != nil {
		return schemas.RestoreBaseResult{}, err
	}
	// The store is chosen by whether it holds the object; a failure past
	// that point is this store's, and a retry chooses again.
	var store objstore.Store
	which, err := r.fromStores(ctx, in.Store, func(s objstore.Store) error {
		if _, err := s.Stat(ctx, m.Object); err != nil {
			return fmt.Errorf("find %s in %s: %w", m.Object, s, err)
		}
		store = s
		return nil
	})
	if err != nil {
		return schemas.RestoreBaseResult{}, err
	}

	parent := filepath.Dir(in.DataDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return schemas.RestoreBaseResult{}, err
	}
	staging := in.DataDir + ".lifeboat-partial"
	if err := os.RemoveAll(staging); err != nil { // an earlier attempt's
		return schemas.RestoreBaseResult{}, err
	}
	if err := os.Mkdir(staging, 0o700); err != nil {
		return schemas.RestoreBaseResult{}, err
	}
	done := false
	defer func() {
		if !done {
			_ = os.RemoveAll(staging)
		}
	}()
	spooled, stopSpool := r.startSpool(ctx, m, staging)
	defer func() { stopSpool(); _, _ = spooled() }() // before the staging directory goes

	obj, err := store.Get(ctx, m.Object)
	if err != nil {
		return schemas.RestoreBaseResult{}, fmt.Errorf("download %s from %s: %w", m.Object, store, err)
	}
	defer obj.Close()
	plain, err := pipeline.Open(obj, ids, pipeline.Sums{
		PlainSize: m.PlainSize, PlainSHA256: m.PlainSHA256,
		StoredSize: m.StoredSize, StoredSHA256: m.StoredSHA256, Recipients: m.Recipients,
	})
	if err != nil {
		return schemas.RestoreBaseResult{}, r.sealError(ctx, store, m, err)
	}
	defer plain.Close()

	var read atomic.Int64
	stop := activities.HeartbeatEvery(ctx, 5*time.Second, func() any {
		return schemas.RestoreProgress{BytesDone: read.Load(), Total: m.PlainSize}
	})
	res, err := untar(&pipeline.CountingReader{R: plain, N: &read}, staging)
	stop()
	if err != nil {
		return res, r.sealError(ctx, store, m, err)
	}
	// The tar ends before the stream does; reading to EOF makes the
	// pipeline compare sizes and checksums with the manifest.
	if _, err := io.Copy(io.Discard, plain); err != nil {
		return res, r.sealError(ctx, store, m, err)
	}
	res.WALSpooled, _ = spooled() // a failed spool is logged; wal-fetch serves the recovery
	if err := pgUser.ChownTree(staging); err != nil {
		return res, fmt.Errorf("give %s to the postgres user: %w", staging, err)
	}
	if err := os.Remove(in.DataDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, fmt.Errorf("replace empty %s: %w", in.DataDir, err)
	}
	if err := os.Rename(staging, in.DataDir); err != nil {
		return res, fmt.Errorf("move restored files into %s: %w", in.DataDir, err)
	}
	done = true
	if err := pgUser.Chown(parent); err != nil {
		return res, err
	}
	res.Store = which
	r.Metrics.ObserveRestore(in.Cluster, read.Load(), time.Since(start))
	return res, nil
}

// requireEmpty refuses a target that holds anything: a restore never
// writes over files it did not make.
func requireEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("check target %s: %w", dir, err)
	case len(entries) > 0:
		return activities.TargetNotEmpty(dir, entries[0].Name())
	}
	return nil
}

// identities reads the age identity the topology names.
func (r *Restore) identities() ([]age.Identity, error) {
	return activities.IdentitiesOf(r.Clients, r.Topology)
}

// sealError turns the pipeline's typed errors into non-retryable errors
// that say which backup is at fault.
func (r *Restore) sealError(ctx context.Context, store objstore.Store, m schemas.Manifest, err error) error {
	var corruptErr *pipeline.CorruptError
	switch {
	case pipeline.IsWrongKey(err):
		return activities.WrongKey(fmt.Sprintf("backup %s: %v", m.ID, err))
	case errors.As(err, &corruptErr):
		// Reading stopped at the damage; the checksum of the whole stored
		// object shows the operator it differs from what was uploaded.
		actual := "unknown"
		if sum, size, herr := pipeline.StoredSum(ctx, store, m.Object); herr == nil {
			actual = fmt.Sprintf("%s over %d bytes", sum, size)
		}
		return activities.Corrupt(fmt.Sprintf("backup %s (%s): %v; stored SHA-256 expected %s over %d bytes, actual %s",
			m.ID, m.Object, err, m.StoredSHA256, m.StoredSize, actual))
	case pipeline.IsCorrupt(err):
		return activities.Corrupt(fmt.Sprintf("backup %s (%s): %v", m.ID, m.Object, err))
	}
	return fmt.Errorf("restore backup %s: %w", m.ID, err)
}

// untar writes a tar stream under dir, refusing entries that would land
// outside it. The files are written behind the stream, by a goroutine of
// their own.
func untar(r io.Reader, dir string) (res schemas.RestoreBaseResult, err error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return res, err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	w := fstree.NewWriteBehind(root, untarWriters, untarChunks, untarChunkSize)
	w.DirMode = 0o700 // a file's directory the tar does not list first
	defer func() {
		if werr := w.Wait(); err == nil && werr != nil {
			err = werr
		}
	}()
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("read tar: %w", err)
		}
		name := filepath.Clean(h.Name)
		if !filepath.IsLocal(name) {
			return res, activities.Corrupt(fmt.Sprintf("backup holds %q, a path outside the data directory", h.Name))
		}
		mode := os.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, mode|0o700); err != nil {
				return res, err
			}
		case tar.TypeReg:
			n, err := w.Create(filepath.ToSlash(name), mode, tr)
			if err != nil {
				return res, fmt.Errorf("write %s: %w", name, err)
			}
			res.Files++
			res.Bytes += n
		case tar.TypeSymlink:
			// pg_tblspc links point at tablespaces outside the data
			// directory; restoring them needs a tablespace mapping.
			return res, activities.InvalidInput("backup", fmt.Sprintf("holds the symlink %s (a tablespace): tablespaces are not supported yet", name))
		default:
			return res, activities.Corrupt(fmt.Sprintf("backup holds %s of tar type %q, which a base backup does not contain", name, h.Typeflag))
		}
	}
}

// StartRestored writes the recovery settings into a restored data directory,
// starts PostgreSQL on it and waits, heartbeating, until recovery has ended
// and the server accepts writes. The restored server never archives: its
// WAL would collide with the cluster it was restored from.
func (r *Restore) StartRestored(ctx context.Context, in schemas.StartRestoredInput) (schemas.StartRestoredResult, error) {
	if in.Cluster != r.Topology.Cluster {
		return schemas.StartRestoredResult{}, activities.UnknownCluster(in.Cluster, r.Topology.Cluster)
	}
	pgUser, err := pgos.PostgresUser()
	if err != nil {
		return schemas.StartRestoredResult{}, err
	}
	logPath := filepath.Join(in.DataDir, "lifeboat-restore.log")
	if !postmasterRunning(in.DataDir) {
		if err := r.writeRecoveryConf(in, pgUser); err != nil {
			return schemas.StartRestoredResult{}, err
		}
		env, err := r.restoreEnv()
		if err != nil {
			return schemas.StartRestoredResult{}, err
		}
		cmd := exec.CommandContext(ctx, filepath.Join(r.pgBinDir(), "pg_ctl"), "start", "-W", "-D", in.DataDir, "-l", logPath)
		cmd.Env = env
		cmd.Dir = in.DataDir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pgUser.Cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			return schemas.StartRestoredResult{}, fmt.Errorf("pg_ctl start: %w: %s", err, out)
		}
	}

	conn, err := r.waitPromoted(ctx, in.DataDir, in.Port, logPath)
	if err != nil {
		return schemas.StartRestoredResult{}, err
	}
	// Recovery is over: nothing reads the spool any more.
	if err := os.RemoveAll(filepath.Join(in.DataDir, walSpoolName)); err != nil {
		r.logger().Warn("could not remove the WAL spool", zap.String("data_dir", in.DataDir), zap.Error(err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var res schemas.StartRestoredResult
	err = conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text, pg_last_xact_replay_timestamp()`).Scan(&res.RecoveredLSN, &res.LastCommit)
	if err != nil {
		return res, fmt.Errorf("query restored server: %w", err)
	}
	return res, nil
}

// writeRecoveryConf appends the restore's settings; later lines win, so it
// overrides what the backup's postgresql.auto.conf says of replication.
func (r *Restore) writeRecoveryConf(in schemas.StartRestoredInput, u pgos.User) error {
	fetch := spoolRestoreCommand(in.DataDir)
	if fetch == "" {
		fetch = fmt.Sprintf("%s wal-fetch --topology %s %%f %%p", r.LifeboatBin, r.TopologyPath)
	}
	lines := []string{
		"",
		"# --- lifeboat restore ---",
		fmt.Sprintf("port = %d", in.Port),
		"listen_addresses = '127.0.0.1'",
		"unix_socket_directories = ''",
		"restore_command = '" + strings.ReplaceAll(fetch, "'", "''") + "'",
		"recovery_target_action = 'promote'",
		"recovery_target_timeline = 'latest'",
		"archive_mode = off",
		"primary_conninfo = ''",
		"primary_slot_name = ''",
		"synchronous_standby_names = ''",
		fmt.Sprintf("cluster_name = 'restore-%d'", in.Port),
	}
	if in.Until != "" {
		t, err := time.Parse(time.RFC3339Nano, in.Until)
		if err != nil {
			return activities.InvalidInput("until", err.Error())
		}
		// PostgreSQL reads microseconds at most, in its own format.
		target := t.UTC().Format("2006-01-02 15:04:05.999999") + "+00"
		lines = append(lines, "recovery_target_time = '"+target+"'", "recovery_target_inclusive = false")
	}
	conf := filepath.Join(in.DataDir, "postgresql.auto.conf")
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("write recovery settings: %w", err)
	}
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(in.DataDir, "standby.signal"))
	signal := filepath.Join(in.DataDir, "recovery.signal")
	if err := os.WriteFile(signal, nil, 0o600); err != nil {
		return err
	}
	for _, p := range []string{conf, signal} {
		if err := u.Chown(p); err != nil {
			return err
		}
	}
	return nil
}

// restoreEnv is the environment of the restored postmaster: what its
// restore_command needs to reach the store, and nothing of the caller's PG*.
func (r *Restore) restoreEnv() ([]string, error) {
	// wal-fetch reads from the replica when the primary fails, so it needs
	// the credentials of both.
	creds, err := activities.StoreEnv(r.Topology, r.Clients.Secrets)
	if err != nil {
		return nil, err
	}
	return append([]string{"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}, creds...), nil
}

// waitPromoted polls the restored server until it has left recovery. A
// postmaster that dies (a recovery target past the archive's end, a WAL
// file that will not fetch) ends the wait with the end of its log.
func (r *Restore) waitPromoted(ctx context.Context, dataDir string, port int, logPath string) (*pgx.Conn, error) {
	stop := activities.HeartbeatEvery(ctx, 5*time.Second, func() any { return "waiting for recovery to end" })
	defer stop()
	var lastErr error
	// pg_ctl -W returns before the postmaster has written its pid file.
	startBy := time.Now().Add(15 * time.Second)
	for {
		if !postmasterRunning(dataDir) && time.Now().After(startBy) {
			return nil, activities.RecoveryFailed(activities.TailFile(logPath, 6), lastErr)
		}
		conn, err := r.connect(ctx, port)
		if err == nil {
			startBy = time.Time{} // seen: from now on a missing postmaster is a dead one
			var inRecovery bool
			if err = conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err == nil && !inRecovery {
				return conn, nil
			}
			conn.Close(ctx)
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("recovery did not end: %w (last: %v)", ctx.Err(), lastErr)
		// Often: the achieved RTO ends when the server is seen promoted.
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// connect reaches a restored server as the cluster's own role: the roles
// and passwords come back with the backup.
func (r *Restore) connect(ctx context.Context, port int) (*pgx.Conn, error) {
	node, _ := r.anyNode()
	cfg, err := pgx.ParseConfig(node.DSN)
	if err != nil {
		return nil, err
	}
	pw, err := r.Clients.Secrets.Value(node.Password)
	if err != nil {
		return nil, err
	}
	if pw != "" {
		cfg.Password = pw
	}
	cfg.Host, cfg.Port = "127.0.0.1", uint16(port)
	cfg.Fallbacks = nil
	cfg.ConnectTimeout = 2 * time.Second
	return pgx.ConnectConfig(ctx, cfg)
}

// anyNode is the first PostgreSQL node of the topology, whose DSN and
// password a restored copy of the cluster accepts.
func (r *Restore) anyNode() (schemas.PostgresNode, bool) {
	for _, reg := range r.Topology.Regions {
		if len(reg.Postgres) > 0 {
			return reg.Postgres[0], true
		}
	}
	return schemas.PostgresNode{}, false
}

// VerifyRestored proves the restored server answers queries and writes.
func (r *Restore) VerifyRestored(ctx context.Context, in schemas.VerifyRestoredInput) (schemas.VerifyRestoredResult, error) {
	conn, err := r.connect(ctx, in.Port)
	if err != nil {
		return schemas.VerifyRestoredResult{}, fmt.Errorf("connect to the restored server on port %d: %w", in.Port, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var res schemas.VerifyRestoredResult
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname`)
	if err != nil {
		return res, err
	}
	if res.Databases, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return res, err
	}
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')`).Scan(&res.Tables)
	if err != nil {
		return res, err
	}
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE lifeboat_restore_check(x int); INSERT INTO lifeboat_restore_check VALUES (1)`); err != nil {
		return res, fmt.Errorf("the restored server does not accept writes: %w", err)
	}
	return res, nil
}

func (r *Restore) pgBinDir() string {
	if r.PGBinDir == "" {
		return activities.DefaultPGBinDir
	}
	return r.PGBinDir
}

// postmasterRunning reports whether a live postmaster owns dataDir.
func postmasterRunning(dataDir string) bool {
	pid := postmasterPID(dataDir)
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

// postmasterPID is the process ID in dataDir's postmaster.pid, or 0.
func postmasterPID(dataDir string) int {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	var pid int
	if _, err := fmt.Sscan(strings.SplitN(string(b), "\n", 2)[0], &pid); err != nil || pid <= 0 {
		return 0
	}
	return pid
}
