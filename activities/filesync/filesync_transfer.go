package filesync

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"filippo.io/age"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/fstree"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/activities/pipeline"
	"github.com/runnerhub/lifeboat/schemas"
)

// A staged batch is a sealed stream (zstd, then age) of one record per file:
//
//	uvarint n | n bytes of JSON recordHeader | Size bytes of content | status byte | SHA-256 of the content (32 bytes)
//
// The header is written from the file as opened, and the trailer after
// the content was read: a file that changed meanwhile is padded to its
// announced size and marked recordChanged, and the copy does not write it.
type recordHeader struct {
	Path  string `json:"path"`
	Size  int64  `json:"size"`
	Mode  uint32 `json:"mode"`
	MTime int64  `json:"mtime_ns"`
}

const (
	recordOK      byte = 0
	recordChanged byte = 1
	// maxHeader bounds a record header: a path of a few kilobytes at most.
	maxHeader = 64 << 10
	ioBuf     = 256 << 10
	// noFollow opens the link itself, never what it points to.
	noFollow = syscall.O_NOFOLLOW
)

// SendFileBatch reads one batch's files from the source tree. For a
// directory copy it stages them, compressed and encrypted, as one object
// for ApplyFileBatch; for a store copy it stores each content the copy
// lacks as its own sealed object, and nothing else is needed. A file that
// changes while it is read is not sent, and listed in Skipped. It runs in
// the tree's region; a retried attempt whose batch was staged whole reuses
// it, and a store copy's retry skips the objects already stored. Batch 0
// is sent by PlanFileSync.
func (f *FileSync) SendFileBatch(ctx context.Context, in schemas.SendFileBatchInput) (schemas.SendFileBatchResult, error) {
	t, store, err := f.beginRun(ctx, in.Cluster, in.Tree, in.Run, onSource)
	if err != nil {
		return schemas.SendFileBatchResult{}, err
	}
	var entries []schemas.FileEntry
	if in.Batch == 0 {
		var p schemas.FileSyncPlan
		if err := getState(ctx, store, planKey(in.Cluster, t.Name, in.Run), &p); err != nil {
			return schemas.SendFileBatchResult{}, err
		}
		if len(p.Batches) > 0 {
			entries = p.Batches[0]
		}
	} else if err := getState(ctx, store, batchPlanKey(in.Cluster, t.Name, in.Run, in.Batch), &entries); err != nil {
		return schemas.SendFileBatchResult{}, err
	}
	return f.sendBatch(ctx, store, t, in.Cluster, in.Run, in.Batch, entries)
}

// sendBatch sends the files of one batch: see SendFileBatch.
func (f *FileSync) sendBatch(ctx context.Context, store objstore.Store, t schemas.FileTree, cluster, run string, batch int, entries []schemas.FileEntry) (schemas.SendFileBatchResult, error) {
	opts, err := f.sealOptions()
	if err != nil {
		return schemas.SendFileBatchResult{}, err
	}
	if t.Sync.Store != "" {
		return f.sendObjects(ctx, store, cluster, run, batch, t, entries, opts)
	}
	key := batchDataKey(cluster, t.Name, run, batch)
	if last := lastProgress(ctx); last.Phase == schemas.PhaseSend && last.Batch == batch && last.Sent != nil {
		if info, err := store.Stat(ctx, key); err == nil && info.Size == last.Sent.StoredSize {
			return *last.Sent, nil
		}
	}
	var files atomic.Int64
	var plain atomic.Int64
	progress := schemas.FileSyncProgress{Tree: t.Name, Phase: schemas.PhaseSend, Batch: batch, Total: len(entries)}
	stop := activities.HeartbeatEvery(ctx, f.heartbeatEvery(), func() any {
		p := progress
		p.Done, p.Bytes = int(files.Load()), plain.Load()
		return p
	})
	res := schemas.SendFileBatchResult{Key: key}
	sums, err := pipeline.SealStream(ctx, store, key, opts, &plain, func(w io.Writer) error {
		return writeBatch(ctx, t.Path, entries, w, &res, &files)
	})
	stop()
	if err != nil {
		return schemas.SendFileBatchResult{}, fmt.Errorf("send batch %d of %s: %w", batch, t.Name, err)
	}
	res.PlainSize, res.StoredSize = sums.PlainSize, sums.StoredSize
	res.PlainSHA256, res.StoredSHA256 = sums.PlainSHA256, sums.StoredSHA256
	progress.Done, progress.Bytes, progress.Sent = res.Files, res.PlainSize, &res
	beat(ctx, progress)
	return res, nil
}

