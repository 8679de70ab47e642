package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/fstree"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/activities/pipeline"
	"github.com/runnerhub/lifeboat/schemas"
)

// BackupFiles writes every file tree of one region into one tar stream,
// sealed into one object. It runs on the region's queue because the trees
// are on the region's disks. One object per region rather than per tree:
// a region's trees are read by the same worker anyway, and one stream per
// region keeps the manifest short and the upload's overhead paid once.
//
// Entries are named <tree>/<relative path>; directories, regular files and
// symbolic links (stored as links, never followed) keep their modes and
// modification times. Sockets, devices and pipes cannot be restored from a
// byte copy and files deleted during the walk no longer exist; both are
// returned in Skipped. A file whose size or modification time changes while
// it is read fails the backup with a FileChangedError naming it.
func (b *Backup) BackupFiles(ctx context.Context, in schemas.BackupFilesInput) (schemas.BackupFilesResult, error) {
	if err := b.checkRegional(ctx, in.Cluster, in.ID, in.Region); err != nil {
		return schemas.BackupFilesResult{}, err
	}
	var trees []schemas.FileTree
	for _, t := range b.Topology.Files {
		if t.Region == in.Region {
			trees = append(trees, t)
		}
	}
	if len(trees) == 0 {
		return schemas.BackupFilesResult{}, activities.InvalidInput("region", fmt.Sprintf("%q holds no file tree of cluster %s", in.Region, in.Cluster))
	}
	names := make([]string, len(trees))
	for i, t := range trees {
		names[i] = t.Name
	}

	var estimate int64
	for _, t := range trees {
		n, err := treeSize(t.Path)
		if err != nil {
			return schemas.BackupFilesResult{}, fmt.Errorf("walk file tree %s: %w", t.Name, err)
		}
		estimate += n
	}

	var skipped []string
	key := schemas.BackupPartKey(in.Cluster, in.ID, schemas.BackupFiles, in.Region)
	m, err := b.sealPart(ctx, in.Cluster, in.ID, schemas.BackupFiles, in.Region, strings.Join(names, ","), key, estimate,
		func(w io.Writer) error {
			var err error
			skipped, err = writeTrees(ctx, w, trees)
			return err
		})
	if err != nil {
		return schemas.BackupFilesResult{}, err
	}
	if len(skipped) > 0 {
		b.logger().Warn("files left out of the backup", zap.String("backup_id", in.ID), zap.Strings("skipped", skipped))
	}
	return schemas.BackupFilesResult{Manifest: m, Skipped: skipped}, nil
}

// BackupConfig stores what a region's services run with, read through their
// own protocols: the topology this worker loaded (it names secrets, never
// holds them), and per node PostgreSQL's non-default settings and pg_hba
// rules, Redis's CONFIG GET * and each sentinel's view of the master, with
// password values masked. It runs on the region's queue, like probes: the
// nodes are reached from inside their region, so a backup needs no path
// across regions, and a lost region's nodes fail only their own part.
func (b *Backup) BackupConfig(ctx context.Context, in schemas.BackupConfigInput) (schemas.BackupConfigResult, error) {
	if err := b.checkRegional(ctx, in.Cluster, in.ID, in.Region); err != nil {
		return schemas.BackupConfigResult{}, err
	}
	region, ok := b.Topology.Region(in.Region)
	if !ok {
		return schemas.BackupConfigResult{}, activities.InvalidInput("region", fmt.Sprintf("%q is not in the topology", in.Region))
	}
	// Configuration is a few kilobytes: it is gathered whole first, so a
	// node that does not answer fails the part before anything is uploaded.
	files, nodes, err := b.gatherConfig(ctx, region)
	if err != nil {
		return schemas.BackupConfigResult{}, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now().UTC()
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o600, Size: int64(len(f.body)), ModTime: now, Format: tar.FormatPAX}); err != nil {
			return schemas.BackupConfigResult{}, err
		}
		if _, err := tw.Write(f.body); err != nil {
			return schemas.BackupConfigResult{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return schemas.BackupConfigResult{}, err
	}
	key := schemas.BackupPartKey(in.Cluster, in.ID, schemas.BackupConfig, in.Region)
	m, err := b.sealPart(ctx, in.Cluster, in.ID, schemas.BackupConfig, in.Region, strings.Join(nodes, ","), key, int64(buf.Len()),
		func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err })
	if err != nil {
		return schemas.BackupConfigResult{}, err
	}
	return schemas.BackupConfigResult{Manifest: m}, nil
}

