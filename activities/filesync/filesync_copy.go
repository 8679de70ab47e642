package filesync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/policy"
	"github.com/runnerhub/lifeboat/schemas"
)

// ScanFileCopy lists what the copy holds and stores it for the run. A file
// whose size, times and inode are as the last sync left them keeps the
// hash the sync recorded; any other is read and hashed, and so is every
// file when Rehash is set or the daily scrub is due (FileSyncScrubEvery),
// and every file a verification found damaged and that is still so. A file
// that does not hash to what the last sync wrote is reported damaged: the
// plan sends it again. Files an interrupted apply left are removed. It runs
// in the copy's region (a store copy: the tree's).
func (f *FileSync) ScanFileCopy(ctx context.Context, in schemas.ScanFileCopyInput) (schemas.ScanFileCopyResult, error) {
	t, store, err := f.beginRun(ctx, in.Cluster, in.Tree, in.Run, onCopy)
	if err != nil {
		return schemas.ScanFileCopyResult{}, err
	}
	now := time.Now().UTC()
	stateF := activities.Later(func() (schemas.FileManifest, error) { return copyManifest(ctx, store, t, in.Cluster) })
	scrubs := func(state schemas.FileManifest) bool {
		return in.Rehash || now.Sub(state.Scrubbed) >= schemas.FileSyncScrubEvery
	}
	progress := schemas.FileSyncProgress{Tree: t.Name, Phase: schemas.PhaseScanCopy}
	var state, seen schemas.FileManifest
	var res schemas.ScanFileCopyResult
	if t.Sync.Store != "" {
		if state, err = stateF(); err == nil {
			seen, res.Rehashed, err = f.scanStoreCopy(ctx, store, in.Cluster, t, state, scrubs(state), progress)
		}
	} else {
		suspectsF := activities.Later(func() (schemas.FileSuspects, error) { return f.suspects(ctx, store, in.Cluster, t) })
		s := &scanner{
			ctx: ctx, root: t.Sync.Path, missingOK: true, removeTemps: true, hashers: f.hashers(),
			progress: progress, beatEvery: f.heartbeatEvery(),
			// What the last sync wrote and what a verification found are
			// read while the copy is listed.
			load: func(s *scanner) error {
				var err error
				if state, err = stateF(); err != nil {
					return err
				}
				if !scrubs(state) {
					s.known = indexByPath(state.Entries)
				}
				sus, _ := suspectsF()
				s.force = stillSuspect(t, sus)
				return nil
			},
		}
		seen.Entries, err = s.scan()
		res.Rehashed = s.hashed
	}
	if err != nil {
		return res, fmt.Errorf("scan the copy of %s: %w", t.Name, err)
	}
	scrub := scrubs(state)
	seen.FormatVersion, seen.Cluster, seen.Tree, seen.Taken = schemas.FileManifestFormatVersion, in.Cluster, t.Name, state.Taken
	seen.Scrubbed = state.Scrubbed
	if scrub {
		seen.Scrubbed = now
	}
	damaged := damagedEntries(state, seen, t.Sync.Store != "")
	res.Key = schemas.FileSyncRunKey(in.Cluster, t.Name, in.Run, copyName)
	if err := putFileManifest(ctx, store, res.Key, seen); err != nil {
		return res, err
	}
	res.Files, res.Bytes = countFiles(seen.Entries)
	res.Scrubbed, res.Damaged, res.DamagedCount = scrub, limited(damaged), len(damaged)
	res.Unchanged = len(damaged) == 0 && slices.Equal(seen.Entries, state.Entries) && slices.Equal(seen.Objects, state.Objects)
	if len(damaged) > 0 {
		f.logger().Warn("copy files damaged: the sync copies them again", zap.String("tree", t.Name),
			zap.Int("count", len(damaged)), zap.Strings("first", res.Damaged))
	}
	return res, nil
}

// suspects reads what the last verification found damaged, if any.
func (f *FileSync) suspects(ctx context.Context, store objstore.Store, cluster string, t schemas.FileTree) (schemas.FileSuspects, error) {
	var s schemas.FileSuspects
	err := getState(ctx, store, schemas.FileSuspectsKey(cluster, t.Name), &s)
	if err != nil && !errors.Is(err, objstore.ErrNotFound) {
		f.logger().Warn("suspects of the last verification unreadable", zap.String("tree", t.Name), zap.Error(err))
	}
	return s, err
}

// stillSuspect are the paths of the suspects still as the verification
// found them: the scan reads them whatever their metadata says. A file
// written since is judged by its metadata again.
func stillSuspect(t schemas.FileTree, s schemas.FileSuspects) map[string]bool {
	out := map[string]bool{}
	for _, e := range s.Entries {
		if info, err := os.Lstat(t.Sync.Path + "/" + e.Path); err == nil && entryOf(e.Path, info).SameStat(e) {
			out[e.Path] = true
		}
	}
	return out
}

