package schemas

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// FileManifestFormatVersion is written into every file sync manifest;
// readers refuse newer ones.
const FileManifestFormatVersion = 1

// Types of manifest entries.
const (
	EntryFile = "file"
	EntryDir  = "dir"
	EntryLink = "link"
)

// FileManifest lists a tree or its copy: what a scan found, or what the
// last successful sync left in the copy. It holds names, sizes, times and
// hashes, never contents.
type FileManifest struct {
	FormatVersion int    `json:"format_version"`
	Cluster       string `json:"cluster"`
	Tree          string `json:"tree"`
	// Taken is when the source was read; a copy's manifest keeps the time
	// of the source it holds.
	Taken time.Time `json:"taken"`
	// Scrubbed is when every file of the copy was last read and hashed.
	Scrubbed time.Time `json:"scrubbed,omitzero"`
	// Entries are sorted by Path.
	Entries []FileEntry `json:"entries"`
	// Objects lists the contents a store copy holds, sorted by SHA256.
	Objects []StoredObject `json:"objects,omitempty"`
}

// FileEntry is one directory, regular file or symbolic link of a tree.
type FileEntry struct {
	// Path is relative to the tree, slash-separated, never "." or "..".
	Path string `json:"path"`
	Type string `json:"type"`
	// Mode holds the permission bits with setuid, setgid and sticky, as chmod takes them.
	Mode uint32 `json:"mode"`
	// MTime is the modification time in nanoseconds since 1970 (files and directories).
	MTime int64 `json:"mtime_ns,omitempty"`
	// Size and SHA256 are a regular file's.
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// Link is a symbolic link's target, as written.
	Link string `json:"link,omitempty"`
	// Ino and CTime are the inode number and change time on the host that
	// listed the entry. A file whose size, times and inode are unchanged
	// has not been written since, so its hash is reused: the change time
	// cannot be set back, unlike the modification time.
	Ino   uint64 `json:"ino,omitempty"`
	CTime int64  `json:"ctime_ns,omitempty"`
}

// StoredObject is one sealed content of a store copy.
type StoredObject struct {
	SHA256 string `json:"sha256"`
	// Size is the stored (compressed and encrypted) size.
	Size int64 `json:"size"`
}

// SameStat reports whether two listings of one path on one host show a
// file that has not been written in between.
func (e FileEntry) SameStat(o FileEntry) bool {
	return e.Type == o.Type && e.Size == o.Size && e.MTime == o.MTime && e.Ino == o.Ino && e.CTime == o.CTime && e.CTime != 0
}

// unsettled reports a source file the scan could not hash because it kept
// changing: the copy keeps what it has until a later sync.
func (e FileEntry) unsettled() bool { return e.Type == EntryFile && e.SHA256 == "" }

// sameContent reports whether c holds what e describes, metadata aside.
func (e FileEntry) sameContent(c FileEntry) bool {
	switch e.Type {
	case EntryFile:
		return c.Type == EntryFile && c.SHA256 != "" && c.SHA256 == e.SHA256
	case EntryLink:
		return c.Type == EntryLink && c.Link == e.Link
	}
	return c.Type == e.Type
}

// sameMeta reports whether c has e's mode and, except for links, whose
// times are not kept, its modification time.
func (e FileEntry) sameMeta(c FileEntry) bool {
	if e.Type == EntryLink {
		return true
	}
	return c.Mode == e.Mode && c.MTime == e.MTime
}

// FileSyncPlan says what makes a copy hold its source. The copy applies it
// in this order: Removals, Dirs and Local (with batch 0), the Batches, then
// Links, Deletes and Meta when the sync commits.
type FileSyncPlan struct {
	// Removals are copy paths that hold another type than the source's
	// (a directory where the source has a file, …): removed first, with
	// what is below them. Only when the tree allows deletes.
	Removals []string `json:"removals,omitempty"`
	// Dirs are directories to create, parents first.
	Dirs []FileEntry `json:"dirs,omitempty"`
	// Local are files the copy makes from content it already holds.
	Local []LocalCopy `json:"local,omitempty"`
	// Batches are the files to transfer, sorted by path.
	Batches [][]FileEntry `json:"batches,omitempty"`
	// Links are symbolic links to create or repoint.
	Links []FileEntry `json:"links,omitempty"`
	// Meta are entries whose content is right but whose mode or time is not.
	Meta []FileEntry `json:"meta,omitempty"`
	// Deletes are copy paths the source does not have, children before
	// parents; Kept are the same when the tree does not allow deletes.
	Deletes []string `json:"deletes,omitempty"`
	Kept    []string `json:"kept,omitempty"`
	// Conflicts are source paths left out: the copy holds another type
	// there and the tree does not allow deletes.
	Conflicts []string `json:"conflicts,omitempty"`
}