// writeBatch writes the records of entries, read under root, to w.
func writeBatch(ctx context.Context, root string, entries []schemas.FileEntry, w io.Writer, res *schemas.SendFileBatchResult, files *atomic.Int64) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	buf := make([]byte, ioBuf)
	h := sha256.New()
	var lenBuf [binary.MaxVarintLen64]byte
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		var hdr recordHeader
		started, scanned := false, false
		_, n, err := fstree.CopyStable(filepath.Join(root, filepath.FromSlash(e.Path)), e.Path, buf, func(info fs.FileInfo) (io.Writer, error) {
			hdr = recordHeader{Path: e.Path, Size: info.Size(), Mode: unixMode(info.Mode()), MTime: info.ModTime().UnixNano()}
			// A file not written since the scan holds what it hashed (the
			// change time cannot be set back): only another is hashed again.
			scanned = entryOf(e.Path, info).SameStat(e) && e.SHA256 != ""
			body, err := json.Marshal(hdr)
			if err != nil {
				return nil, err
			}
			if _, err := bw.Write(lenBuf[:binary.PutUvarint(lenBuf[:], uint64(len(body)))]); err != nil {
				return nil, err
			}
			if _, err := bw.Write(body); err != nil {
				return nil, err
			}
			started = true
			if scanned {
				return bw, nil
			}
			h.Reset()
			return io.MultiWriter(bw, h), nil
		})
		var changed *fstree.FileChangedError
		switch {
		case errors.Is(err, fstree.ErrVanished):
			res.Skipped = append(res.Skipped, e.Path+": removed before it was sent")
			continue
		case errors.As(err, &changed) && !started:
			res.Skipped = append(res.Skipped, changed.Error())
			continue
		case errors.As(err, &changed):
			// The header announced hdr.Size bytes: the record is completed
			// with zeros and marked, so the stream stays readable.
			if _, err := io.CopyN(bw, zeros{}, hdr.Size-n); err != nil {
				return err
			}
			if _, err := bw.Write(append([]byte{recordChanged}, make([]byte, sha256.Size)...)); err != nil {
				return err
			}
			res.Skipped = append(res.Skipped, changed.Error())
			continue
		case err != nil:
			return err
		}
		sum := h.Sum(nil)
		if scanned {
			if sum, err = hex.DecodeString(e.SHA256); err != nil {
				return fmt.Errorf("hash of %s in the manifest: %w", e.Path, err)
			}
		}
		if _, err := bw.Write(append([]byte{recordOK}, sum...)); err != nil {
			return err
		}
		res.Files++
		res.FileBytes += hdr.Size
		files.Add(1)
	}
	return bw.Flush()
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// ApplyFileBatch makes one batch of the plan true at a directory copy.
// Batch 0 first removes what blocks the source's entries, creates the
// directories and makes the files the copy can make from its own content
// (renamed and duplicated files). Then it downloads the staged batch, if
// any, and writes each file beside its place, checks its SHA-256 against
// the one the sender read, sets its mode and time and renames it into
// place. The stream's own sums are checked at its end. Progress is
// heartbeated file by file; a retried attempt finds the files written
// before the failure by hashing them, and does not write them again. It
// runs in the copy's region and reports each entry, with the copy's own
// inode and change time, for the commit; the apply of the last batch
// commits itself (see CommitFileSync).
func (f *FileSync) ApplyFileBatch(ctx context.Context, in schemas.ApplyFileBatchInput) (schemas.ApplyFileBatchResult, error) {
	t, store, err := f.beginRun(ctx, in.Cluster, in.Tree, in.Run, onCopy)
	if err != nil {
		return schemas.ApplyFileBatchResult{}, err
	}
	if t.Sync.Store != "" {
		return schemas.ApplyFileBatchResult{}, activities.InvalidInput("tree", fmt.Sprintf("%s is copied into a store: its batches are stored by SendFileBatch", t.Name))
	}
	var held runHeld
	if in.Commit {
		// The commit's reads go on while the batch is written.
		held.manifests = readManifests(ctx, store, in.Cluster, t.Name, in.Run)
	}
	root, err := openCopy(t)
	if err != nil {
		return schemas.ApplyFileBatchResult{}, err
	}
	defer root.Close()
	a := &applier{ctx: ctx, root: root, buf: make([]byte, ioBuf), h: sha256.New()}
	defer a.closeDir()
	var plan *schemas.FileSyncPlan // batch 0 reads it: it holds the batch
	var entries []schemas.FileEntry
	if in.Batch == 0 {
		plan = &schemas.FileSyncPlan{}
		if err := getState(ctx, store, planKey(in.Cluster, t.Name, in.Run), plan); err != nil {
			return schemas.ApplyFileBatchResult{}, err
		}
		if len(plan.Batches) > 0 {
			entries = plan.Batches[0]
		}
		if err := a.prepare(*plan); err != nil {
			return a.res, fmt.Errorf("prepare the copy of %s: %w", t.Name, err)
		}
	}
	if in.Sent.Key != "" {
		if in.Batch > 0 {
			if err := getState(ctx, store, batchPlanKey(in.Cluster, t.Name, in.Run, in.Batch), &entries); err != nil {
				return schemas.ApplyFileBatchResult{}, err
			}
		}
		ids, err := activities.IdentitiesOf(f.Clients, f.Topology)
		if err != nil {
			return schemas.ApplyFileBatchResult{}, err
		}
		resume := 0
		if last := lastProgress(ctx); last.Phase == schemas.PhaseApply && last.Batch == in.Batch {
			resume = last.Done
		}
		progress := schemas.FileSyncProgress{Tree: t.Name, Phase: schemas.PhaseApply, Batch: in.Batch, Total: len(entries)}
		if err := a.applyStream(store, in.Sent, entries, ids, resume, progress); err != nil {
			return a.res, fmt.Errorf("apply batch %d of %s: %w", in.Batch, t.Name, err)
		}
	}
	if a.res.Resumed > 0 {
		f.logger().Info("batch resumed", zap.String("tree", t.Name), zap.Int("batch", in.Batch), zap.Int("resumed", a.res.Resumed))
	}
	if in.Commit {
		// The commit takes this batch's report from here, not the store.
		a.closeDir()
		held.plan, held.last = plan, &a.done
		c, err := f.commit(ctx, store, t, in.Cluster, in.Run, in.Batch+1, held)
		if err != nil {
			return a.res, err
		}
		a.res.Committed = &c
		return a.res, nil
	}
	if err := putState(ctx, store, batchDoneKey(in.Cluster, t.Name, in.Run, in.Batch), a.done); err != nil {
		return a.res, err
	}
	return a.res, nil
}

