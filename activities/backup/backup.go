package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/activity"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/activities/pipeline"
	"github.com/runnerhub/lifeboat/schemas"
)

// Backup streams backups into the object store and writes their manifests.
type Backup struct {
	Topology *schemas.Topology
	Clients  *activities.Clients
	Logger   *zap.Logger
	// PGBinDir holds pg_basebackup; empty means DefaultPGBinDir.
	PGBinDir string
	// Level and Concurrency tune zstd; zero means the pipeline's defaults.
	Level       int
	Concurrency int
	// HeartbeatEvery is how often progress is reported; zero means 5 s.
	HeartbeatEvery time.Duration
}

// BackupDatabase streams a base backup of one node over the replication
// protocol (pg_basebackup, tar format, with the WAL needed to make it
// consistent) through zstd and age into the store, then reads the stored
// object back to prove its checksum. It returns the manifest to write; the
// backup does not exist until WriteManifest stores it.
func (b *Backup) BackupDatabase(ctx context.Context, in schemas.BackupDatabaseInput) (schemas.BackupDatabaseResult, error) {
	if err := b.checkBackup(in.Cluster, in.ID); err != nil {
		return schemas.BackupDatabaseResult{}, err
	}
	node, ok := b.postgresNode(in.Source)
	if !ok {
		return schemas.BackupDatabaseResult{}, activities.InvalidInput("source", fmt.Sprintf("%q is not a PostgreSQL node of cluster %s", in.Source, in.Cluster))
	}
	recipients, err := pipeline.ParseRecipients(b.Topology.Backup.Recipients)
	if err != nil {
		return schemas.BackupDatabaseResult{}, activities.InvalidInput("backup.recipients", err.Error())
	}
	store, err := b.Clients.Store(ctx)
	if err != nil {
		return schemas.BackupDatabaseResult{}, err
	}
	if err := b.startOver(ctx, store, schemas.BackupDataKey(in.Cluster, in.ID)); err != nil {
		return schemas.BackupDatabaseResult{}, err
	}
	version, estimate, err := b.databaseFacts(ctx, node)
	if err != nil {
		return schemas.BackupDatabaseResult{}, err
	}

	m := schemas.Manifest{
		FormatVersion: schemas.ManifestFormatVersion, ID: in.ID, Cluster: in.Cluster,
		Kind: schemas.BackupDatabase, Source: node.Name, Object: schemas.BackupDataKey(in.Cluster, in.ID),
		StartTime: time.Now().UTC(), PostgresVersion: version,
		Recipients: b.Topology.Backup.Recipients, Compression: "zstd", CompressionLevel: b.level(),
	}

	release, err := b.holdWAL(ctx, node, in.ID)
	if err != nil {
		return schemas.BackupDatabaseResult{}, err
	}
	defer release()

	cmd, stderr, err := b.baseBackupCommand(ctx, node)
	if err != nil {
		return schemas.BackupDatabaseResult{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return schemas.BackupDatabaseResult{}, err
	}
	if err := cmd.Start(); err != nil {
		return schemas.BackupDatabaseResult{}, fmt.Errorf("start pg_basebackup: %w", err)
	}

	var done atomic.Int64
	stopBeat := b.heartbeat(ctx, m.Object, &done, estimate)
	sums, upErr := pipeline.SealAndPut(ctx, store, m.Object, &pipeline.CountingReader{R: stdout, N: &done}, pipeline.Options{
		Recipients: recipients, Level: b.Level, Concurrency: b.Concurrency,
	})
	stopBeat()
	if upErr != nil {
		// pg_basebackup would block on a pipe no one reads any more.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return schemas.BackupDatabaseResult{}, activities.StoreFull(fmt.Errorf("upload %s to %s: %w", m.Object, store, upErr))
	}
	if waitErr := cmd.Wait(); waitErr != nil {
		return schemas.BackupDatabaseResult{}, fmt.Errorf("pg_basebackup of %s: %w: %s", node.Name, waitErr, activities.LastLines(stderr.Bytes(), 5))
	}
	if err := parseBaseBackupLog(stderr.Bytes(), &m); err != nil {
		return schemas.BackupDatabaseResult{}, err
	}
	if err := verifyStored(ctx, store, m.Object, sums); err != nil {
		return schemas.BackupDatabaseResult{}, err
	}
	m.PlainSize, m.StoredSize = sums.PlainSize, sums.StoredSize
	m.PlainSHA256, m.StoredSHA256 = sums.PlainSHA256, sums.StoredSHA256
	m.EndTime = time.Now().UTC()
	b.logger().Info("base backup stored", zap.String("backup_id", in.ID), zap.String("source", node.Name),
		zap.Int64("plain_bytes", m.PlainSize), zap.Int64("stored_bytes", m.StoredSize),
		zap.Duration("took", m.EndTime.Sub(m.StartTime)))
	return schemas.BackupDatabaseResult{Manifest: m}, nil
}

// WriteManifest stores a backup's manifest after checking that the data it
// describes is in the store with the size it claims.
func (b *Backup) WriteManifest(ctx context.Context, in schemas.WriteManifestInput) (schemas.WriteManifestResult, error) {
	m := in.Manifest
	if m.Cluster != b.Topology.Cluster {
		return schemas.WriteManifestResult{}, activities.UnknownCluster(m.Cluster, b.Topology.Cluster)
	}
	if m.ID == "" || m.Object == "" {
		return schemas.WriteManifestResult{}, activities.InvalidInput("manifest", "id and object are required")
	}
	store, err := b.Clients.Store(ctx)
	if err != nil {
		return schemas.WriteManifestResult{}, err
	}
	info, err := store.Stat(ctx, m.Object)
	if err != nil {
		return schemas.WriteManifestResult{}, fmt.Errorf("check data of backup %s: %w", m.ID, err)
	}
	if info.Size != m.StoredSize {
		return schemas.WriteManifestResult{}, activities.Corrupt(fmt.Sprintf("backup %s: %s holds %d bytes, the upload wrote %d", m.ID, m.Object, info.Size, m.StoredSize))
	}
	if err := checkParts(ctx, store, m); err != nil {
		return schemas.WriteManifestResult{}, err
	}
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return schemas.WriteManifestResult{}, err
	}
	key := schemas.ManifestKey(m.Cluster, m.ID)
	if err := store.Put(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil {
		return schemas.WriteManifestResult{}, fmt.Errorf("write manifest %s to %s: %w", key, store, err)
	}
	return schemas.WriteManifestResult{Key: key}, nil
}

// checkBackup refuses an input naming another cluster or no backup.
func (b *Backup) checkBackup(cluster, id string) error {
	if cluster != b.Topology.Cluster {
		return activities.UnknownCluster(cluster, b.Topology.Cluster)
	}
	if id == "" {
		return activities.InvalidInput("id", "required")
	}
	return nil
}

// DeleteBackup removes every object of a backup; removing nothing is fine.
func (b *Backup) DeleteBackup(ctx context.Context, in schemas.DeleteBackupInput) (schemas.DeleteBackupResult, error) {
	if err := b.checkBackup(in.Cluster, in.ID); err != nil {
		return schemas.DeleteBackupResult{}, err
	}
	store, err := b.Clients.Store(ctx)
	if err != nil {
		return schemas.DeleteBackupResult{}, err
	}
	objs, err := store.List(ctx, schemas.BackupsPrefix(in.Cluster)+in.ID+"/")
	if err != nil {
		return schemas.DeleteBackupResult{}, fmt.Errorf("list backup %s: %w", in.ID, err)
	}
	var res schemas.DeleteBackupResult
	// The manifest goes first, so a half-deleted backup never looks whole.
	manifest := schemas.ManifestKey(in.Cluster, in.ID)
	if err := store.Delete(ctx, manifest); err != nil {
		return res, fmt.Errorf("delete %s: %w", manifest, err)
	}
	for _, o := range objs {
		if o.Key == manifest {
			res.Deleted = append(res.Deleted, o.Key)
			continue
		}
		if err := store.Delete(ctx, o.Key); err != nil {
			return res, fmt.Errorf("delete %s: %w", o.Key, err)
		}
		res.Deleted = append(res.Deleted, o.Key)
	}
	return res, nil
}

func (b *Backup) postgresNode(name string) (schemas.PostgresNode, bool) {
	for _, r := range b.Topology.Regions {
		for _, n := range r.Postgres {
			if n.Name == name {
				return n, true
			}
		}
	}
	return schemas.PostgresNode{}, false
}

func (b *Backup) level() int {
	if b.Level == 0 {
		return pipeline.DefaultLevel
	}
	return b.Level
}

func (b *Backup) logger() *zap.Logger { return activities.OrNop(b.Logger) }

// databaseFacts reads the server version and the size of all databases,
// the estimate progress is reported against.
func (b *Backup) databaseFacts(ctx context.Context, node schemas.PostgresNode) (version string, size int64, err error) {
	pool, err := b.Clients.Postgres(ctx, node)
	if err != nil {
		return "", 0, err
	}
	err = pool.QueryRow(ctx, `SELECT current_setting('server_version'), (SELECT sum(pg_database_size(oid))::bigint FROM pg_database)`).
		Scan(&version, &size)
	if err != nil {
		return "", 0, fmt.Errorf("query %s: %w", node.Name, err)
	}
	return version, size, nil
}

// holdWAL creates a temporary physical replication slot on the source for
// the length of the backup. pg_basebackup -X fetch reads the WAL written
// during the copy at its end; under write load a server, a standby above
// all, recycles those segments first and the backup fails ("requested WAL
// segment has already been removed"). The slot keeps them, and being
// temporary it goes with its session, also when this worker dies.
func (b *Backup) holdWAL(ctx context.Context, node schemas.PostgresNode, id string) (release func(), err error) {
	pool, err := b.Clients.Postgres(ctx, node)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", node.Name, err)
	}
	slot := "lifeboat_" + strings.Map(func(r rune) rune {
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			return r
		}
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return '_'
	}, id)
	if _, err := conn.Exec(ctx, `SELECT pg_create_physical_replication_slot($1, true, true)`, slot); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("reserve WAL on %s with a temporary slot %s: %w", node.Name, slot, err)
	}
	return func() { conn.Close(context.WithoutCancel(ctx)) }, nil
}

