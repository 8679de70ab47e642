package objstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Local is a store in a directory of the worker's host: each key is a file
// under the directory. Every access goes through an os.Root, so neither a key
// nor a symbolic link inside the directory can reach a file outside it.
type Local struct {
	dir string
}

// NewLocal returns the store rooted at dir, which must exist when it is used.
func NewLocal(dir string) *Local {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return &Local{dir: filepath.Clean(dir)}
}

// String names the store as a file URL.
func (l *Local) String() string { return "file://" + filepath.ToSlash(l.dir) }

// Bucket is the directory, which plays the bucket's part.
func (l *Local) Bucket() string { return l.dir }

// Ping checks that the directory exists.
func (l *Local) Ping(context.Context) error {
	fi, err := os.Stat(l.dir)
	if err != nil {
		return fmt.Errorf("local store: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("local store: %s is not a directory", l.dir)
	}
	return nil
}

func (l *Local) root() (*os.Root, error) {
	r, err := os.OpenRoot(l.dir)
	if err != nil {
		return nil, fmt.Errorf("local store: %w", err)
	}
	return r, nil
}

// Put writes a temporary file beside the object, syncs it, renames it into
// place and syncs the directory, so that after a crash the object is either
// complete or absent.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	if err := checkKey(key); err != nil {
		return err
	}
	root, err := l.root()
	if err != nil {
		return err
	}
	defer root.Close()
	defer func() {
		if err != nil {
			err = fmt.Errorf("put %s in %s: %w", key, l, err)
		}
	}()

	dir := path.Dir(key)
	if err := mkdirs(root, dir); err != nil {
		return err
	}
	// The temporary file is named after the object, so SweepKey finds what
	// a crashed Put of this key left.
	tmp := path.Join(dir, tmpName(rand.Text(), key))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if f != nil {
			_ = f.Close()
		}
		if err != nil {
			_ = root.Remove(tmp)
		}
	}()
	src := &errReader{r: ctxReader{ctx, r}}
	n, err := io.Copy(f, src)
	if src.err != nil {
		return readErr(src.err)
	}
	if err != nil {
		return err
	}
	if size >= 0 && n != size {
		return fmt.Errorf("content is %d bytes, size says %d", n, size)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	err, f = f.Close(), nil
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := root.Rename(tmp, key); err != nil {
		return err
	}
	return syncDir(root, dir)
}

// errReader remembers the error of the reader, to tell it from the file's.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// mkdirs creates dir and its missing parents, syncing the parent of each one
// it creates so that the new entries survive a crash.
func mkdirs(root *os.Root, dir string) error {
	if dir == "." {
		return nil
	}
	parent := "."
	for seg := range strings.SplitSeq(dir, "/") {
		p := path.Join(parent, seg)
		err := root.Mkdir(p, 0o750)
		switch {
		case err == nil:
			if err := syncDir(root, parent); err != nil {
				return err
			}
		case !errors.Is(err, fs.ErrExist):
			return err
		}
		parent = p
	}
	return nil
}

func syncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// missing reports whether err says that a file, or a directory on its path,
// does not exist.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// Get opens the object's file.
func (l *Local) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	root, err := l.root()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(key)
	if missing(err) {
		return nil, fmt.Errorf("get %s in %s: %w", key, l, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s in %s: %w", key, l, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = ErrNotFound
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("get %s in %s: %w", key, l, err)
	}
	return f, nil
}

// Stat describes the object's file.
func (l *Local) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, err
	}
	root, err := l.root()
	if err != nil {
		return ObjectInfo{}, err
	}
	defer root.Close()
	fi, err := root.Stat(key)
	if missing(err) || err == nil && !fi.Mode().IsRegular() {
		err = ErrNotFound
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s in %s: %w", key, l, err)
	}
	return ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List walks the part of the tree the prefix can match.
