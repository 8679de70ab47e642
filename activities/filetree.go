package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// The reading of file trees that files backups and file sync share: a walk
// that tolerates files removed under it, and a copy of one file that
// notices a file changing while it is read.

// errVanished is what copyStable returns for a file removed before it was
// opened: the caller leaves it out and says so.
var errVanished = errors.New("removed while the tree was read")

// walkTree calls visit for the tree's root (rel ".") and every entry below
// it, in lexical order per directory, with its slash-separated path
// relative to the root, its path on disk and its lstat information: links
// are reported, never followed. The root itself may be a link (a mount
// moved elsewhere); what it points to is the tree. Entries removed during
// the walk are returned in vanished (relative paths) instead of failing it.
func walkTree(ctx context.Context, root string, visit func(rel, path string, info fs.FileInfo) error) (vanished []string, err error) {
	root, err = filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, rerr := filepath.Rel(root, path)
		if rerr != nil {
			return rerr
		}
		rel = filepath.ToSlash(rel)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path != root {
				vanished = append(vanished, rel)
				return nil
			}
			return fmt.Errorf("read %s: %w", rel, err)
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			vanished = append(vanished, rel)
			return nil
		}
		if err != nil {
			return fmt.Errorf("stat %s: %w", rel, err)
		}
		return visit(rel, path, info)
	})
	return vanished, err
}

// copyStable copies the regular file at path, opened once, into the
// writer start returns; start gets the file's information as opened. The
// size and modification time are checked again after the copy: a file that
// changed in between is a FileChangedError (n says how much was copied),
// never a silently torn copy. A file gone before it was opened is
// errVanished. name is the file's name in messages.
func copyStable(path, name string, buf []byte, start func(fs.FileInfo) (io.Writer, error)) (info fs.FileInfo, n int64, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, errVanished
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("stat %s: %w", name, err)
	}
	if !before.Mode().IsRegular() {
		return before, 0, &FileChangedError{Path: name, What: "it was replaced by a " + before.Mode().Type().String()}
	}
	w, err := start(before)
	if err != nil {
		return before, 0, err
	}
	if buf == nil {
		buf = make([]byte, 256<<10)
	}
	n, err = io.CopyBuffer(w, io.LimitReader(f, before.Size()), buf)
	if err != nil {
		return before, n, fmt.Errorf("copy %s: %w", name, err)
	}
	if n < before.Size() {
		return before, n, &FileChangedError{Path: name, What: fmt.Sprintf("size %d bytes when opened, only %d could be read", before.Size(), n)}
	}
	var one [1]byte
	if k, _ := f.Read(one[:]); k > 0 {
		return before, n, &FileChangedError{Path: name, What: fmt.Sprintf("grew beyond the %d bytes it had when opened", before.Size())}
	}
	after, err := f.Stat()
	if err != nil {
		return before, n, fmt.Errorf("stat %s: %w", name, err)
	}
	if after.Size() != before.Size() {
		return before, n, &FileChangedError{Path: name, What: fmt.Sprintf("size %d → %d bytes", before.Size(), after.Size())}
	}
	if !after.ModTime().Equal(before.ModTime()) {
		return before, n, &FileChangedError{Path: name, What: fmt.Sprintf("modified at %s, after it was opened", after.ModTime().UTC().Format(time.RFC3339Nano))}
	}
	return before, n, nil
}