// baseBackupCommand prepares pg_basebackup writing one tar stream to stdout.
// -X fetch puts the WAL written during the copy into that stream, so the
// backup restores to a consistent state on its own.
func (b *Backup) baseBackupCommand(ctx context.Context, node schemas.PostgresNode) (*exec.Cmd, *bytes.Buffer, error) {
	dir := b.PGBinDir
	if dir == "" {
		dir = activities.DefaultPGBinDir
	}
	pw, err := b.Clients.Secrets.Value(node.Password)
	if err != nil {
		return nil, nil, fmt.Errorf("password of %s: %w", node.Name, err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "pg_basebackup"),
		"--dbname", node.DSN, "--pgdata", "-", "--format", "tar", "--wal-method", "fetch",
		"--checkpoint", "fast", "--verbose", "--no-manifest")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pw, "PGAPPNAME=lifeboat-backup")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 10 * time.Second
	return cmd, &stderr, nil
}

// startOver prepares a retried upload of object. The attempt before it
// heartbeated its progress and then failed or died (its worker killed or
// cut off, so its heartbeat timed out). A base backup cannot go on from a
// byte offset: a new pg_basebackup starts from a new checkpoint and sends
// other bytes. So the retry starts over under the same key, and first
// removes what a dead attempt's upload left: the parts of its unfinished
// multipart upload, which no reader sees but which take space. A failed
// attempt that ended normally removed them itself.
func (b *Backup) startOver(ctx context.Context, store objstore.Store, object string) error {
	if !activity.IsActivity(ctx) || !activity.HasHeartbeatDetails(ctx) {
		return nil
	}
	var last schemas.BackupProgress
	if err := activity.GetHeartbeatDetails(ctx, &last); err != nil {
		return fmt.Errorf("read the heartbeat of the earlier attempt: %w", err)
	}
	swept := 0
	if ks, ok := store.(objstore.KeySweeper); ok {
		var err error
		if swept, err = ks.SweepKey(ctx, object); err != nil {
			return fmt.Errorf("remove what the earlier upload of %s left: %w", object, err)
		}
	}
	b.logger().Info("starting the upload over", zap.String("object", object),
		zap.Int32("attempt", activity.GetInfo(ctx).Attempt), zap.Int64("earlier_attempt_bytes", last.BytesDone),
		zap.Int("leftover_uploads_removed", swept))
	return nil
}