// checkRegional checks the input of an activity that reads one region's
// disks or nodes, and that it was delivered to that region's worker.
func (b *Backup) checkRegional(ctx context.Context, cluster, id, region string) error {
	if cluster != b.Topology.Cluster {
		return activities.UnknownCluster(cluster, b.Topology.Cluster)
	}
	if id == "" {
		return activities.InvalidInput("id", "required")
	}
	if _, ok := b.Topology.Region(region); !ok {
		return activities.InvalidInput("region", fmt.Sprintf("%q is not in the topology", region))
	}
	return activities.CheckQueue(ctx, "region", region)
}

// sealPart streams what write produces through the pipeline into key,
// heartbeating progress, reads the object back to prove it, and returns the
// manifest of that one part.
func (b *Backup) sealPart(ctx context.Context, cluster, id, kind, region, source, key string, estimate int64, write func(io.Writer) error) (schemas.Manifest, error) {
	recipients, err := pipeline.ParseRecipients(b.Topology.Backup.Recipients)
	if err != nil {
		return schemas.Manifest{}, activities.InvalidInput("backup.recipients", err.Error())
	}
	store, err := b.Clients.Store(ctx)
	if err != nil {
		return schemas.Manifest{}, err
	}
	m := schemas.Manifest{
		FormatVersion: schemas.ManifestFormatVersion, ID: id, Cluster: cluster, Kind: kind, Source: source,
		Object: key, StartTime: time.Now().UTC(),
		Recipients: b.Topology.Backup.Recipients, Compression: "zstd", CompressionLevel: b.level(),
	}

	var done atomic.Int64
	stopBeat := b.heartbeat(ctx, key, &done, estimate)
	sums, err := pipeline.SealStream(ctx, store, key, pipeline.Options{
		Recipients: recipients, Level: b.Level, Concurrency: b.Concurrency,
	}, &done, write)
	stopBeat()
	if err != nil {
		return schemas.Manifest{}, err
	}
	if err := verifyStored(ctx, store, key, sums); err != nil {
		return schemas.Manifest{}, err
	}
	m.PlainSize, m.StoredSize = sums.PlainSize, sums.StoredSize
	m.PlainSHA256, m.StoredSHA256 = sums.PlainSHA256, sums.StoredSHA256
	m.EndTime = time.Now().UTC()
	m.Parts = []schemas.BackupPart{{
		Key: key, Region: region, Source: source,
		PlainSize: sums.PlainSize, StoredSize: sums.StoredSize, PlainSHA256: sums.PlainSHA256, StoredSHA256: sums.StoredSHA256,
	}}
	b.logger().Info("backup part stored", zap.String("backup_id", id), zap.String("kind", kind), zap.String("region", region),
		zap.String("source", source), zap.Int64("plain_bytes", m.PlainSize), zap.Int64("stored_bytes", m.StoredSize),
		zap.Duration("took", m.EndTime.Sub(m.StartTime)))
	return m, nil
}

// checkParts checks that every part a manifest lists is in the store with
// the size it claims; WriteManifest calls it before storing the manifest.
func checkParts(ctx context.Context, store objstore.Store, m schemas.Manifest) error {
	for _, p := range m.Parts {
		info, err := store.Stat(ctx, p.Key)
		if err != nil {
			return fmt.Errorf("check part %s of backup %s: %w", p.Key, m.ID, err)
		}
		if info.Size != p.StoredSize {
			return activities.Corrupt(fmt.Sprintf("backup %s: %s holds %d bytes, the upload wrote %d", m.ID, p.Key, info.Size, p.StoredSize))
		}
	}
	return nil
}

// treeSize is the quick walk progress is estimated from: the bytes of the
// tree's regular files.
func treeSize(root string) (int64, error) {
	root, err := filepath.EvalSymlinks(root)
	if err != nil {
		return 0, err
	}
	var n int64
	err = filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed since it was listed; the copy will say so
			}
			return err
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n, err
}

