package policy

import (
	"github.com/runnerhub/lifeboat/schemas"
	"reflect"
	"strings"
	"testing"
)

// Short builders of manifest entries: content is named by a word whose
// "hash" is the word itself, which is all the plan compares.
func file(path, content string) schemas.FileEntry {
	return schemas.FileEntry{Path: path, Type: schemas.EntryFile, Mode: 0o644, MTime: 1, Size: int64(len(content)), SHA256: content}
}

func dir(path string) schemas.FileEntry {
	return schemas.FileEntry{Path: path, Type: schemas.EntryDir, Mode: 0o755, MTime: 1}
}

func link(path, target string) schemas.FileEntry {
	return schemas.FileEntry{Path: path, Type: schemas.EntryLink, Mode: 0o777, Link: target}
}

func manifest(es ...schemas.FileEntry) schemas.FileManifest {
	schemas.SortEntries(es)
	return schemas.FileManifest{Cluster: "dev", Tree: "t", Entries: es}
}

func paths(es []schemas.FileEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Path)
	}
	return out
}

// planText renders a plan as one line per step, for comparisons that read.
func planText(p schemas.FileSyncPlan) []string {
	var out []string
	add := func(what string, items []string) {
		if len(items) > 0 {
			out = append(out, what+" "+strings.Join(items, ","))
		}
	}
	add("remove", p.Removals)
	add("mkdir", paths(p.Dirs))
	var local []string
	for _, l := range p.Local {
		verb := "copy"
		if l.Move {
			verb = "move"
		}
		local = append(local, verb+":"+l.From+">"+l.Entry.Path)
	}
	add("local", local)
	for _, b := range p.Batches {
		add("send", paths(b))
	}
	add("link", paths(p.Links))
	add("meta", paths(p.Meta))
	add("delete", p.Deletes)
	add("keep", p.Kept)
	add("conflict", p.Conflicts)
	return out
}

func TestPlanFileSync_DirectoryCopy(t *testing.T) {
	touched := file("a.txt", "hello")
	touched.MTime = 2
	chmodded := dir("d")
	chmodded.Mode = 0o700
	tests := []struct {
		name         string
		src, copy    schemas.FileManifest
		allowDeletes bool
		want         []string
	}{
		{"empty copy gets everything",
			manifest(dir("d"), file("d/x", "x"), file("a.txt", "hello"), link("l", "a.txt")),
			manifest(),
			false,
			[]string{"mkdir d", "send a.txt,d/x", "link l"}},
		{"up to date does nothing",
			manifest(dir("d"), file("d/x", "x")),
			manifest(dir("d"), file("d/x", "x")),
			false,
			nil},
		{"new and changed files are sent",
			manifest(file("a.txt", "hello2"), file("new.txt", "n")),
			manifest(file("a.txt", "hello")),
			false,
			[]string{"send a.txt,new.txt"}},
		{"only the time or mode changed",
			manifest(touched, chmodded),
			manifest(file("a.txt", "hello"), dir("d")),
			false,
			[]string{"meta a.txt,d"}},
		{"deleted files go when deletes are allowed, children first",
			manifest(file("a.txt", "hello")),
			manifest(file("a.txt", "hello"), dir("old"), file("old/x", "x"), file("z", "z")),
			true,
			[]string{"delete z,old/x,old"}},
		{"deleted files are kept otherwise",
			manifest(file("a.txt", "hello")),
			manifest(file("a.txt", "hello"), file("z", "z")),
			false,
			[]string{"keep z"}},
		{"a renamed file moves at the copy when the old name goes",
			manifest(file("new-name", "big")),
			manifest(file("old-name", "big")),
			true,
			[]string{"local move:old-name>new-name", "delete old-name"}},
		{"a renamed file is copied at the copy when the old name stays",
			manifest(file("new-name", "big")),
			manifest(file("old-name", "big")),
			false,
			[]string{"local copy:old-name>new-name", "keep old-name"}},
		{"a duplicated file is copied at the copy",
			manifest(file("a", "same"), file("b", "same")),
			manifest(file("a", "same")),
			false,
			[]string{"local copy:a>b"}},
		{"two renamed to the same old name: one move would take it from the other",
			manifest(file("b", "same"), file("c", "same")),
			manifest(file("a", "same")),
			true,
			[]string{"local copy:a>b,copy:a>c", "delete a"}},
		{"swapped files are sent: neither holds its content once the other is written",
			manifest(file("a", "B"), file("b", "A")),
			manifest(file("a", "A"), file("b", "B")),
			true,
			[]string{"send a,b"}},
		{"a damaged copy file is sent again",
			manifest(file("a", "good")),
			manifest(file("a", "rotten")),
			false,
			[]string{"send a"}},
		{"a directory where the source has a file is removed when deletes are allowed",
			manifest(file("x", "now a file"), file("y", "y")),
			manifest(dir("x"), file("x/inner", "zzz"), file("z", "y")),
			true,
			[]string{"remove x", "local move:z>y", "send x", "delete z"}},
		{"the content under a removed directory is not a source to copy from",
			manifest(file("x", "now a file"), file("y", "inner")),
			manifest(dir("x"), file("x/inner", "inner")),
			true,
			[]string{"remove x", "send x,y"}},
		{"a type conflict is left alone when deletes are not allowed",
			manifest(dir("x"), file("x/f", "f"), file("ok", "ok")),
			manifest(file("x", "old file")),
			false,
			[]string{"send ok", "conflict x"}},
		{"a link replaces a file, and a link that points elsewhere is repointed",
			manifest(link("a", "target"), link("b", "new")),
			manifest(file("a", "was a file"), link("b", "old")),
			false,
			[]string{"link a,b"}},
		{"a file the scan could not hash is left as the copy has it",
			manifest(schemas.FileEntry{Path: "busy", Type: schemas.EntryFile, Size: 9}),
			manifest(file("busy", "old")),
			true,
			nil},
		{"a path becoming a link is not a source to copy from",
			manifest(link("a", "t"), file("b", "content of a")),
			manifest(file("a", "content of a")),
			false,
			[]string{"send b", "link a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := planText(PlanFileSync(tc.src, tc.copy, schemas.PlanOptions{AllowDeletes: tc.allowDeletes}))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("plan:\ngot:  %q\nwant: %q", got, tc.want)
			}
		})
	}
}

