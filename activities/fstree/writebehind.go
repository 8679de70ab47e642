package fstree

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sync"

	"golang.org/x/sys/unix"
)

// writeBehind creates files under a root from goroutines of their own, so
// that the time the disk takes (creating a file, writing it, starting its
// writeback) overlaps the decrypting, decompressing and hashing of what
// comes next in the stream. Each file is written whole by one writer, and
// the writers take files in turn, so that one waiting on the file system
// does not hold the others up. Memory is bounded by the chunks: the
// reader waits for a free one.
type writeBehind struct {
	root    *os.Root
	writers []chan writeJob
	next    int // the writer of the next file
	free    chan []byte
	wg      sync.WaitGroup
	// Replace removes a file already at a name before it is created (a
	// temporary file an earlier attempt left).
	Replace bool
	// DirMode is the mode of a missing directory a writer makes (0o755
	// when zero).
	DirMode fs.FileMode

	mu   sync.Mutex
	err  error               // the first failure; later work is skipped
	dirs map[string]*openDir // open directories, so a create resolves one name
	uses uint64              // handed out so far: the least recently used closes first
}

// maxOpenDirs bounds the directories a write-behind keeps open: a batch of
// many files in as many directories would otherwise hold a descriptor for
// each until its end, and run out of them where the limit is low. Only a
// directory no writer holds is closed.
const maxOpenDirs = 256

// openDir is a directory a write-behind holds open.
type openDir struct {
	root *os.Root
	refs int    // handed out and not released yet
	used uint64 // when it was last handed out
}

// writeJob is a file's start, one chunk of it, or its end.
type writeJob struct {
	name string
	mode fs.FileMode
	data []byte
	end  bool
	then func() error // at the end: run once the file is closed
}

// NewWriteBehind starts writers goroutines sharing chunks buffers of size
// bytes, creating files under root.
func NewWriteBehind(root *os.Root, writers, chunks, size int) *writeBehind {
	w := &writeBehind{
		root:    root,
		writers: make([]chan writeJob, writers),
		free:    make(chan []byte, chunks),
		dirs:    map[string]*openDir{},
	}
	for range chunks {
		w.free <- make([]byte, size)
	}
	for i := range w.writers {
		w.writers[i] = make(chan writeJob, chunks)
		w.wg.Go(func() { w.run(w.writers[i]) })
	}
	return w
}

// run writes the files of one writer, one after the other.
func (w *writeBehind) run(jobs <-chan writeJob) {
	var f *os.File
	var wb writeback
	for j := range jobs {
		switch {
		case j.data != nil:
			// A file handed to a writer is written whole even when another
			// writer failed meanwhile (the reader hands out no more), so
			// its step after still runs: an apply's retry then finds every
			// file read before the failure in place. One that fails is
			// closed at once, and its step after is skipped.
			if f != nil {
				if _, err := f.Write(j.data); err != nil {
					w.fail(fmt.Errorf("write %s: %w", j.name, err))
					_ = f.Close()
					f = nil
				} else {
					wb.wrote(int64(len(j.data)))
				}
			}
			w.free <- j.data[:cap(j.data)]
		case j.end:
			if f != nil {
				// The restored server syncs its whole data directory at
				// start; writing back while the rest streams in leaves it
				// little to wait for.
				err := StartWriteback(f)
				f = nil
				switch {
				case err != nil:
					w.fail(fmt.Errorf("write %s: %w", j.name, err))
				case j.then != nil:
					if err := j.then(); err != nil {
						w.fail(err)
					}
				}
			}
		default:
			var err error
			if f, err = w.open(j.name, j.mode); err != nil {
				w.fail(fmt.Errorf("create %s: %w", j.name, err))
			}
			wb = writeback{fd: -1}
			if f != nil {
				wb.fd = int(f.Fd())
			}
		}
	}
}

// writebackWindow is how much of a large file is written before its
// writeback starts; the window before it is then waited for and dropped
// from the page cache.
const writebackWindow = 32 << 20

// writeback keeps a large file's footprint in the page cache to two
// windows: a restore of many gigabytes then reuses the same pages instead
// of taking new ones, which costs the kernel (and, on a virtual machine,
// the hypervisor) more than the copy itself; and what it writes is on disk
// by the time the restored server syncs it. The calls are hints: a failure
// changes nothing but speed.
type writeback struct {
	fd      int
	written int64
	started int64 // writeback is started below this offset
}