// writeTrees writes the trees as one tar stream and returns what it left
// out, each with the reason.
func writeTrees(ctx context.Context, w io.Writer, trees []schemas.FileTree) (skipped []string, err error) {
	tw := tar.NewWriter(w)
	for _, t := range trees {
		s, err := writeTree(ctx, tw, t)
		skipped = append(skipped, s...)
		if err != nil {
			return skipped, err
		}
	}
	return skipped, tw.Close()
}

func writeTree(ctx context.Context, tw *tar.Writer, t schemas.FileTree) (skipped []string, err error) {
	nameOf := func(rel string) string {
		if rel == "." {
			return t.Name
		}
		return t.Name + "/" + rel
	}
	buf := make([]byte, 256<<10)
	vanished, err := fstree.WalkTree(ctx, t.Path, func(rel, path string, info fs.FileInfo) error {
		name := nameOf(rel)
		switch {
		case info.IsDir():
			return writeHeader(tw, info, name+"/", "")
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if errors.Is(err, fs.ErrNotExist) {
				skipped = append(skipped, name+": removed during the backup")
				return nil
			}
			if err != nil {
				return fmt.Errorf("read link %s: %w", name, err)
			}
			return writeHeader(tw, info, name, target)
		case info.Mode().IsRegular():
			_, _, err := fstree.CopyStable(path, name, buf, func(info fs.FileInfo) (io.Writer, error) {
				return tw, writeHeader(tw, info, name, "")
			})
			if errors.Is(err, fstree.ErrVanished) {
				skipped = append(skipped, name+": removed during the backup")
				return nil
			}
			return err
		default:
			skipped = append(skipped, fmt.Sprintf("%s: %s, not a regular file", name, info.Mode().Type()))
			return nil
		}
	})
	for _, rel := range vanished {
		skipped = append(skipped, nameOf(rel)+": removed during the backup")
	}
	if err != nil && !errors.Is(err, ctx.Err()) {
		err = fmt.Errorf("file tree %s: %w", t.Name, err)
	}
	return skipped, err
}

func writeHeader(tw *tar.Writer, info fs.FileInfo, name, link string) error {
	h, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return fmt.Errorf("tar header of %s: %w", name, err)
	}
	h.Name = name
	// PAX keeps modification times to the nanosecond.
	h.Format = tar.FormatPAX
	h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// configFile is one file of a config backup.
type configFile struct {
	name string
	body []byte
}

// gatherConfig reads the configuration of every node of a region and the
// topology, and returns the files to store and the nodes read.
func (b *Backup) gatherConfig(ctx context.Context, region schemas.Region) ([]configFile, []string, error) {
	var files []configFile
	var nodes []string
	add := func(name string, v any) error {
		body, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("encode %s: %w", name, err)
		}
		files = append(files, configFile{name: name, body: append(body, '\n')})
		return nil
	}
	// The topology as loaded and validated: what the worker actually runs with.
	if err := add("topology.json", b.Topology); err != nil {
		return nil, nil, err
	}
	for _, n := range region.Postgres {
		settings, hba, err := b.postgresConfig(ctx, n)
		if err != nil {
			return nil, nil, err
		}
		if err := add("postgres/"+n.Name+"/settings.json", settings); err != nil {
			return nil, nil, err
		}
		if err := add("postgres/"+n.Name+"/pg_hba.json", hba); err != nil {
			return nil, nil, err
		}
		nodes = append(nodes, n.Name)
	}
	for _, n := range region.Redis {
		r, err := b.Clients.Redis(n.Name, n.Addr, n.Password)
		if err != nil {
			return nil, nil, err
		}
		cfg, err := r.ConfigGet(ctx, "*").Result()
		if err != nil {
			return nil, nil, fmt.Errorf("CONFIG GET * on %s: %w", n.Name, err)
		}
		if err := add("redis/"+n.Name+"/config.json", maskRedis(cfg)); err != nil {
			return nil, nil, err
		}
		nodes = append(nodes, n.Name)
	}
	if b.Topology.Redis != nil {
		for _, n := range region.Sentinels {
			s, err := b.Clients.Sentinel(n)
			if err != nil {
				return nil, nil, err
			}
			master, err := s.Master(ctx, b.Topology.Redis.MasterName).Result()
			if err != nil {
				return nil, nil, fmt.Errorf("SENTINEL MASTER %s on %s: %w", b.Topology.Redis.MasterName, n.Name, err)
			}
			if err := add("sentinel/"+n.Name+"/master.json", maskRedis(master)); err != nil {
				return nil, nil, err
			}
			nodes = append(nodes, n.Name)
		}
	}
	return files, nodes, nil
}