func TestPlanFileSync_StoreCopySendsEachMissingContentOnce(t *testing.T) {
	tests := []struct {
		name         string
		src, copy    schemas.FileManifest
		allowDeletes bool
		want         []string
	}{
		{"identical contents go once",
			manifest(file("a", "same"), file("b", "same"), file("c", "other")),
			manifest(),
			false,
			[]string{"local copy:>b", "send a,c"}},
		{"a renamed file sends nothing",
			manifest(file("new", "big")),
			withObjects(manifest(file("old", "big")), "big"),
			true,
			[]string{"local copy:>new", "delete old"}},
		{"a content whose object is gone is sent again",
			manifest(file("a", "lost")),
			manifest(file("a", "lost")),
			false,
			[]string{"send a"}},
		{"an object left by an interrupted sync is used",
			manifest(file("a", "orphan")),
			withObjects(manifest(), "orphan"),
			false,
			[]string{"local copy:>a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := planText(PlanFileSync(tc.src, tc.copy, schemas.PlanOptions{AllowDeletes: tc.allowDeletes, Store: true}))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("plan:\ngot:  %q\nwant: %q", got, tc.want)
			}
		})
	}
}

func withObjects(m schemas.FileManifest, sums ...string) schemas.FileManifest {
	for _, s := range sums {
		m.Objects = append(m.Objects, schemas.StoredObject{SHA256: s, Size: 1})
	}
	return m
}

func TestPlanFileSync_BatchesBoundFilesAndBytes(t *testing.T) {
	big := file("b-big", strings.Repeat("x", 100))
	src := manifest(file("a1", "1"), file("a2", "22"), file("a3", "333"), big, file("c1", "4444"), file("c2", "55555"))
	tests := []struct {
		name  string
		files int
		bytes int64
		want  []string
	}{
		{"by count", 2, 1 << 20, []string{"send a1,a2", "send a3,b-big", "send c1,c2"}},
		{"by bytes, a large file alone", 10, 10, []string{"send a1,a2,a3", "send b-big", "send c1,c2"}},
		{"defaults hold it all", 0, 0, []string{"send a1,a2,a3,b-big,c1,c2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := planText(PlanFileSync(src, manifest(), schemas.PlanOptions{BatchFiles: tc.files, BatchBytes: tc.bytes}))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCopyAfterSync_RecordsWhatTheCopyHolds(t *testing.T) {
	written := file("new", "n")
	written.Ino, written.CTime = 7, 70
	unchanged := file("same", "s")
	unchanged.Ino, unchanged.CTime = 3, 30
	conflicting := file("x", "copy's own")
	changing := file("busy", "old content")
	src := manifest(file("new", "n"), file("same", "s"), dir("x"), file("x/y", "y"), file("busy", "new content"), file("never", "v"),
		schemas.FileEntry{Path: "unhashed", Type: schemas.EntryFile})
	unhashed := file("unhashed", "what the copy had")
	copy := manifest(unchanged, conflicting, file("gone", "g"), changing, unhashed)
	p := PlanFileSync(src, copy, schemas.PlanOptions{})
	got := CopyAfterSync(src, copy, p, map[string]schemas.FileEntry{"new": written}, []string{"busy"})
	// "never" was planned but not done (its batch was not applied), so the
	// copy is not said to hold it.
	want := []schemas.FileEntry{changing, file("gone", "g"), written, unchanged, unhashed, conflicting}
	if !reflect.DeepEqual(got.Entries, want) {
		t.Errorf("entries:\ngot:  %+v\nwant: %+v", got.Entries, want)
	}
	if got.Cluster != "dev" || got.Tree != "t" || got.FormatVersion != schemas.FileManifestFormatVersion {
		t.Errorf("header %+v", got)
	}
}