// LocalCopy makes Entry at the copy from the copy's file From, which holds
// the same content: a renamed or duplicated file crosses no region. Move
// renames From instead of copying it, when From is deleted anyway.
type LocalCopy struct {
	From  string    `json:"from"`
	Entry FileEntry `json:"entry"`
	Move  bool      `json:"move,omitempty"`
}

// PlanOptions tunes PlanFileSync.
type PlanOptions struct {
	AllowDeletes bool
	// Store plans for a store copy, which holds contents by hash: a
	// content it holds under any name is not sent again, and only
	// contents are transferred, once each.
	Store      bool
	BatchFiles int
	BatchBytes int64
}

// UpToDate reports whether the plan changes nothing.
func (p FileSyncPlan) UpToDate() bool {
	return len(p.Removals)+len(p.Dirs)+len(p.Local)+len(p.Batches)+len(p.Links)+len(p.Meta)+len(p.Deletes) == 0
}

// Transfers counts the files of every batch and their bytes.
func (p FileSyncPlan) Transfers() (files int, bytes int64) {
	for _, b := range p.Batches {
		for _, e := range b {
			files++
			bytes += e.Size
		}
	}
	return files, bytes
}

// PlanFileSync compares the source's manifest with what the copy holds
// (a manifest of the copy as just scanned, hashes proven) and says what to
// do. It trusts the copy's manifest: a copy file whose hash differs from
// the source's is rewritten, whatever the last sync left there.
func PlanFileSync(src, copy FileManifest, o PlanOptions) FileSyncPlan {
	if o.Store {
		return planStore(src, copy, o)
	}
	var p FileSyncPlan
	srcAt := indexEntries(src.Entries)
	have := indexEntries(copy.Entries)

	// A path whose type differs blocks the source's entry and everything
	// below it, until the copy's entry is removed.
	var blocked []string
	for _, e := range src.Entries {
		c, ok := have[e.Path]
		if !ok || !typeConflict(e, *c) || under(e.Path, blocked) {
			continue
		}
		blocked = append(blocked, e.Path)
	}
	if o.AllowDeletes {
		p.Removals = blocked
	} else {
		p.Conflicts = blocked
	}
	// The copy as the plan sees it: without what the removals take.
	view := have
	if o.AllowDeletes && len(blocked) > 0 {
		view = make(map[string]*FileEntry, len(have))
		for i, c := range copy.Entries {
			if !under(c.Path, blocked) {
				view[c.Path] = &copy.Entries[i]
			}
		}
	}

	var targets []FileEntry
	unstable := map[string]bool{} // copy paths whose content this sync replaces
	for _, e := range src.Entries {
		if (!o.AllowDeletes && under(e.Path, blocked)) || e.unsettled() {
			continue
		}
		c, ok := view[e.Path]
		switch {
		case ok && e.sameContent(*c):
			if !e.sameMeta(*c) {
				p.Meta = append(p.Meta, e)
			}
		case e.Type == EntryDir:
			p.Dirs = append(p.Dirs, e)
		case e.Type == EntryLink:
			p.Links = append(p.Links, e)
			unstable[e.Path] = true
		default:
			targets = append(targets, e)
			unstable[e.Path] = true
		}
	}

	var extra []string
	for _, c := range copy.Entries {
		if _, ok := srcAt[c.Path]; !ok && !under(c.Path, p.Removals) {
			extra = append(extra, c.Path)
		}
	}
	if o.AllowDeletes {
		p.Deletes = childrenFirst(extra)
	} else {
		p.Kept = extra
	}

	// Content the copy holds at a path this sync does not overwrite can
	// be copied there; a path it overwrites may already hold other bytes.
	// Only the contents the plan needs are looked for.
	wanted := make(map[string]bool, len(targets))
	for _, e := range targets {
		wanted[e.SHA256] = true
	}
	byHash := map[string][]string{}
	for _, c := range copy.Entries {
		if !wanted[c.SHA256] || c.Type != EntryFile || unstable[c.Path] {
			continue
		}
		if _, ok := view[c.Path]; ok {
			byHash[c.SHA256] = append(byHash[c.SHA256], c.Path)
		}
	}
	deleted := map[string]bool{}
	for _, d := range p.Deletes {
		deleted[d] = true
	}
	uses := map[string]int{}
	var transfers []FileEntry
	for _, e := range targets {
		if from := byHash[e.SHA256]; len(from) > 0 {
			p.Local = append(p.Local, LocalCopy{From: from[0], Entry: e})
			uses[from[0]]++
			continue
		}
		transfers = append(transfers, e)
	}
	for i, l := range p.Local {
		p.Local[i].Move = deleted[l.From] && uses[l.From] == 1
	}
	p.Batches = batch(transfers, o)
	return p
}