func (l *Local) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	var out []ObjectInfo
	err := l.walk(ctx, prefix, func(p string, fi fs.FileInfo) {
		if !strings.HasPrefix(path.Base(p), tmpPrefix) {
			out = append(out, ObjectInfo{Key: p, Size: fi.Size(), ModTime: fi.ModTime()})
		}
	})
	if err != nil {
		return nil, fmt.Errorf("list %q in %s: %w", prefix, l, err)
	}
	// A walk goes directory by directory, which is not key order: "a/b"
	// comes before "a-c" in a walk but after it as a string.
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// walk calls fn for every regular file whose slash path starts with prefix.
// Files and directories that vanish during the walk are skipped.
func (l *Local) walk(ctx context.Context, prefix string, fn func(p string, fi fs.FileInfo)) error {
	root, err := l.root()
	if err != nil {
		return err
	}
	defer root.Close()
	start := "."
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = prefix[:i]
	}
	if !fs.ValidPath(start) {
		return nil // an empty segment: no key can match
	}
	err = fs.WalkDir(root.FS(), start, func(p string, d fs.DirEntry, err error) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err != nil {
			if missing(err) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			if p == start || strings.HasPrefix(p+"/", prefix) || strings.HasPrefix(prefix, p+"/") {
				return nil
			}
			return fs.SkipDir
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(p, prefix) {
			return nil
		}
		fi, err := d.Info()
		if missing(err) {
			return nil
		}
		if err != nil {
			return err
		}
		fn(p, fi)
		return nil
	})
	if missing(err) {
		return nil
	}
	return err
}

// Delete removes the object's file. Directories left empty stay: removing
// them would race with a Put creating a file in them.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	root, err := l.root()
	if err != nil {
		return err
	}
	defer root.Close()
	fi, err := root.Lstat(key)
	if missing(err) || err == nil && fi.IsDir() {
		return nil
	}
	if err == nil {
		err = root.Remove(key)
	}
	if err != nil && !missing(err) {
		return fmt.Errorf("delete %s in %s: %w", key, l, err)
	}
	return nil
}

// PendingUploads counts the temporary files of Puts that have not finished:
// running, or interrupted by a crash.
func (l *Local) PendingUploads(ctx context.Context) (int, error) {
	n := 0
	err := l.walk(ctx, "", func(p string, _ fs.FileInfo) {
		if strings.HasPrefix(path.Base(p), tmpPrefix) {
			n++
		}
	})
	if err != nil {
		return 0, fmt.Errorf("count pending uploads in %s: %w", l, err)
	}
	return n, nil
}

// Sweep removes the temporary files of Puts begun more than olderThan ago,
// which only a crash leaves behind, and returns how many it removed.
func (l *Local) Sweep(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	var stale []string
	err := l.walk(ctx, "", func(p string, fi fs.FileInfo) {
		if strings.HasPrefix(path.Base(p), tmpPrefix) && fi.ModTime().Before(cutoff) {
			stale = append(stale, p)
		}
	})
	if err != nil {
		return 0, fmt.Errorf("sweep %s: %w", l, err)
	}
	root, err := l.root()
	if err != nil {
		return 0, err
	}
	defer root.Close()
	for i, p := range stale {
		if err := root.Remove(p); err != nil && !missing(err) {
			return i, fmt.Errorf("sweep %s: %w", l, err)
		}
	}
	return len(stale), nil
}

// tmpName is the name of a temporary file of key, unique by id.
func tmpName(id, key string) string { return tmpPrefix + id + "-" + path.Base(key) }

// isTmpOf reports whether name is a temporary file of key.
func isTmpOf(name, key string) bool {
	id, ok := strings.CutPrefix(name, tmpPrefix)
	return ok && len(id) > len(rand.Text()) && id[len(rand.Text()):] == "-"+path.Base(key)
}

// SweepKey removes the temporary files of Puts of key that did not finish,
// and returns how many it removed.
func (l *Local) SweepKey(ctx context.Context, key string) (int, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	root, err := l.root()
	if err != nil {
		return 0, err
	}
	defer root.Close()
	dir := path.Dir(key)
	entries, err := fs.ReadDir(root.FS(), dir)
	if missing(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sweep %s in %s: %w", key, l, err)
	}
	n := 0
	for _, e := range entries {
		if isTmpOf(e.Name(), key) {
			if err := root.Remove(path.Join(dir, e.Name())); err != nil && !missing(err) {
				return n, fmt.Errorf("sweep %s in %s: %w", key, l, err)
			}
			n++
		}
	}
	return n, nil
}