// openCopy opens a directory copy's root, making it on the first sync.
// Every write goes through the returned os.Root, so no path of the plan
// and no link in the copy can reach outside it.
func openCopy(t schemas.FileTree) (*os.Root, error) {
	if err := os.MkdirAll(t.Sync.Path, 0o755); err != nil {
		return nil, fmt.Errorf("make the copy of %s: %w", t.Name, err)
	}
	r, err := os.OpenRoot(t.Sync.Path)
	if err != nil {
		return nil, fmt.Errorf("open the copy of %s: %w", t.Name, err)
	}
	return r, nil
}

// applier writes into a directory copy.
type applier struct {
	ctx  context.Context
	root *os.Root
	buf  []byte
	h    hash.Hash
	res  schemas.ApplyFileBatchResult
	// done is what the copy holds now; the writers of a stream add to it.
	mu   sync.Mutex
	done schemas.FileBatchDone
	// dirRoot is the directory of the last file handled (see at).
	dirRoot *os.Root
	dirName string
}

// prepare does batch 0's work before any transfer.
func (a *applier) prepare(p schemas.FileSyncPlan) error {
	for _, r := range p.Removals {
		if err := a.root.RemoveAll(r); err != nil {
			return fmt.Errorf("remove %s, which the source has as another type: %w", r, err)
		}
	}
	for _, d := range p.Dirs {
		// Writable for now; the commit gives every directory its mode.
		if err := a.root.MkdirAll(d.Path, 0o755); err != nil {
			return fmt.Errorf("make directory %s: %w", d.Path, err)
		}
	}
	for _, l := range p.Local {
		if err := a.ctx.Err(); err != nil {
			return err
		}
		ok, err := a.local(l)
		if err != nil {
			return err
		}
		if !ok {
			a.done.Skipped = append(a.done.Skipped, l.Entry.Path)
			a.res.Skipped = append(a.res.Skipped, l.Entry.Path+": its content at "+l.From+" changed since the copy was read; the next sync sends it")
		}
	}
	return nil
}

