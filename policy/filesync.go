package policy

import (
	"cmp"
	"github.com/runnerhub/lifeboat/schemas"
	"slices"
	"strings"
)

// PlanFileSync compares the source's manifest with what the copy holds
// (a manifest of the copy as just scanned, hashes proven) and says what to
// do. It trusts the copy's manifest: a copy file whose hash differs from
// the source's is rewritten, whatever the last sync left there.
func PlanFileSync(src, copy schemas.FileManifest, o schemas.PlanOptions) schemas.FileSyncPlan {
	if o.Store {
		return planStore(src, copy, o)
	}
	var p schemas.FileSyncPlan
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
		view = make(map[string]*schemas.FileEntry, len(have))
		for i, c := range copy.Entries {
			if !under(c.Path, blocked) {
				view[c.Path] = &copy.Entries[i]
			}
		}
	}

	var targets []schemas.FileEntry
	unstable := map[string]bool{} // copy paths whose content this sync replaces
	for _, e := range src.Entries {
		if (!o.AllowDeletes && under(e.Path, blocked)) || e.Unsettled() {
			continue
		}
		c, ok := view[e.Path]
		switch {
		case ok && e.SameContent(*c):
			if !e.SameMeta(*c) {
				p.Meta = append(p.Meta, e)
			}
		case e.Type == schemas.EntryDir:
			p.Dirs = append(p.Dirs, e)
		case e.Type == schemas.EntryLink:
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
		if !wanted[c.SHA256] || c.Type != schemas.EntryFile || unstable[c.Path] {
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
	var transfers []schemas.FileEntry
	for _, e := range targets {
		if from := byHash[e.SHA256]; len(from) > 0 {
			p.Local = append(p.Local, schemas.LocalCopy{From: from[0], Entry: e})
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
func planStore(src, copy schemas.FileManifest, o schemas.PlanOptions) schemas.FileSyncPlan {
	var p schemas.FileSyncPlan
	held := map[string]bool{}
	for _, obj := range copy.Objects {
		held[obj.SHA256] = true
	}
	have := indexEntries(copy.Entries)
	srcAt := indexEntries(src.Entries)
	var transfers []schemas.FileEntry
	for _, e := range src.Entries {
		c, ok := have[e.Path]
		// A file's entry is only as good as the object behind it.
		same := ok && e.SameContent(*c) && (e.Type != schemas.EntryFile || held[e.SHA256])
		switch {
		case e.Unsettled():
		case same:
			if !e.SameMeta(*c) {
				p.Meta = append(p.Meta, e)
			}
		case e.Type == schemas.EntryDir:
			p.Dirs = append(p.Dirs, e)
		case e.Type == schemas.EntryLink:
			p.Links = append(p.Links, e)
		case held[e.SHA256]:
			p.Local = append(p.Local, schemas.LocalCopy{Entry: e})
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
func typeConflict(e, c schemas.FileEntry) bool {
	return (e.Type == schemas.EntryDir) != (c.Type == schemas.EntryDir)
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
func batch(files []schemas.FileEntry, o schemas.PlanOptions) [][]schemas.FileEntry {
	maxFiles, maxBytes := o.BatchFiles, o.BatchBytes
	if maxFiles <= 0 {
		maxFiles = schemas.DefaultBatchFiles
	}
	if maxBytes <= 0 {
		maxBytes = schemas.DefaultBatchMB << 20
	}
	var out [][]schemas.FileEntry
	var cur []schemas.FileEntry
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
func indexEntries(es []schemas.FileEntry) map[string]*schemas.FileEntry {
	m := make(map[string]*schemas.FileEntry, len(es))
	for i := range es {
		m[es[i].Path] = &es[i]
	}
	return m
}

// CopyAfterSync is the manifest of the copy once a sync has applied its
// plan: each source entry the sync wrote, with the copy's own inode and
// change time as the copy reported them (done), or the copy's entry where
// it already held the source's; the entries it kept (no deletes, type
// conflicts, files that changed while sent) as they were; nothing it
// deleted. A source entry the copy does not hold with its content is left
// out, and the next scan of the copy hashes whatever is there.
func CopyAfterSync(src, copy schemas.FileManifest, p schemas.FileSyncPlan, done map[string]schemas.FileEntry, skipped []string) schemas.FileManifest {
	out := schemas.FileManifest{
		FormatVersion: schemas.FileManifestFormatVersion, Cluster: src.Cluster, Tree: src.Tree,
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
		case under(e.Path, p.Conflicts) || skip[e.Path] || e.Unsettled():
			keep(e.Path)
		case done[e.Path].Type != "":
			out.Entries = append(out.Entries, done[e.Path])
		default:
			if c, ok := have[e.Path]; ok && e.SameContent(*c) {
				out.Entries = append(out.Entries, *c)
			}
		}
	}
	for _, k := range p.Kept {
		keep(k)
	}
	schemas.SortEntries(out.Entries)
	out.Entries = slices.CompactFunc(out.Entries, func(a, b schemas.FileEntry) bool { return a.Path == b.Path })
	return out
}
