package fstree

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestWriteBehind_WritesEveryFileWhole(t *testing.T) {
	dir := t.TempDir()
	root := openRoot(t, dir)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	w := NewWriteBehind(root, 3, 2, 7) // chunks smaller than the files: many in flight
	want := map[string]string{}
	for i, size := range []int{0, 1, 7, 8, 100, 1000, 3, 9} {
		name := string(rune('a' + i))
		if i%2 == 1 {
			name = "sub/" + name
		}
		data := strings.Repeat(string(rune('A'+i)), size)
		want[filepath.Join(dir, name)] = data
		n, err := w.Create(name, 0o640, strings.NewReader(data))
		if err != nil || n != int64(size) {
			t.Fatalf("copy %s: %d bytes, %v; want %d", name, n, err, size)
		}
	}
	if err := w.Wait(); err != nil {
		t.Fatal(err)
	}
	for name, data := range want {
		got, err := os.ReadFile(name)
		if err != nil || string(got) != data {
			t.Errorf("%s holds %d bytes (%v), want %d", name, len(got), err, len(data))
		}
	}
}

func TestWriteBehind_AFailedCreateIsReported(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w := NewWriteBehind(openRoot(t, dir), 2, 2, 4)
	_, cerr := w.Create("x", 0o600, bytes.NewReader(make([]byte, 64))) // x exists: never written over
	err := w.Wait()
	if err == nil || !strings.Contains(err.Error(), "create x") {
		t.Fatalf("wait = %v (create %v), want the failed create of x", err, cerr)
	}
}

func TestWriteBehind_AReadErrorIsPassedOn(t *testing.T) {
	w := NewWriteBehind(openRoot(t, t.TempDir()), 2, 2, 4)
	_, err := w.Create("y", 0o600, io.MultiReader(strings.NewReader("abcdef"), errReader{io.ErrUnexpectedEOF}))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("copy = %v, want the reader's io.ErrUnexpectedEOF", err)
	}
	if err := w.Wait(); err != nil {
		t.Fatal(err)
	}
}

func openRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestWriteBehind_ThenRunsOnTheClosedFileAndReplaceStartsOver(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "left"), []byte("an earlier attempt's"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := NewWriteBehind(openRoot(t, dir), 2, 2, 3)
	w.Replace = true
	seen := make(chan string, 2)
	for _, name := range []string{"left", "new/dir/file"} {
		f := w.Start(name, 0o600)
		if _, err := f.ReadFrom(strings.NewReader("content of " + name)); err != nil {
			t.Fatal(err)
		}
		f.End(func() error {
			// The writer has closed the file, written whole.
			got, err := os.ReadFile(filepath.Join(dir, name))
			seen <- string(got)
			return err
		})
	}
	failed := w.Start("last", 0o600)
	if _, err := failed.ReadFrom(strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	failed.End(func() error { return errors.New("cannot place last") })
	if err := w.Wait(); err == nil || err.Error() != "cannot place last" {
		t.Fatalf("wait = %v, want the error of the last file's then", err)
	}
	close(seen)
	var got []string
	for s := range seen {
		got = append(got, s)
	}
	slices.Sort(got) // the two writers run side by side
	if len(got) != 2 || got[0] != "content of left" || got[1] != "content of new/dir/file" {
		t.Errorf("then saw %q; want each file whole, the one left by an earlier attempt replaced, the missing directory made", got)
	}
}

// A file handed over whole before another failed is still written and its
// step after still runs: a file sync's retry finds it in place.
func TestWriteBehind_AnotherFilesFailureDoesNotUndoAFileHandedOverWhole(t *testing.T) {
	for range 20 { // the writers race: try both orders a few times
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "bad"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		w := NewWriteBehind(openRoot(t, dir), 2, 4, 4)
		placed := false
		good := w.Start("good", 0o600)
		if _, err := good.ReadFrom(strings.NewReader("written whole")); err != nil {
			t.Fatal(err)
		}
		good.End(func() error { placed = true; return nil })
		_, _ = w.Create("bad", 0o600, strings.NewReader("x")) // bad exists: its create fails
		if err := w.Wait(); err == nil || !strings.Contains(err.Error(), "create bad") {
			t.Fatalf("wait = %v, want the failed create of bad", err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "good"))
		if !placed || err != nil || string(got) != "written whole" {
			t.Fatalf("good: step after ran %v, holds %q (%v); want it written whole and its step run", placed, got, err)
		}
	}
}

// Files in more directories than maxOpenDirs are all written, and no more
// than maxOpenDirs directories are open at the end: the least recently
// used are closed, and opened again when a file needs one.
func TestWriteBehind_KeepsAtMostMaxOpenDirsOpen(t *testing.T) {
	dir := t.TempDir()
	w := NewWriteBehind(openRoot(t, dir), 3, 4, 16)
	n := 2*maxOpenDirs + 10
	name := func(i int) string { return fmt.Sprintf("d%04d/f", i%n) }
	for i := range n + 20 { // the last 20 go back to directories closed since
		f := w.Start(name(i)+fmt.Sprint(i), 0o600)
		if _, err := f.ReadFrom(strings.NewReader(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		f.End(func() error {
			return w.In(name(i)+"-placed", func(d *os.Root, base string) error {
				return d.Rename(path.Base(name(i)+fmt.Sprint(i)), base+fmt.Sprint(i))
			})
		})
	}
	if err := w.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := len(w.dirs); got > maxOpenDirs {
		t.Errorf("%d directories were open at the end, want at most %d", got, maxOpenDirs)
	}
	for i := range n + 20 {
		p := filepath.Join(dir, filepath.FromSlash(name(i)+"-placed"+fmt.Sprint(i)))
		if got, err := os.ReadFile(p); err != nil || string(got) != fmt.Sprint(i) {
			t.Errorf("%s holds %q (%v), want %q", p, got, err, fmt.Sprint(i))
		}
	}
}