// local makes l.Entry from the copy's own file l.From, and reports whether
// it now holds the content the source has; when not, the entry is left
// out of what the copy reports, so the next sync hashes it and sends it.
func (a *applier) local(l schemas.LocalCopy) (bool, error) {
	e := l.Entry
	if sum, err := a.sum(e.Path); err == nil && sum == e.SHA256 {
		a.res.Resumed++ // an earlier attempt made it
		return true, a.place("", e)
	}
	if l.Move {
		if err := a.root.Rename(l.From, e.Path); errors.Is(err, fs.ErrNotExist) {
			return false, nil
		} else if err != nil {
			return false, fmt.Errorf("rename %s to %s: %w", l.From, e.Path, err)
		}
		if sum, err := a.sum(e.Path); err != nil || sum != e.SHA256 {
			return false, nil
		}
		a.res.Local++
		return true, a.place("", e)
	}
	src, err := a.root.OpenFile(l.From, os.O_RDONLY|noFollow, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open %s: %w", l.From, err)
	}
	tmp, err := a.writeTemp(e.Path, src, -1)
	src.Close()
	if err != nil {
		return false, err
	}
	if hex.EncodeToString(a.h.Sum(nil)) != e.SHA256 {
		a.remove(tmp)
		return false, nil
	}
	a.res.Local++
	return true, a.place(tmp, e)
}

// sum is the SHA-256 of a file of the copy.
func (a *applier) sum(name string) (string, error) {
	d, base, err := a.at(name)
	if err != nil {
		return "", err
	}
	fh, err := d.OpenFile(base, os.O_RDONLY|noFollow, 0)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	a.h.Reset()
	if _, err := io.CopyBuffer(a.h, fh, a.buf); err != nil {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	return hex.EncodeToString(a.h.Sum(nil)), nil
}

// at returns the directory of name, opened as a root of its own, and the
// name within it. The directory stays open for the next name, since a
// batch goes in path order: each step then resolves one name rather than
// the whole path, whose resolution would be most of the work of writing a
// small file. A directory that does not exist yet is made.
func (a *applier) at(name string) (*os.Root, string, error) {
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		return a.root, base, nil
	}
	if a.dirRoot != nil && a.dirName == dir {
		return a.dirRoot, base, nil
	}
	a.closeDir()
	r, err := a.root.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err = a.root.MkdirAll(dir, 0o755); err == nil {
			r, err = a.root.OpenRoot(dir)
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("open directory %s of the copy: %w", dir, err)
	}
	a.dirRoot, a.dirName = r, dir
	return r, base, nil
}

// closeDir closes the directory at keeps open.
func (a *applier) closeDir() {
	if a.dirRoot != nil {
		_ = a.dirRoot.Close()
		a.dirRoot, a.dirName = nil, ""
	}
}

// tempName is where the file for name is written before it is renamed
// into place: beside it, so the rename stays in one filesystem.
func tempName(name string) string {
	sum := sha256.Sum256([]byte(name))
	return path.Join(path.Dir(name), tmpPrefix+hex.EncodeToString(sum[:8]))
}

