package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/activities/pipeline"
	"github.com/runnerhub/lifeboat/schemas"
)

// ReplicateBackup copies every object of a backup from the primary store to
// the replica, the manifest last so the replica never holds a backup that
// looks whole and is not, then reads each copy back and compares its SHA-256
// with what it must be: the manifest's stored_sha256 for the data, the
// source's bytes for the rest. A mismatch is a non-retryable Corrupt error.
// An object the replica holds already with the right checksum is not copied
// again; one it holds with another checksum (damaged, or an interrupted
// write by something other than this store's atomic Put) is copied again
// and verified, and the result lists it as copied.
func (b *Backup) ReplicateBackup(ctx context.Context, in schemas.ReplicateBackupInput) (schemas.ReplicateBackupResult, error) {
	if err := b.checkBackup(in.Cluster, in.ID); err != nil {
		return schemas.ReplicateBackupResult{}, err
	}
	src, err := b.Clients.Store(ctx)
	if err != nil {
		return schemas.ReplicateBackupResult{}, err
	}
	dst, err := b.Clients.ReplicaStore(ctx)
	if err != nil {
		return schemas.ReplicateBackupResult{}, err
	}
	m, err := readManifest(ctx, src, in.Cluster, in.ID)
	if errors.Is(err, objstore.ErrNotFound) {
		ids, _ := backupIDs(ctx, src, in.Cluster)
		return schemas.ReplicateBackupResult{}, activities.NoSuchBackup(in.Cluster, in.ID, ids)
	}
	if err != nil {
		return schemas.ReplicateBackupResult{}, err
	}
	objs, err := src.List(ctx, schemas.BackupsPrefix(in.Cluster)+in.ID+"/")
	if err != nil {
		return schemas.ReplicateBackupResult{}, fmt.Errorf("list backup %s in %s: %w", in.ID, src, err)
	}
	manifestKey := schemas.ManifestKey(in.Cluster, in.ID)
	if !slices.ContainsFunc(objs, func(o objstore.ObjectInfo) bool { return o.Key == m.Object }) {
		return schemas.ReplicateBackupResult{}, activities.Corrupt(fmt.Sprintf("backup %s: its manifest names %s, which is not in %s", in.ID, m.Object, src))
	}
	// The manifest goes last: until it is in the replica, the backup is not.
	slices.SortStableFunc(objs, func(a, b objstore.ObjectInfo) int {
		return boolCmp(a.Key == manifestKey, b.Key == manifestKey)
	})

	var progress schemas.ReplicateProgress
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &progress) // a bad detail only costs a re-check
	}
	var mu sync.Mutex
	var done atomic.Int64
	beat := func() any {
		mu.Lock()
		defer mu.Unlock()
		p := progress
		p.Done = slices.Clone(progress.Done)
		p.BytesDone = done.Load()
		return p
	}
	stop := activities.HeartbeatEvery(ctx, b.heartbeatEvery(), beat)
	defer stop()

	res := schemas.ReplicateBackupResult{Replica: dst.String()}
	for _, o := range objs {
		if slices.Contains(progress.Done, o.Key) {
			continue
		}
		mu.Lock()
		progress.Object = o.Key
		mu.Unlock()
		want := ""
		if o.Key == m.Object {
			want = m.StoredSHA256
		}
		copied, n, err := replicateObject(ctx, b.logger(), src, dst, o, want, &done)
		if err != nil {
			return res, err
		}
		if copied {
			res.Copied = append(res.Copied, o.Key)
			res.Bytes += n
		} else {
			res.Verified = append(res.Verified, o.Key)
		}
		mu.Lock()
		progress.Done = append(progress.Done, o.Key)
		mu.Unlock()
	}
	b.logger().Info("backup replicated", zap.String("backup_id", in.ID), zap.String("replica", dst.String()),
		zap.Strings("copied", res.Copied), zap.Strings("verified", res.Verified), zap.Int64("bytes", res.Bytes))
	return res, nil
}

// replicateObject makes the replica's copy of o equal to the source's and
// proves it by reading it back. want is the SHA-256 the object must have, or
// "" to take it from the source's bytes as they are copied.
func replicateObject(ctx context.Context, log *zap.Logger, src, dst objstore.Store, o objstore.ObjectInfo, want string, done *atomic.Int64) (copied bool, n int64, err error) {
	if want == "" {
		// The replica's copy can only be judged against the source's sum.
		if want, _, err = pipeline.StoredSum(ctx, src, o.Key); err != nil {
			return false, 0, fmt.Errorf("read %s from %s: %w", o.Key, src, err)
		}
	}
	have, _, err := pipeline.StoredSum(ctx, dst, o.Key)
	switch {
	case err == nil && have == want:
		return false, 0, nil
	case err == nil:
		// Copied again rather than failed: the source is proven good below,
		// so the replica ends up whole, and the log says it was damaged.
		log.Warn("replica copy differs from the source; copying it again",
			zap.String("object", o.Key), zap.String("replica_sha256", have), zap.String("want_sha256", want))
	case !errors.Is(err, objstore.ErrNotFound):
		return false, 0, fmt.Errorf("check %s in %s: %w", o.Key, dst, err)
	}

	rc, err := src.Get(ctx, o.Key)
	if err != nil {
		return false, 0, fmt.Errorf("read %s from %s: %w", o.Key, src, err)
	}
	defer rc.Close()
	h := sha256.New()
	counted := &pipeline.CountingReader{R: io.TeeReader(rc, h), N: done}
	if err := dst.Put(ctx, o.Key, counted, o.Size); err != nil {
		return false, 0, fmt.Errorf("copy %s to %s: %w", o.Key, dst, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		// The primary's own copy is damaged: what went to the replica is
		// as bad, so it is removed rather than left to look like a backup.
		_ = dst.Delete(context.WithoutCancel(ctx), o.Key)
		return false, 0, activities.Corrupt(fmt.Sprintf("%s in the primary store %s has sha256 %s; want %s: not replicated", o.Key, src, got, want))
	}
	got, n, err := pipeline.StoredSum(ctx, dst, o.Key)
	if err != nil {
		return false, 0, fmt.Errorf("read back %s from %s: %w", o.Key, dst, err)
	}
	if got != want || n != o.Size {
		return false, 0, activities.Corrupt(fmt.Sprintf("%s in the replica store %s reads back as %d bytes with sha256 %s; want %d bytes with sha256 %s",
			o.Key, dst, n, got, o.Size, want))
	}
	return true, n, nil
}

func (b *Backup) heartbeatEvery() time.Duration {
	if b.HeartbeatEvery == 0 {
		return 5 * time.Second
	}
	return b.HeartbeatEvery
}

// boolCmp orders false before true.
func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