// pgSetting is one row of pg_settings that differs from the built-in default.
type pgSetting struct {
	Name    string `json:"name"`
	Setting string `json:"setting"`
	Source  string `json:"source"`
}

// pgHBARule is one row of pg_hba_file_rules.
type pgHBARule struct {
	Line     int      `json:"line_number"`
	Type     *string  `json:"type"`
	Database []string `json:"database"`
	User     []string `json:"user_name"`
	Address  *string  `json:"address"`
	Netmask  *string  `json:"netmask"`
	Method   *string  `json:"auth_method"`
	Options  []string `json:"options"`
	Error    *string  `json:"error"`
}

func (b *Backup) postgresConfig(ctx context.Context, n schemas.PostgresNode) ([]pgSetting, []pgHBARule, error) {
	pool, err := b.Clients.Postgres(ctx, n)
	if err != nil {
		return nil, nil, err
	}
	rows, err := pool.Query(ctx, `SELECT name, setting, source FROM pg_settings WHERE source NOT IN ('default','override') ORDER BY name`)
	if err != nil {
		return nil, nil, fmt.Errorf("read pg_settings of %s: %w", n.Name, err)
	}
	var settings []pgSetting
	for rows.Next() {
		var s pgSetting
		if err := rows.Scan(&s.Name, &s.Setting, &s.Source); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("read pg_settings of %s: %w", n.Name, err)
		}
		s.Setting = maskSetting(s.Name, s.Setting)
		settings = append(settings, s)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read pg_settings of %s: %w", n.Name, err)
	}
	rows, err = pool.Query(ctx, `SELECT line_number, type, database, user_name, address, netmask, auth_method, options, error
		FROM pg_hba_file_rules ORDER BY line_number`)
	if err != nil {
		return nil, nil, fmt.Errorf("read pg_hba_file_rules of %s: %w", n.Name, err)
	}
	var hba []pgHBARule
	for rows.Next() {
		var r pgHBARule
		if err := rows.Scan(&r.Line, &r.Type, &r.Database, &r.User, &r.Address, &r.Netmask, &r.Method, &r.Options, &r.Error); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("read pg_hba_file_rules of %s: %w", n.Name, err)
		}
		for i, o := range r.Options {
			r.Options[i] = maskConninfo(o)
		}
		hba = append(hba, r)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read pg_hba_file_rules of %s: %w", n.Name, err)
	}
	return settings, hba, nil
}

// masked replaces every secret value a config backup would otherwise hold.
const masked = "********"

var (
	conninfoPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.|'')*'|[^\s]+)`)
	urlPassword      = regexp.MustCompile(`(://[^:/@\s]*:)[^@\s]*@`)
)

// maskSetting masks a PostgreSQL setting that is a secret, or the password
// inside a connection string (primary_conninfo carries the replication one).
func maskSetting(name, value string) string {
	if strings.Contains(strings.ToLower(name), "password") || strings.Contains(strings.ToLower(name), "passphrase") {
		if value == "" {
			return ""
		}
		return masked
	}
	return maskConninfo(value)
}

func maskConninfo(s string) string {
	s = conninfoPassword.ReplaceAllString(s, "${1}"+masked)
	return urlPassword.ReplaceAllString(s, "${1}"+masked+"@")
}

// maskRedis masks the values of Redis and Sentinel parameters that hold a
// password (requirepass, masterauth, auth-pass, tls-*-pass, …). Empty
// values stay empty, so the backup still says no password was set.
func maskRedis(cfg map[string]string) map[string]string {
	out := make(map[string]string, len(cfg))
	for k, v := range cfg {
		lk := strings.ToLower(k)
		if v != "" && (strings.Contains(lk, "pass") || strings.Contains(lk, "auth")) {
			v = masked
		}
		out[k] = v
	}
	return out
}
