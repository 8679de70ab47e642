package filesync

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"sync/atomic"

	"filippo.io/age"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/fstree"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/activities/pipeline"
	"github.com/runnerhub/lifeboat/policy"
	"github.com/runnerhub/lifeboat/schemas"
)

// A store copy keeps each content once, sealed like a backup, under the
// key its SHA-256 names (schemas.FileObjectKey), and the tree itself as
// its manifest: a renamed or duplicated file costs no transfer, and the
// objects are checked by their names.

// smallObject is the size under which a content is compressed on the
// sender's goroutine alone: a pipelined encoder costs more than it saves.
const smallObject = 4 << 20

// sendObjects stores the contents of entries the copy lacks, each checked
// to hash, once read, to the name it is stored under: a file that changed
// since the scan stores nothing and is skipped. A content already stored
// (by an earlier attempt) is not sent again.
func (f *FileSync) sendObjects(ctx context.Context, store objstore.Store, cluster, run string, batch int, t schemas.FileTree, entries []schemas.FileEntry, opts pipeline.Options) (schemas.SendFileBatchResult, error) {
	var res schemas.SendFileBatchResult
	var done schemas.FileBatchDone
	var files, plain atomic.Int64
	progress := schemas.FileSyncProgress{Tree: t.Name, Phase: schemas.PhaseSend, Batch: batch, Total: len(entries)}
	stop := activities.HeartbeatEvery(ctx, f.heartbeatEvery(), func() any {
		p := progress
		p.Done, p.Bytes = int(files.Load()), plain.Load()
		return p
	})
	defer stop()
	buf := make([]byte, ioBuf)
	for _, e := range entries {
		key := schemas.FileObjectKey(cluster, t.Name, e.SHA256)
		if info, err := store.Stat(ctx, key); err == nil {
			done.Objects = append(done.Objects, schemas.StoredObject{SHA256: e.SHA256, Size: info.Size})
			files.Add(1)
			continue
		}
		o := opts
		if e.Size < smallObject {
			o.Concurrency = 1
		}
		h := sha256.New()
		sums, err := pipeline.SealStream(ctx, store, key, o, &plain, func(w io.Writer) error {
			p := filepath.Join(t.Path, filepath.FromSlash(e.Path))
			if _, _, err := fstree.CopyStable(p, e.Path, buf, func(fs.FileInfo) (io.Writer, error) { return io.MultiWriter(w, h), nil }); err != nil {
				return err
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != e.SHA256 {
				return &fstree.FileChangedError{Path: e.Path, What: "its content changed since the scan"}
			}
			return nil
		})
		var changed *fstree.FileChangedError
		switch {
		case errors.Is(err, fstree.ErrVanished):
			res.Skipped = append(res.Skipped, e.Path+": removed before it was sent")
			done.Skipped = append(done.Skipped, e.Path)
			continue
		case errors.As(err, &changed):
			res.Skipped = append(res.Skipped, changed.Error())
			done.Skipped = append(done.Skipped, e.Path)
			continue
		case err != nil:
			return res, fmt.Errorf("store %s of %s: %w", e.Path, t.Name, err)
		}
		done.Objects = append(done.Objects, schemas.StoredObject{SHA256: e.SHA256, Size: sums.StoredSize})
		res.Files++
		res.FileBytes += e.Size
		res.PlainSize += sums.PlainSize
		res.StoredSize += sums.StoredSize
		files.Add(1)
	}
	if err := putState(ctx, store, batchDoneKey(cluster, t.Name, run, batch), done); err != nil {
		return res, err
	}
	return res, nil
}

// scanStoreCopy lists the contents a store copy holds. An object whose
// size is not the one recorded is not held; with scrub, or named by a
// suspect, each is read, decrypted and hashed too.
func (f *FileSync) scanStoreCopy(ctx context.Context, store objstore.Store, cluster string, t schemas.FileTree, state schemas.FileManifest, scrub bool, progress schemas.FileSyncProgress) (schemas.FileManifest, int, error) {
	recorded := map[string]int64{}
	for _, o := range state.Objects {
		recorded[o.SHA256] = o.Size
	}
	suspect := map[string]bool{}
	if s, err := f.suspects(ctx, store, cluster, t); err == nil {
		for _, e := range s.Entries {
			suspect[e.SHA256] = true
		}
	}
	objs, err := store.List(ctx, schemas.FileObjectsPrefix(cluster, t.Name))
	if err != nil {
		return schemas.FileManifest{}, 0, fmt.Errorf("list the copy: %w", err)
	}
	var ids []age.Identity
	if scrub || len(suspect) > 0 {
		if ids, err = activities.IdentitiesOf(f.Clients, f.Topology); err != nil {
			return schemas.FileManifest{}, 0, err
		}
	}
	var done atomic.Int64
	progress.Total = len(objs)
	stop := activities.HeartbeatEvery(ctx, f.heartbeatEvery(), func() any { p := progress; p.Done = int(done.Load()); return p })
	defer stop()
	var held []schemas.StoredObject
	rehashed := 0
	for _, o := range objs {
		done.Add(1)
		sum := schemas.FileObjectSum(cluster, t.Name, o.Key)
		if sum == "" {
			continue
		}
		intact := true
		if size, ok := recorded[sum]; ok && size != o.Size {
			intact = false
		} else if scrub || suspect[sum] {
			if intact, err = objectIntact(ctx, store, o, sum, ids); err != nil {
				return schemas.FileManifest{}, rehashed, err
			}
			rehashed++
		}
		if !intact {
			// Removed, so that the send stores the content again rather
			// than find it there.
			f.logger().Warn("damaged content removed from the copy; the sync stores it again", zap.String("tree", t.Name), zap.String("object", o.Key))
			if err := store.Delete(ctx, o.Key); err != nil {
				return schemas.FileManifest{}, rehashed, fmt.Errorf("remove damaged %s: %w", o.Key, err)
			}
			continue
		}
		held = append(held, schemas.StoredObject{SHA256: sum, Size: o.Size})
	}
	return schemas.FileManifest{Entries: state.Entries, Objects: held}, rehashed, nil
}

// objectIntact reads a stored content whole and reports whether it opens
// and hashes to sum.
func objectIntact(ctx context.Context, store objstore.Store, o objstore.ObjectInfo, sum string, ids []age.Identity) (bool, error) {
	rc, err := store.Get(ctx, o.Key)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", o.Key, err)
	}
	defer rc.Close()
	plain, err := pipeline.Open(rc, ids, pipeline.Sums{StoredSize: o.Size})
	if err == nil {
		h := sha256.New()
		_, err = io.Copy(h, plain)
		plain.Close()
		if err == nil {
			return hex.EncodeToString(h.Sum(nil)) == sum, nil
		}
	}
	switch {
	case pipeline.IsWrongKey(err):
		return false, activities.InvalidInput("backup.identity", fmt.Sprintf("%s: %v", o.Key, err))
	case pipeline.IsCorrupt(err), errors.Is(err, io.ErrUnexpectedEOF):
		return false, nil
	}
	return false, fmt.Errorf("read %s: %w", o.Key, err)
}