// writeTemp writes size bytes of r (all of it when size < 0) to the temp
// file of name, hashing them into a.h, and returns the temp file's name.
func (a *applier) writeTemp(name string, r io.Reader, size int64) (string, error) {
	tmp := tempName(name)
	d, base, err := a.at(tmp)
	if err != nil {
		return "", err
	}
	if err := d.Remove(base); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	fh, err := d.OpenFile(base, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	if size >= 0 {
		r = io.LimitReader(r, size)
	}
	a.h.Reset()
	n, err := io.CopyBuffer(io.MultiWriter(fh, a.h), r, a.buf)
	if err == nil && size >= 0 && n != size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		fh.Close()
		_ = d.Remove(base)
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	if err := fstree.StartWriteback(fh); err != nil {
		_ = d.Remove(base)
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	return tmp, nil
}

// remove removes a file of the copy, if there.
func (a *applier) remove(name string) {
	if d, base, err := a.at(name); err == nil {
		_ = d.Remove(base)
	}
}

// place gives e's mode and time to the file written at tmp, renames it to
// e.Path (or, with tmp "", to the file already there) and records it done.
func (a *applier) place(tmp string, e schemas.FileEntry) error {
	d, base, err := a.at(e.Path)
	if err != nil {
		return err
	}
	if tmp != "" {
		tmp = path.Base(tmp)
	}
	got, err := placeIn(d, base, tmp, e)
	if err != nil {
		return err
	}
	a.note(got)
	return nil
}

// placeIn gives e's mode and time to the file tmp of directory d (base
// itself with tmp ""), renames it to base and returns base's entry as the
// copy now holds it.
func placeIn(d *os.Root, base, tmp string, e schemas.FileEntry) (schemas.FileEntry, error) {
	at := cmp.Or(tmp, base)
	if err := d.Chmod(at, fileMode(e.Mode)); err != nil {
		return e, fmt.Errorf("chmod %s: %w", e.Path, err)
	}
	mtime := time.Unix(0, e.MTime)
	if err := d.Chtimes(at, mtime, mtime); err != nil {
		return e, fmt.Errorf("set the time of %s: %w", e.Path, err)
	}
	if tmp != "" {
		if err := d.Rename(at, base); err != nil {
			_ = d.Remove(at)
			return e, fmt.Errorf("move %s into place: %w", e.Path, err)
		}
	}
	return recordIn(d, base, e)
}

// record notes e as the copy now holds it: see recordIn.
func (a *applier) record(e schemas.FileEntry) error {
	d, base, err := a.at(e.Path)
	if err != nil {
		return err
	}
	got, err := recordIn(d, base, e)
	if err != nil {
		return err
	}
	a.note(got)
	return nil
}

// recordIn returns e as the copy holds it at base in d, with the copy's
// inode and change time, so the next scan trusts it until it is written
// again.
func recordIn(d *os.Root, base string, e schemas.FileEntry) (schemas.FileEntry, error) {
	info, err := d.Lstat(base)
	if err != nil {
		return e, fmt.Errorf("stat %s: %w", e.Path, err)
	}
	got := entryOf(e.Path, info)
	got.SHA256, got.Link = e.SHA256, e.Link
	return got, nil
}

// note adds an entry to what the copy holds.
func (a *applier) note(e schemas.FileEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.done.Entries = append(a.done.Entries, e)
}

// applyWriters write a stream's files behind it, in chunks of
// applyChunkSize: creating, renaming and setting the times of small files
// is most of an apply's time, and is kernel work the stream's decrypting,
// decompressing and hashing need not wait for.
const (
	applyWriters   = 3
	applyChunks    = 16
	applyChunkSize = 256 << 10
)

// applyStream reads the staged batch and writes its files. Records before
// resume were handled by an earlier attempt: a file that hashes to what
// the record holds is left as it is.
func (a *applier) applyStream(store objstore.Store, sent schemas.SendFileBatchResult, entries []schemas.FileEntry, ids []age.Identity, resume int, progress schemas.FileSyncProgress) (err error) {
	want := make(map[string]schemas.FileEntry, len(entries))
	for _, e := range entries {
		want[e.Path] = e
	}
	obj, err := store.Get(a.ctx, sent.Key)
	if err != nil {
		return fmt.Errorf("download %s: %w", sent.Key, err)
	}
	defer obj.Close()
	plain, err := pipeline.Open(obj, ids, pipeline.Sums{
		PlainSize: sent.PlainSize, PlainSHA256: sent.PlainSHA256, StoredSize: sent.StoredSize, StoredSHA256: sent.StoredSHA256,
	})
	if err != nil {
		return stagedError(sent.Key, err)
	}
	defer plain.Close()
	br := bufio.NewReaderSize(plain, 1<<20)
	var trailer [1 + sha256.Size]byte
	wb := fstree.NewWriteBehind(a.root, applyWriters, applyChunks, applyChunkSize)
	wb.Replace = true
	defer func() {
		// Every file handed to a writer is in place, or removed, or the
		// apply fails.
		if werr := wb.Wait(); err == nil {
			err = werr
		}
	}()
	for i := 0; ; i++ {
		hdr, err := readHeader(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			return stagedError(sent.Key, err)
		}
		e, ok := want[hdr.Path]
		if !ok {
			return activities.Corrupt(fmt.Sprintf("staged batch %s holds %q, which the plan does not send", sent.Key, hdr.Path))
		}
		e.Size, e.Mode, e.MTime = hdr.Size, hdr.Mode, hdr.MTime
		// A record an earlier attempt finished: the file in place holds it
		// if it hashes to what the scan found (the record says for sure
		// once read).
		if i < resume {
			if sum, err := a.sum(e.Path); err == nil && sum == e.SHA256 {
				a.h.Reset()
				if _, err := io.CopyBuffer(a.h, io.LimitReader(br, hdr.Size), a.buf); err != nil {
					return stagedError(sent.Key, err)
				}
				if _, err := io.ReadFull(br, trailer[:]); err != nil {
					return stagedError(sent.Key, err)
				}
				if trailer[0] == recordOK && hex.EncodeToString(trailer[1:]) == sum {
					if err := a.place("", e); err != nil {
						return err
					}
					a.res.Resumed++
				} else {
					a.done.Skipped = append(a.done.Skipped, e.Path)
				}
				progress.Done = i + 1
				beat(a.ctx, progress)
				continue
			}
		}
		// The file is written beside its place behind the stream, and
		// checked here, as read, against the sender's sum in the trailer;
		// its writer then moves it into place, or removes it.
		tmp := tempName(e.Path)
		discard := func() error {
			return wb.In(tmp, func(d *os.Root, base string) error { return d.Remove(base) })
		}
		file := wb.Start(tmp, 0o600)
		a.h.Reset()
		n, err := file.ReadFrom(io.TeeReader(io.LimitReader(br, hdr.Size), a.h))
		if err == nil && n != hdr.Size {
			err = io.ErrUnexpectedEOF
		}
		if err == nil {
			_, err = io.ReadFull(br, trailer[:])
		}
		if err != nil {
			file.End(discard)
			if werr := wb.Failure(); werr != nil {
				return werr
			}
			return stagedError(sent.Key, err)
		}
		got := hex.EncodeToString(a.h.Sum(nil))
		switch sum := hex.EncodeToString(trailer[1:]); {
		case trailer[0] == recordChanged:
			file.End(discard)
			a.done.Skipped = append(a.done.Skipped, e.Path)
			a.res.Skipped = append(a.res.Skipped, e.Path+": changed while it was sent; the next sync sends it")
		case got != sum:
			file.End(discard)
			return fmt.Errorf("%s hashes to %s once written; the sender read %s", e.Path, got, sum)
		default:
			e.SHA256 = got // what was sent: the source may have changed since its scan
			file.End(func() error {
				return wb.In(e.Path, func(d *os.Root, base string) error {
					got, err := placeIn(d, base, path.Base(tmp), e)
					if err == nil {
						a.note(got)
					}
					return err
				})
			})
			a.res.Written++
			a.res.WrittenBytes += hdr.Size
		}
		progress.Done, progress.Bytes = i+1, progress.Bytes+hdr.Size
		beat(a.ctx, progress)
	}
	// The end of the stream checks its size and both checksums against
	// what the sender stored.
	if _, err := io.Copy(io.Discard, plain); err != nil {
		return stagedError(sent.Key, err)
	}
	return nil
}

// readHeader reads one record header, or io.EOF at the end of the batch.
func readHeader(br *bufio.Reader) (recordHeader, error) {
	var hdr recordHeader
	n, err := binary.ReadUvarint(br)
	if err == io.EOF {
		return hdr, io.EOF
	}
	if err != nil {
		return hdr, err
	}
	if n == 0 || n > maxHeader {
		return hdr, fmt.Errorf("record header of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return hdr, err
	}
	if err := json.Unmarshal(body, &hdr); err != nil {
		return hdr, fmt.Errorf("record header: %w", err)
	}
	if hdr.Size < 0 || !filepath.IsLocal(hdr.Path) || hdr.Path != path.Clean(hdr.Path) {
		return hdr, fmt.Errorf("record header names %q with %d bytes", hdr.Path, hdr.Size)
	}
	return hdr, nil
}

// stagedError says what is wrong with a staged batch: a damaged or
// mismatched object is Corrupt, whose retry would read the same bytes (the
// workflow sends the batch again); the rest is retried.
func stagedError(key string, err error) error {
	switch {
	case pipeline.IsWrongKey(err):
		return activities.InvalidInput("backup.identity", fmt.Sprintf("staged batch %s: %v", key, err))
	case pipeline.IsCorrupt(err), errors.Is(err, io.ErrUnexpectedEOF):
		return activities.Corrupt(fmt.Sprintf("staged batch %s: %v", key, err))
	}
	return fmt.Errorf("read staged batch %s: %w", key, err)
}