// damagedEntries lists the files of state (what the last sync wrote) that
// seen (the copy now) does not hold with their content.
func damagedEntries(state, seen schemas.FileManifest, store bool) []string {
	now := indexByPath(seen.Entries)
	held := map[string]bool{}
	for _, o := range seen.Objects {
		held[o.SHA256] = true
	}
	var out []string
	for _, s := range state.Entries {
		if s.Type != schemas.EntryFile {
			continue
		}
		c, ok := now[s.Path]
		switch {
		case store && !held[s.SHA256]:
			out = append(out, s.Path+" (content missing)")
		case store:
		case !ok:
			out = append(out, s.Path+" (missing)")
		case c.Type != schemas.EntryFile || c.SHA256 != s.SHA256:
			out = append(out, s.Path)
		}
	}
	return out
}

// CommitFileSync finishes a sync at the copy once every batch is applied
// (the apply of the last batch does it itself; this is for syncs that
// apply none, and for store copies): it makes the links, deletes what the
// source no longer has (only when the tree allows deletes), sets modes and
// times and gives every directory its own, then stores the copy's new
// manifest and the sync's status and removes the run's working objects.
// For a store copy it records the objects sent and, when deletes are
// allowed, removes the contents no entry names any more. It runs in the
// copy's region.
func (f *FileSync) CommitFileSync(ctx context.Context, in schemas.CommitFileSyncInput) (schemas.CommitFileSyncResult, error) {
	t, store, err := f.beginRun(ctx, in.Cluster, in.Tree, in.Run, onCopy)
	if err != nil {
		return schemas.CommitFileSyncResult{}, err
	}
	return f.commit(ctx, store, t, in.Cluster, in.Run, in.Batches, runHeld{})
}

// commit finishes the sync: see CommitFileSync. The apply that commits
// passes what it holds of the run.
func (f *FileSync) commit(ctx context.Context, store objstore.Store, t schemas.FileTree, cluster, runID string, batches int, held runHeld) (schemas.CommitFileSyncResult, error) {
	run, err := readRun(ctx, store, cluster, t.Name, runID, batches, held)
	if err != nil {
		return schemas.CommitFileSyncResult{}, err
	}
	var res schemas.CommitFileSyncResult
	var m schemas.FileManifest
	if t.Sync.Store != "" {
		m, res, err = f.commitStore(ctx, store, cluster, t, run)
	} else {
		m, res, err = commitDir(t, run)
	}
	if err != nil {
		return res, fmt.Errorf("commit the copy of %s: %w", t.Name, err)
	}
	st, err := f.finishRun(ctx, store, cluster, t, runID, m)
	if err != nil {
		return res, err
	}
	res.Files, res.Bytes, res.SourceTime = st.Files, st.Bytes, st.SourceTime
	return res, nil
}

// commitDir applies the plan's last steps to a directory copy and returns
// its new manifest.
func commitDir(t schemas.FileTree, run runState) (schemas.FileManifest, schemas.CommitFileSyncResult, error) {
	var res schemas.CommitFileSyncResult
	root, err := openCopy(t)
	if err != nil {
		return schemas.FileManifest{}, res, err
	}
	defer root.Close()
	a := &applier{root: root}
	for _, l := range run.plan.Links {
		tmp := tempName(l.Path)
		_ = root.Remove(tmp)
		if err := root.Symlink(l.Link, tmp); err != nil {
			return schemas.FileManifest{}, res, fmt.Errorf("make link %s: %w", l.Path, err)
		}
		if err := root.Rename(tmp, l.Path); err != nil {
			_ = root.Remove(tmp)
			return schemas.FileManifest{}, res, fmt.Errorf("move link %s into place: %w", l.Path, err)
		}
		if err := a.record(l); err != nil {
			return schemas.FileManifest{}, res, err
		}
		res.Metadata++
	}
	for _, d := range run.plan.Deletes {
		if err := root.RemoveAll(d); err != nil {
			return schemas.FileManifest{}, res, fmt.Errorf("delete %s: %w", d, err)
		}
		res.Deleted++
	}
	res.Deleted += len(run.plan.Removals)
	for _, e := range run.plan.Meta {
		if e.Type != schemas.EntryFile {
			continue // directories below, links above
		}
		if err := a.place("", e); err != nil {
			return schemas.FileManifest{}, res, err
		}
		res.Metadata++
	}
	// Every directory, children first: writing into a directory changes
	// its time, so each is set once nothing more is written into it.
	var dirs []schemas.FileEntry
	for _, e := range run.src.Entries {
		if e.Type == schemas.EntryDir {
			dirs = append(dirs, e)
		}
	}
	slices.Reverse(dirs)
	for _, d := range dirs {
		info, err := root.Lstat(d.Path)
		if err != nil || !info.IsDir() {
			continue // left out: a conflict, or a directory removed since the scan
		}
		if got := entryOf(d.Path, info); got.Mode == d.Mode && got.MTime == d.MTime {
			a.done.Entries = append(a.done.Entries, got) // as it should be: left alone
			continue
		}
		if err := a.place("", d); err != nil {
			return schemas.FileManifest{}, res, err
		}
	}
	for _, e := range a.done.Entries {
		run.done[e.Path] = e
	}
	// Nothing here waits for the disk (see fstree.StartWriteback): a link, delete,
	// mode or time a crash loses leaves an entry that differs from the
	// manifest, which the next sync finds and sets again.
	return policy.CopyAfterSync(run.src, run.copy, run.plan, run.done, run.skipped), res, nil
}

