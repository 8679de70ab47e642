package backup

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/schemas"
)

// maxManifestBytes bounds what is read of one manifest: a real one is a few
// KiB, and a huge object under that name is not a manifest.
const maxManifestBytes = 1 << 20

// Retention lists what a cluster has in its store and deletes what the
// Retention workflow decided to remove. It decides nothing itself.
type Retention struct {
	Topology *schemas.Topology
	Clients  *activities.Clients
	Logger   *zap.Logger
}

// ListBackups lists a cluster's backups and archived WAL. A backup is valid
// when its manifest parses, names this cluster and this backup, and its data
// object is there with the size the manifest says; one that fails any of
// that is reported as invalid, never as an orphan, so nothing deletes it
// unasked. A backup folder without a manifest is an orphan.
func (r *Retention) ListBackups(ctx context.Context, in schemas.ListBackupsInput) (schemas.ListBackupsResult, error) {
	var res schemas.ListBackupsResult
	if in.Cluster != r.Topology.Cluster {
		return res, activities.UnknownCluster(in.Cluster, r.Topology.Cluster)
	}
	store, err := r.Clients.Store(ctx)
	if err != nil {
		return res, err
	}
	prefix := schemas.BackupsPrefix(in.Cluster)
	objs, err := store.List(ctx, prefix)
	if err != nil {
		return res, fmt.Errorf("list %s in %s: %w", prefix, store, err)
	}
	// List sorts by key, so each backup's objects are contiguous.
	for start := 0; start < len(objs); {
		id, _, ok := strings.Cut(strings.TrimPrefix(objs[start].Key, prefix), "/")
		if !ok || id == "" {
			res.Unrecognized = append(res.Unrecognized, objs[start].Key)
			start++
			continue
		}
		end := start + 1
		for end < len(objs) && strings.HasPrefix(objs[end].Key, prefix+id+"/") {
			end++
		}
		group := objs[start:end]
		start = end

		keys := make([]string, len(group))
		sizes := make(map[string]int64, len(group))
		orphan := schemas.OrphanBackup{ID: id}
		for i, o := range group {
			keys[i] = o.Key
			sizes[o.Key] = o.Size
			orphan.Bytes += o.Size
			if o.ModTime.After(orphan.LastModified) {
				orphan.LastModified = o.ModTime.UTC()
			}
		}
		manifestKey := schemas.ManifestKey(in.Cluster, id)
		if _, ok := sizes[manifestKey]; !ok {
			orphan.Keys = keys
			res.Orphans = append(res.Orphans, orphan)
			continue
		}
		m, problem, err := r.readManifest(ctx, store, manifestKey, in.Cluster, id, sizes)
		if err != nil {
			return res, err
		}
		if problem != "" {
			res.Invalid = append(res.Invalid, schemas.InvalidBackup{ID: id, Keys: keys, Problem: problem})
			continue
		}
		res.Backups = append(res.Backups, schemas.StoredBackup{Manifest: m, Keys: keys})
		activities.Progress(ctx, len(res.Backups))
	}

	walPrefix := schemas.WALPrefix(in.Cluster)
	wal, err := store.List(ctx, walPrefix)
	if err != nil {
		return res, fmt.Errorf("list %s in %s: %w", walPrefix, store, err)
	}
	for _, o := range wal {
		rest := strings.TrimPrefix(o.Key, walPrefix)
		name, ok := strings.CutSuffix(rest, ".zst.age")
		if !ok {
			name, ok = strings.CutSuffix(rest, ".json")
		}
		if !ok || schemas.CheckWALName(name) != nil {
			res.Unrecognized = append(res.Unrecognized, o.Key)
			continue
		}
		res.WAL = append(res.WAL, name)
	}
	// Each name has a record and data, which need not sort next to each
	// other ("X.json" < "X.partial.json" < "X.zst.age").
	slices.Sort(res.WAL)
	res.WAL = slices.Compact(res.WAL)
	r.logger().Info("listed backups", zap.String("cluster", in.Cluster), zap.Int("backups", len(res.Backups)),
		zap.Int("invalid", len(res.Invalid)), zap.Int("orphans", len(res.Orphans)), zap.Int("wal_files", len(res.WAL)))
	return res, nil
}