// heartbeat reports the upload's progress until the returned function is
// called.
func (b *Backup) heartbeat(ctx context.Context, object string, done *atomic.Int64, estimate int64) (stop func()) {
	start := time.Now()
	return activities.HeartbeatEvery(ctx, b.heartbeatEvery(), func() any {
		n := done.Load()
		return schemas.BackupProgress{
			Object: object, BytesDone: n, EstimatedTotal: estimate,
			MBPerSecond: float64(n) / 1e6 / max(time.Since(start).Seconds(), 0.001),
		}
	})
}

var (
	startPoint = regexp.MustCompile(`write-ahead log start point: ([0-9A-F]+/[0-9A-F]+) on timeline (\d+)`)
	endPoint   = regexp.MustCompile(`write-ahead log end point: ([0-9A-F]+/[0-9A-F]+)`)
)

// verifyStored reads an uploaded object back (pipeline.VerifyStored). Other
// bytes than the upload wrote are corrupt: a retry would read them again.
func verifyStored(ctx context.Context, store objstore.Store, key string, want pipeline.Sums) error {
	err := pipeline.VerifyStored(ctx, store, key, want)
	if pipeline.IsCorrupt(err) {
		return activities.Corrupt(err.Error())
	}
	return err
}

// parseBaseBackupLog takes the start and stop LSN and the timeline from
// pg_basebackup's verbose output.
func parseBaseBackupLog(log []byte, m *schemas.Manifest) error {
	s := startPoint.FindSubmatch(log)
	e := endPoint.FindSubmatch(log)
	if s == nil || e == nil {
		return fmt.Errorf("pg_basebackup did not report its WAL range: %s", activities.LastLines(log, 5))
	}
	m.StartLSN, m.StopLSN = string(s[1]), string(e[1])
	tli, err := strconv.ParseInt(string(s[2]), 10, 64)
	if err != nil {
		return fmt.Errorf("timeline %q: %w", s[2], err)
	}
	m.Timeline = tli
	return nil
}
