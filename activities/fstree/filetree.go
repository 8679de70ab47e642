package fstree

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The reading of file trees that files backups and file sync share: a walk
// that tolerates files removed under it, and a copy of one file that
// notices a file changing while it is read.

// ErrVanished is what CopyStable returns for a file removed before it was
// opened: the caller leaves it out and says so.
var ErrVanished = errors.New("removed while the tree was read")

// WalkTree calls visit for the tree's root (rel ".") and every entry below
// it, in lexical order per directory, with its slash-separated path
// relative to the root, its path on disk and its lstat information: links
// are reported, never followed. The root itself may be a link (a mount
// moved elsewhere); what it points to is the tree. Entries removed during
// the walk are returned in vanished (relative paths) instead of failing it.
// visit may return fs.SkipDir for a directory, to leave its entries out.
//
// Each entry is looked up by name in its open directory (fstatat) rather
// than by its whole path, so the kernel resolves one name per entry
// instead of every directory above it again.
func WalkTree(ctx context.Context, root string, visit func(rel, path string, info fs.FileInfo) error) (vanished []string, err error) {
	root, err = filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	info, err := os.Lstat(root)
	if err != nil {
		return nil, fmt.Errorf("read .: %w", err)
	}
	if err := visit(".", root, info); err != nil || !info.IsDir() {
		if err == fs.SkipDir {
			err = nil
		}
		return nil, err
	}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("read .: %w", &fs.PathError{Op: "open", Path: root, Err: err})
	}
	w := &walker{ctx: ctx, visit: visit}
	err = w.dir(fd, ".", root)
	return w.vanished, err
}

// walker is one walk of WalkTree.
type walker struct {
	ctx      context.Context
	visit    func(rel, path string, info fs.FileInfo) error
	vanished []string
}

// dir visits the entries of the open directory fd, which it closes.
func (w *walker) dir(fd int, rel, path string) error {
	d := os.NewFile(uintptr(fd), path)
	names, err := d.Readdirnames(-1)
	if err != nil {
		d.Close()
		if errors.Is(err, fs.ErrNotExist) && rel != "." {
			w.vanished = append(w.vanished, rel)
			return nil
		}
		return fmt.Errorf("read %s: %w", rel, err)
	}
	defer d.Close()
	slices.Sort(names)
	for _, name := range names {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		crel, cpath := name, path+"/"+name
		if rel != "." {
			crel = rel + "/" + name
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if err == unix.ENOENT {
				w.vanished = append(w.vanished, crel)
				continue
			}
			return fmt.Errorf("stat %s: %w", crel, &fs.PathError{Op: "lstat", Path: cpath, Err: err})
		}
		info := &statInfo{name: name, st: sysStat(&st)}
		err := w.visit(crel, cpath, info)
		switch {
		case err == fs.SkipDir && info.IsDir():
			continue
		case err == fs.SkipDir:
			return nil // the rest of this directory
		case err != nil:
			return err
		case !info.IsDir():
			continue
		}
		cfd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.ENOENT {
			w.vanished = append(w.vanished, crel)
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", crel, &fs.PathError{Op: "open", Path: cpath, Err: err})
		}
		if err := w.dir(cfd, crel, cpath); err != nil {
			return err
		}
	}
	return nil
}

// statInfo is an entry's lstat information as fs.FileInfo, with the
// *syscall.Stat_t as Sys, as os.Lstat gives it.
type statInfo struct {
	name string
	st   syscall.Stat_t
}

func (i *statInfo) Name() string       { return i.name }
func (i *statInfo) Size() int64        { return i.st.Size }
func (i *statInfo) ModTime() time.Time { return time.Unix(i.st.Mtim.Unix()) }
func (i *statInfo) IsDir() bool        { return i.Mode().IsDir() }
func (i *statInfo) Sys() any           { return &i.st }

// sysStat is u as the syscall package spells it, which tar headers and
// entryOf read.
func sysStat(u *unix.Stat_t) syscall.Stat_t {
	return syscall.Stat_t{
		Dev: u.Dev, Ino: u.Ino, Nlink: u.Nlink, Mode: u.Mode, Uid: u.Uid, Gid: u.Gid, Rdev: u.Rdev,
		Size: u.Size, Blksize: u.Blksize, Blocks: u.Blocks,
		Atim: syscall.Timespec{Sec: u.Atim.Sec, Nsec: u.Atim.Nsec},
		Mtim: syscall.Timespec{Sec: u.Mtim.Sec, Nsec: u.Mtim.Nsec},
		Ctim: syscall.Timespec{Sec: u.Ctim.Sec, Nsec: u.Ctim.Nsec},
	}
}

// Mode converts the mode bits as the os package does.
func (i *statInfo) Mode() fs.FileMode {
	m := fs.FileMode(i.st.Mode & 0o777)
	switch i.st.Mode & syscall.S_IFMT {
	case syscall.S_IFBLK:
		m |= fs.ModeDevice
	case syscall.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFDIR:
		m |= fs.ModeDir
	case syscall.S_IFIFO:
		m |= fs.ModeNamedPipe
	case syscall.S_IFLNK:
		m |= fs.ModeSymlink
	case syscall.S_IFSOCK:
		m |= fs.ModeSocket
	}
	if i.st.Mode&syscall.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if i.st.Mode&syscall.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if i.st.Mode&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// CopyStable copies the regular file at path, opened once, into the
// writer start returns; start gets the file's information as opened. The
// size and modification time are checked again after the copy: a file that
// changed in between is a FileChangedError (n says how much was copied),
// never a silently torn copy. A file gone before it was opened is
// ErrVanished. name is the file's name in messages.
func CopyStable(path, name string, buf []byte, start func(fs.FileInfo) (io.Writer, error)) (info fs.FileInfo, n int64, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, ErrVanished
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

// FileChangedError reports a file that changed while it was copied into a
// backup: the copy would be torn, so the backup fails rather than store it.
// It is retryable: a later attempt may find the file quiet.
type FileChangedError struct {
	// Path is the file's name in the backup: tree name, then relative path.
	Path string
	// What says what changed.
	What string
}

func (e *FileChangedError) Error() string {
	return fmt.Sprintf("file %s changed while it was read (%s): back it up when it is quiet, or leave it out of the tree", e.Path, e.What)
}