// VerifyFileCopy reads every file of the copy, hashes it and reports every
// way the copy differs from the manifest the last sync wrote. Damaged
// files are saved as suspects, which the next sync reads whatever their
// metadata says, and copies again. It runs in the copy's region.
func (f *FileSync) VerifyFileCopy(ctx context.Context, in schemas.VerifyFileCopyInput) (schemas.VerifyFileCopyResult, error) {
	t, store, err := f.begin(ctx, in.Cluster, in.Tree, onCopy)
	if err != nil {
		return schemas.VerifyFileCopyResult{}, err
	}
	state, err := copyManifest(ctx, store, t, in.Cluster)
	if err != nil {
		return schemas.VerifyFileCopyResult{}, err
	}
	res := schemas.VerifyFileCopyResult{Tree: t.Name, Target: t.Sync.Describe()}
	if len(state.Entries) > 0 || len(state.Objects) > 0 {
		res.Synced = state.Taken
	}
	progress := schemas.FileSyncProgress{Tree: t.Name, Phase: schemas.PhaseVerify}
	var d differences
	if t.Sync.Store != "" {
		d, err = f.verifyStoreCopy(ctx, store, in.Cluster, t, state, progress)
	} else {
		d, err = f.verifyDirCopy(ctx, t, state, progress)
	}
	if err != nil {
		return res, fmt.Errorf("verify the copy of %s: %w", t.Name, err)
	}
	res.Files, res.Bytes = d.files, d.bytes
	res.Damaged, res.DamagedCount = limited(d.damaged), len(d.damaged)
	res.Missing, res.MissingCount = limited(d.missing), len(d.missing)
	res.Changed, res.ChangedCount = limited(d.changed), len(d.changed)
	res.Extra, res.ExtraCount = limited(d.extra), len(d.extra)
	if len(d.suspects) > 0 {
		err := putState(ctx, store, schemas.FileSuspectsKey(in.Cluster, t.Name), schemas.FileSuspects{Found: time.Now().UTC(), Entries: d.suspects})
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// differences is what a verification found.
type differences struct {
	files                            int
	bytes                            int64
	damaged, missing, changed, extra []string
	// suspects are the damaged files as found, for the next sync.
	suspects []schemas.FileEntry
}

func (f *FileSync) verifyDirCopy(ctx context.Context, t schemas.FileTree, state schemas.FileManifest, progress schemas.FileSyncProgress) (differences, error) {
	s := &scanner{ctx: ctx, root: t.Sync.Path, missingOK: true, hashers: f.hashers(), progress: progress, beatEvery: f.heartbeatEvery()}
	entries, err := s.scan()
	if err != nil {
		return differences{}, err
	}
	var d differences
	d.files, d.bytes = countFiles(entries)
	seen := indexByPath(entries)
	for _, want := range state.Entries {
		got, ok := seen[want.Path]
		switch {
		case !ok:
			d.missing = append(d.missing, want.Path)
		case got.Type != want.Type || (want.Type == schemas.EntryFile && got.SHA256 != want.SHA256):
			d.damaged = append(d.damaged, want.Path)
			d.suspects = append(d.suspects, got)
		case got.Link != want.Link || got.Mode != want.Mode || (want.Type == schemas.EntryFile && got.MTime != want.MTime):
			// Directory times move with what is written into them; a
			// sync sets them again.
			d.changed = append(d.changed, want.Path)
		}
	}
	kept := indexByPath(state.Entries)
	for _, e := range entries {
		if _, ok := kept[e.Path]; !ok {
			d.extra = append(d.extra, e.Path)
		}
	}
	// Special files, and files that kept changing while read.
	d.changed = append(d.changed, s.skipped...)
	return d, nil
}
