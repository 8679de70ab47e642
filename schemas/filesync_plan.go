package schemas

import (
	"cmp"
	"slices"
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

// Unsettled reports a source file the scan could not hash because it kept
// changing: the copy keeps what it has until a later sync.
func (e FileEntry) Unsettled() bool { return e.Type == EntryFile && e.SHA256 == "" }

// SameContent reports whether c holds what e describes, metadata aside.
func (e FileEntry) SameContent(c FileEntry) bool {
	switch e.Type {
	case EntryFile:
		return c.Type == EntryFile && c.SHA256 != "" && c.SHA256 == e.SHA256
	case EntryLink:
		return c.Type == EntryLink && c.Link == e.Link
	}
	return c.Type == e.Type
}

// SameMeta reports whether c has e's mode and, except for links, whose
// times are not kept, its modification time.
func (e FileEntry) SameMeta(c FileEntry) bool {
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

// SortEntries orders entries by path, as manifests keep them.
func SortEntries(es []FileEntry) {
	slices.SortFunc(es, func(a, b FileEntry) int { return cmp.Compare(a.Path, b.Path) })
}
