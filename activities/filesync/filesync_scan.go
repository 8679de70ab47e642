package filesync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/fstree"
	"github.com/runnerhub/lifeboat/schemas"
)

// tmpPrefix starts the names of the files an apply writes before renaming
// them into place. Scans leave such names out, and a scan of the copy
// removes them: they are left by an apply that died, since one sync of a
// tree runs at a time.
const tmpPrefix = ".lbsync-"

// hashAttempts is how often a file that changes while it is hashed is
// read before the scan leaves its hash unknown.
const hashAttempts = 3

// scanner lists a tree and hashes its regular files.
type scanner struct {
	ctx  context.Context
	root string
	// known holds earlier entries whose hash is reused for a file whose
	// size, times and inode are unchanged; force names paths read anyway.
	known map[string]schemas.FileEntry
	force map[string]bool
	// load, when set, runs once the tree is listed and before any file is
	// hashed: it sets known and force from reads of the store that went on
	// during the listing.
	load func(s *scanner) error
	// missingOK makes a missing root an empty tree (a copy not made yet).
	missingOK bool
	// removeTemps removes the files a dead apply left (scans of the copy).
	removeTemps bool
	hashers     int

	progress        schemas.FileSyncProgress
	beatEvery       time.Duration
	checkpointEvery time.Duration
	// checkpoint saves the entries hashed so far under checkpointKey.
	checkpoint    func([]schemas.FileEntry) error
	checkpointKey string

	// What the scan did.
	hashed      int
	hashedBytes int64
	skipped     []string
}