// planStore plans for a copy that keeps contents by hash and the tree
// itself as its manifest: only contents it lacks are sent, once each.
func planStore(src, copy FileManifest, o PlanOptions) FileSyncPlan {
	var p FileSyncPlan
	held := map[string]bool{}
	for _, obj := range copy.Objects {
		held[obj.SHA256] = true
	}
	have := indexEntries(copy.Entries)
	srcAt := indexEntries(src.Entries)
	var transfers []FileEntry
	for _, e := range src.Entries {
		c, ok := have[e.Path]
		// A file's entry is only as good as the object behind it.
		same := ok && e.sameContent(*c) && (e.Type != EntryFile || held[e.SHA256])
		switch {
		case e.unsettled():
		case same:
			if !e.sameMeta(*c) {
				p.Meta = append(p.Meta, e)
			}
		case e.Type == EntryDir:
			p.Dirs = append(p.Dirs, e)
		case e.Type == EntryLink:
			p.Links = append(p.Links, e)
		case held[e.SHA256]:
			p.Local = append(p.Local, LocalCopy{Entry: e})
		default:
			transfers = append(transfers, e)
			held[e.SHA256] = true
		}
	}
	var extra []string
	for _, c := range copy.Entries {
		if _, ok := srcAt[c.Path]; !ok {
			extra = append(extra, c.Path)
		}
	}
	if o.AllowDeletes {
		p.Deletes = childrenFirst(extra)
	} else {
		p.Kept = extra
	}
	p.Batches = batch(transfers, o)
	return p
}

// typeConflict reports whether the copy's entry must go before the
// source's can take its path: a directory cannot be overwritten by a file
// or a link, nor a file or a link by a directory.
func typeConflict(e, c FileEntry) bool {
	return (e.Type == EntryDir) != (c.Type == EntryDir)
}

// under reports whether path is one of roots or below one.
func under(path string, roots []string) bool {
	for _, r := range roots {
		if path == r || strings.HasPrefix(path, r+"/") {
			return true
		}
	}
	return false
}

// childrenFirst orders paths so that every path comes before its parent.
func childrenFirst(paths []string) []string {
	out := slices.Clone(paths)
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(b, a) })
	return out
}

// batch splits files, in path order, into batches of at most o.BatchFiles
// files and o.BatchBytes bytes; a larger file goes alone.
func batch(files []FileEntry, o PlanOptions) [][]FileEntry {
	maxFiles, maxBytes := o.BatchFiles, o.BatchBytes
	if maxFiles <= 0 {
		maxFiles = DefaultBatchFiles
	}
	if maxBytes <= 0 {
		maxBytes = DefaultBatchMB << 20
	}
	var out [][]FileEntry
	var cur []FileEntry
	var size int64
	for _, e := range files {
		if len(cur) > 0 && (len(cur) >= maxFiles || size+e.Size > maxBytes) {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, e)
		size += e.Size
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// indexEntries maps each path of es to its entry in es.
func indexEntries(es []FileEntry) map[string]*FileEntry {
	m := make(map[string]*FileEntry, len(es))
	for i := range es {
		m[es[i].Path] = &es[i]
	}
	return m
}

// SortEntries orders entries by path, as manifests keep them.
func SortEntries(es []FileEntry) {
	slices.SortFunc(es, func(a, b FileEntry) int { return cmp.Compare(a.Path, b.Path) })
}

// CopyAfterSync is the manifest of the copy once a sync has applied its
// plan: each source entry the sync wrote, with the copy's own inode and
// change time as the copy reported them (done), or the copy's entry where
// it already held the source's; the entries it kept (no deletes, type
// conflicts, files that changed while sent) as they were; nothing it
// deleted. A source entry the copy does not hold with its content is left
// out, and the next scan of the copy hashes whatever is there.
func CopyAfterSync(src, copy FileManifest, p FileSyncPlan, done map[string]FileEntry, skipped []string) FileManifest {
	out := FileManifest{
		FormatVersion: FileManifestFormatVersion, Cluster: src.Cluster, Tree: src.Tree,
		Taken: src.Taken, Scrubbed: copy.Scrubbed,
	}
	have := indexEntries(copy.Entries)
	skip := map[string]bool{}
	for _, s := range skipped {
		skip[s] = true
	}
	keep := func(path string) {
		if c, ok := have[path]; ok {
			out.Entries = append(out.Entries, *c)
		}
	}
	for _, e := range src.Entries {
		switch {
		case under(e.Path, p.Conflicts) || skip[e.Path] || e.unsettled():
			keep(e.Path)
		case done[e.Path].Type != "":
			out.Entries = append(out.Entries, done[e.Path])
		default:
			if c, ok := have[e.Path]; ok && e.sameContent(*c) {
				out.Entries = append(out.Entries, *c)
			}
		}
	}
	for _, k := range p.Kept {
		keep(k)
	}
	SortEntries(out.Entries)
	out.Entries = slices.CompactFunc(out.Entries, func(a, b FileEntry) bool { return a.Path == b.Path })
	return out
}