// readManifest reads and checks one manifest. A manifest that cannot be
// trusted is a problem to report, not an error: the listing goes on. Only a
// failure to reach the store is an error, which a retry may fix.
func (r *Retention) readManifest(ctx context.Context, store objstore.Store, key, cluster, id string, sizes map[string]int64) (schemas.Manifest, string, error) {
	body, err := store.Get(ctx, key)
	if err != nil {
		return schemas.Manifest{}, "", fmt.Errorf("read %s: %w", key, err)
	}
	data, err := io.ReadAll(io.LimitReader(body, maxManifestBytes+1))
	body.Close()
	if err != nil {
		return schemas.Manifest{}, "", fmt.Errorf("read %s: %w", key, err)
	}
	if len(data) > maxManifestBytes {
		return schemas.Manifest{}, fmt.Sprintf("manifest is over %d bytes", maxManifestBytes), nil
	}
	m, err := schemas.ParseManifest(data)
	switch {
	case err != nil:
		return m, "manifest does not parse: " + retentionOneLine(err.Error()), nil
	case m.Cluster != cluster || m.ID != id:
		return m, fmt.Sprintf("manifest names backup %s of cluster %s, but lies under %s", m.ID, m.Cluster, key), nil
	}
	// A backup in parts (files, config) is whole only if every part is.
	objects := []schemas.BackupPart{{Key: m.Object, StoredSize: m.StoredSize}}
	objects = append(objects, m.Parts...)
	for _, o := range objects {
		size, ok := sizes[o.Key]
		switch {
		case !ok:
			return m, fmt.Sprintf("data object %s is missing", o.Key), nil
		case size != o.StoredSize:
			return m, fmt.Sprintf("data object %s holds %d bytes, the manifest says %d", o.Key, size, o.StoredSize), nil
		}
	}
	return m, "", nil
}

// DeleteObjects deletes objects of a cluster's backups and WAL archive, and
// nothing outside them. Manifests go first, then WAL records, then the data
// they describe: a half-done deletion leaves data without a manifest (an
// orphan, removed later) rather than a manifest without its data, which
// would look whole. Deleting a missing object succeeds, so a retry repeats
// harmlessly; it also resumes from the last heartbeat.
func (r *Retention) DeleteObjects(ctx context.Context, in schemas.DeleteObjectsInput) (schemas.DeleteObjectsResult, error) {
	var res schemas.DeleteObjectsResult
	if in.Cluster != r.Topology.Cluster {
		return res, activities.UnknownCluster(in.Cluster, r.Topology.Cluster)
	}
	backups, wal := schemas.BackupsPrefix(in.Cluster), schemas.WALPrefix(in.Cluster)
	for i, k := range in.Keys {
		rest, okB := strings.CutPrefix(k, backups)
		if !okB {
			rest, _ = strings.CutPrefix(k, wal)
		}
		if rest == k || rest == "" {
			return res, activities.InvalidInput(fmt.Sprintf("keys[%d]", i), fmt.Sprintf("%q is not under %s or %s", k, backups, wal))
		}
	}
	store, err := r.Clients.Store(ctx)
	if err != nil {
		return res, err
	}
	keys := DeletionOrder(in.Cluster, in.Keys)
	done := 0
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &done); err != nil || done > len(keys) {
			done = 0
		}
	}
	for i := done; i < len(keys); i++ {
		if err := store.Delete(ctx, keys[i]); err != nil {
			return res, fmt.Errorf("delete %s from %s: %w", keys[i], store, err)
		}
		// The SDK throttles heartbeats, so one per deletion costs nothing
		// and a slow store never looks like a dead worker.
		activities.Progress(ctx, i+1)
	}
	res.Deleted = len(keys)
	r.logger().Info("deleted objects", zap.String("cluster", in.Cluster), zap.Int("objects", len(keys)), zap.Int("resumed_at", done))
	return res, nil
}

// DeletionOrder sorts keys for deletion, stably: backup manifests first,
// then WAL records, then everything else.
func DeletionOrder(cluster string, keys []string) []string {
	rank := func(k string) int {
		switch {
		case schemas.IsManifestKey(cluster, k):
			return 0
		case strings.HasPrefix(k, schemas.WALPrefix(cluster)) && strings.HasSuffix(k, ".json"):
			return 1
		}
		return 2
	}
	out := slices.Clone(keys)
	slices.SortStableFunc(out, func(a, b string) int { return cmp.Compare(rank(a), rank(b)) })
	return out
}

func retentionOneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (r *Retention) logger() *zap.Logger {
	if r.Logger == nil {
		return zap.NewNop()
	}
	return r.Logger
}