func (b *writeback) wrote(n int64) {
	b.written += n
	if b.fd < 0 || b.written-b.started < writebackWindow {
		return
	}
	_ = unix.SyncFileRange(b.fd, b.started, b.written-b.started, unix.SYNC_FILE_RANGE_WRITE)
	if prev := b.started - writebackWindow; prev >= 0 {
		_ = unix.SyncFileRange(b.fd, prev, writebackWindow,
			unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
		_ = unix.Fadvise(b.fd, prev, writebackWindow, unix.FADV_DONTNEED)
	}
	b.started = b.written
}

// open creates name, which must not exist, in its directory's handle.
func (w *writeBehind) open(name string, mode fs.FileMode) (f *os.File, err error) {
	err = w.In(name, func(d *os.Root, base string) error {
		if w.Replace {
			if err := d.Remove(base); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		f, err = d.OpenFile(base, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
		return err
	})
	return f, err
}

// In runs do with the directory of name (a slash-separated path under the
// root), opened once and held open while do runs, and the name within it.
// A directory that does not exist yet is made.
func (w *writeBehind) In(name string, do func(d *os.Root, base string) error) error {
	dir, base := path.Split(name)
	if dir == "" {
		return do(w.root, base)
	}
	dir = path.Clean(dir)
	d, err := w.hold(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer w.release(d)
	return do(d.root, base)
}

// hold returns the open directory name, opening it (or making it) when it
// is not open, and closing the least recently used one no writer holds
// when maxOpenDirs are open.
func (w *writeBehind) hold(name string) (*openDir, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.uses++
	if d, ok := w.dirs[name]; ok {
		d.refs++
		d.used = w.uses
		return d, nil
	}
	if len(w.dirs) >= maxOpenDirs {
		w.closeLeastUsed()
	}
	r, err := w.root.OpenRoot(name)
	if errors.Is(err, fs.ErrNotExist) {
		if err = w.root.MkdirAll(name, cmp.Or(w.DirMode, 0o755)); err == nil {
			r, err = w.root.OpenRoot(name)
		}
	}
	if err != nil {
		return nil, err
	}
	d := &openDir{root: r, refs: 1, used: w.uses}
	w.dirs[name] = d
	return d, nil
}

// closeLeastUsed closes the least recently used directory no writer holds,
// if any (with w.mu held).
func (w *writeBehind) closeLeastUsed() {
	var oldest string
	var found *openDir
	for name, d := range w.dirs {
		if d.refs == 0 && (found == nil || d.used < found.used) {
			oldest, found = name, d
		}
	}
	if found != nil {
		_ = found.root.Close()
		delete(w.dirs, oldest)
	}
}

// release gives back a directory hold returned.
func (w *writeBehind) release(d *openDir) {
	w.mu.Lock()
	defer w.mu.Unlock()
	d.refs--
}

func (w *writeBehind) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

func (w *writeBehind) Failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Create reads r to its end into a new file called name (a slash-separated
// path under the root), written and closed behind. A failure to create or
// write shows in a later call or in wait.
func (w *writeBehind) Create(name string, mode fs.FileMode, r io.Reader) (int64, error) {
	f := w.Start(name, mode)
	defer f.End(nil)
	return f.ReadFrom(r)
}

// behindFile is a file a writer creates: its content follows with
// readFrom, and end closes it.
type behindFile struct {
	w    *writeBehind
	jobs chan writeJob
	name string
}

// Start hands a new file called name to the next writer.
func (w *writeBehind) Start(name string, mode fs.FileMode) behindFile {
	jobs := w.writers[w.next]
	w.next = (w.next + 1) % len(w.writers)
	jobs <- writeJob{name: name, mode: mode}
	return behindFile{w: w, jobs: jobs, name: name}
}

// ReadFrom reads r to its end into the file.
func (f behindFile) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	for {
		if err := f.w.Failure(); err != nil {
			return n, err
		}
		buf := <-f.w.free
		k, err := fill(r, buf)
		n += int64(k)
		if k > 0 {
			f.jobs <- writeJob{name: f.name, data: buf[:k]}
		} else {
			f.w.free <- buf
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// End closes the file; then, unless creating or writing this file failed,
// its writer runs then (when not nil), after the file is closed and before
// its next file, even when another file failed meanwhile. An error of then
// is the writer's failure.
func (f behindFile) End(then func() error) {
	f.jobs <- writeJob{name: f.name, end: true, then: then}
}

// fill reads into buf until it is full or r ends; unlike io.ReadFull it
// passes on io.ErrUnexpectedEOF only when r says so (a truncated tar).
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Wait stops the writers once every file is written and closed, and
// returns the first failure.
func (w *writeBehind) Wait() error {
	for _, jobs := range w.writers {
		close(jobs)
	}
	w.wg.Wait()
	for _, d := range w.dirs {
		d.root.Close()
	}
	return w.Failure()
}

// StartWriteback starts writing f's data to disk, without waiting, and
// closes f. The sync does not wait for the disk (nor does rsync): a file
// whose last writes a crash of the host lost is short, or empty, or still
// the inode it replaced, so its size, time or inode differ from what the
// manifest says the copy holds, and the next sync reads it again and copies
// it. Starting the writeback at once keeps that window short without
// making the apply wait for other programs' writes, which a flush of a
// journaling filesystem waits for too, and which on a busy host are many.
func StartWriteback(f *os.File) error {
	_ = unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE) // a hint: an error changes nothing
	return f.Close()
}