// scan returns the tree's entries, sorted by path. A regular file that
// kept changing while it was read has no hash, and is listed in skipped.
func (s *scanner) scan() ([]schemas.FileEntry, error) {
	var entries []schemas.FileEntry
	// What was removed while the tree was listed is simply not in it.
	_, err := fstree.WalkTree(s.ctx, s.root, func(rel, p string, info fs.FileInfo) error {
		if rel == "." {
			return nil
		}
		if strings.HasPrefix(path.Base(rel), tmpPrefix) {
			if s.removeTemps {
				if err := os.RemoveAll(p); err != nil {
					return fmt.Errorf("remove %s, left by an interrupted sync: %w", rel, err)
				}
			}
			if info.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		e := entryOf(rel, info)
		switch {
		case info.IsDir():
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if errors.Is(err, fs.ErrNotExist) {
				return nil // gone since it was listed: not in the tree any more
			}
			if err != nil {
				return fmt.Errorf("read link %s: %w", rel, err)
			}
			e.Link = target
		case info.Mode().IsRegular():
		default:
			s.skipped = append(s.skipped, fmt.Sprintf("%s: %s, not a regular file", rel, info.Mode().Type()))
			return nil
		}
		entries = append(entries, e)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) && s.missingOK {
		if s.load != nil {
			return nil, s.load(s)
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if s.load != nil {
		if err := s.load(s); err != nil {
			return nil, err
		}
	}
	var todo []int
	for i, e := range entries {
		if e.Type != schemas.EntryFile {
			continue
		}
		if k, ok := s.known[e.Path]; ok && k.SHA256 != "" && k.SameStat(e) && !s.force[e.Path] {
			entries[i].SHA256 = k.SHA256
			continue
		}
		todo = append(todo, i)
	}
	if err := s.hashAll(entries, todo); err != nil {
		return nil, err
	}
	out := entries[:0]
	for _, e := range entries {
		if e.Type != "" { // cleared: removed while it was hashed
			out = append(out, e)
		}
	}
	schemas.SortEntries(out)
	return out, nil
}

// hashAll hashes entries[i] for every i of todo on s.hashers goroutines,
// heartbeating and saving checkpoints as it goes.
func (s *scanner) hashAll(entries []schemas.FileEntry, todo []int) error {
	if len(todo) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	var (
		mu           sync.Mutex
		hashedNow    []schemas.FileEntry // for checkpoints
		files        atomic.Int64
		bytes        atomic.Int64
		checkpointed atomic.Bool
		firstErr     error
	)
	work := make(chan int)
	var wg sync.WaitGroup
	for range max(s.hashers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for i := range work {
				e := &entries[i]
				err := s.hashEntry(e, buf)
				mu.Lock()
				switch {
				case err != nil && firstErr == nil:
					firstErr = err
					cancel()
				case err == nil && e.SHA256 != "":
					hashedNow = append(hashedNow, *e)
				}
				mu.Unlock()
				files.Add(1)
				bytes.Add(e.Size)
			}
		}()
	}

	report := func() any {
		p := s.progress
		p.Done, p.Total, p.Bytes = int(files.Load()), len(todo), bytes.Load()
		if checkpointed.Load() {
			p.Checkpoint = s.checkpointKey
		}
		return p
	}
	stopBeat := activities.HeartbeatEvery(ctx, s.beatEvery, report)
	lastCheckpoint := time.Now()
	var checkpointErr error
feed:
	for _, i := range todo {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
		if s.checkpoint != nil && time.Since(lastCheckpoint) >= s.checkpointEvery {
			mu.Lock()
			snapshot := append([]schemas.FileEntry(nil), hashedNow...)
			mu.Unlock()
			if checkpointErr = s.checkpoint(snapshot); checkpointErr != nil {
				break feed
			}
			checkpointed.Store(true)
			lastCheckpoint = time.Now()
		}
	}
	close(work)
	wg.Wait()
	stopBeat()
	switch {
	case firstErr != nil:
		return firstErr
	case checkpointErr != nil:
		return fmt.Errorf("save the scan's checkpoint: %w", checkpointErr)
	case s.ctx.Err() != nil:
		return s.ctx.Err()
	}
	for _, i := range todo {
		if e := entries[i]; e.Type == schemas.EntryFile {
			if e.SHA256 == "" {
				s.skipped = append(s.skipped, e.Path+": changed while it was hashed; the copy keeps what it has")
				continue
			}
			s.hashed++
			s.hashedBytes += e.Size
		}
	}
	return nil
}

// hashEntry hashes one regular file and refreshes its entry from the file
// as opened. A file that keeps changing is left without a hash; one that
// is gone has its entry cleared.
func (s *scanner) hashEntry(e *schemas.FileEntry, buf []byte) error {
	for range hashAttempts {
		info, sum, err := hashFile(s.root+"/"+e.Path, e.Path, buf)
		var changed *fstree.FileChangedError
		switch {
		case errors.Is(err, fstree.ErrVanished):
			*e = schemas.FileEntry{}
			return nil
		case errors.As(err, &changed):
			continue
		case err != nil:
			return err
		}
		fresh := entryOf(e.Path, info)
		fresh.SHA256 = sum
		*e = fresh
		return nil
	}
	e.SHA256 = ""
	return nil
}

// hashFile is the SHA-256 of a regular file read once, and its information
// as opened.
func hashFile(p, name string, buf []byte) (fs.FileInfo, string, error) {
	h := sha256.New()
	info, _, err := fstree.CopyStable(p, name, buf, func(fs.FileInfo) (io.Writer, error) { return h, nil })
	if err != nil {
		return info, "", err
	}
	return info, hex.EncodeToString(h.Sum(nil)), nil
}

// entryOf is the manifest entry of a file as lstat or fstat described it.
func entryOf(rel string, info fs.FileInfo) schemas.FileEntry {
	e := schemas.FileEntry{Path: rel, Mode: unixMode(info.Mode()), MTime: info.ModTime().UnixNano()}
	switch {
	case info.IsDir():
		e.Type = schemas.EntryDir
	case info.Mode()&fs.ModeSymlink != 0:
		e.Type = schemas.EntryLink
		e.MTime = 0 // not kept: os cannot set a link's own time
	default:
		e.Type = schemas.EntryFile
		e.Size = info.Size()
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		e.Ino = st.Ino
		e.CTime = st.Ctim.Sec*1e9 + st.Ctim.Nsec
	}
	return e
}

// unixMode is the chmod form of a mode: permission bits with setuid,
// setgid and sticky.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// fileMode is the fs.FileMode of a chmod mode.
func fileMode(u uint32) fs.FileMode {
	m := fs.FileMode(u & 0o777)
	if u&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if u&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if u&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}