// commitStore records what a store copy holds after the sync and, when
// deletes are allowed, removes the contents no entry names.
func (f *FileSync) commitStore(ctx context.Context, store objstore.Store, cluster string, t schemas.FileTree, run runState) (schemas.FileManifest, schemas.CommitFileSyncResult, error) {
	res := schemas.CommitFileSyncResult{Deleted: len(run.plan.Deletes), Metadata: len(run.plan.Meta) + len(run.plan.Links)}
	objects := map[string]int64{}
	for _, o := range append(slices.Clone(run.copy.Objects), run.objects...) {
		objects[o.SHA256] = o.Size
	}
	for _, e := range run.src.Entries {
		if _, ok := objects[e.SHA256]; e.Type == schemas.EntryFile && !ok {
			continue
		}
		// A store keeps no inode or change time of its own.
		e.Ino, e.CTime = 0, 0
		run.done[e.Path] = e
	}
	m := policy.CopyAfterSync(run.src, run.copy, run.plan, run.done, run.skipped)
	if t.AllowDeletes {
		named := map[string]bool{}
		for _, e := range m.Entries {
			named[e.SHA256] = true
		}
		for sum := range objects {
			if named[sum] {
				continue
			}
			if err := store.Delete(ctx, schemas.FileObjectKey(cluster, t.Name, sum)); err != nil {
				return m, res, fmt.Errorf("delete a content no file names: %w", err)
			}
			delete(objects, sum)
		}
	}
	for sum, size := range objects {
		m.Objects = append(m.Objects, schemas.StoredObject{SHA256: sum, Size: size})
	}
	slices.SortFunc(m.Objects, func(a, b schemas.StoredObject) int { return cmp.Compare(a.SHA256, b.SHA256) })
	return m, res, nil
}

// verifyStoreCopy reads every content the manifest names and reports the
// files whose content is damaged or missing, and the objects no file names.
func (f *FileSync) verifyStoreCopy(ctx context.Context, store objstore.Store, cluster string, t schemas.FileTree, state schemas.FileManifest, progress schemas.FileSyncProgress) (differences, error) {
	ids, err := activities.IdentitiesOf(f.Clients, f.Topology)
	if err != nil {
		return differences{}, err
	}
	objs, err := store.List(ctx, schemas.FileObjectsPrefix(cluster, t.Name))
	if err != nil {
		return differences{}, fmt.Errorf("list the copy: %w", err)
	}
	stored := map[string]objstore.ObjectInfo{}
	for _, o := range objs {
		if sum := schemas.FileObjectSum(cluster, t.Name, o.Key); sum != "" {
			stored[sum] = o
		}
	}
	var d differences
	d.files, d.bytes = countFiles(state.Entries)
	var done atomic.Int64
	progress.Total = len(state.Entries)
	stop := activities.HeartbeatEvery(ctx, f.heartbeatEvery(), func() any { p := progress; p.Done = int(done.Load()); return p })
	defer stop()
	intact := map[string]bool{}
	named := map[string]bool{}
	for _, e := range state.Entries {
		done.Add(1)
		if e.Type != schemas.EntryFile {
			continue
		}
		named[e.SHA256] = true
		o, ok := stored[e.SHA256]
		if !ok {
			d.missing = append(d.missing, e.Path)
			continue
		}
		good, checked := intact[e.SHA256]
		if !checked {
			if good, err = objectIntact(ctx, store, o, e.SHA256, ids); err != nil {
				return d, err
			}
			intact[e.SHA256] = good
		}
		if !good {
			d.damaged = append(d.damaged, e.Path)
			d.suspects = append(d.suspects, schemas.FileEntry{Path: e.Path, Type: e.Type, SHA256: e.SHA256})
		}
	}
	for sum, o := range stored {
		if !named[sum] {
			d.extra = append(d.extra, o.Key)
		}
	}
	slices.Sort(d.extra)
	return d, nil
}
