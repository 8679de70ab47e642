package treediff

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDiff_NamesWhatDiffers(t *testing.T) {
	when := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	a, b := t.TempDir(), t.TempDir()
	for _, root := range []string{a, b} {
		WriteFile(t, root, "same/x", []byte("x"), 0o644, when)
		WriteFile(t, root, "mode", []byte("m"), 0o644, when)
		WriteFile(t, root, "content", []byte("c"), 0o644, when)
	}
	for _, root := range []string{a, b} {
		if err := os.Chtimes(filepath.Join(root, "same"), when, when); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(b, "mode"), 0o600); err != nil {
		t.Fatal(err)
	}
	WriteFile(t, b, "content", []byte("C"), 0o644, when)
	WriteFile(t, a, "only-in-a", nil, 0o644, when)
	if err := os.Symlink("same/x", filepath.Join(b, "only-in-b")); err != nil {
		t.Fatal(err)
	}
	da, err := Describe(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := Describe(b)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, d := range Diff(da, db) {
		paths = append(paths, d[:strings.Index(d, ":")])
	}
	if want := []string{"content", "mode", "only-in-a", "only-in-b"}; !slices.Equal(paths, want) {
		t.Errorf("differences at %v, want %v:\n%v", paths, want, Diff(da, db))
	}
	if d := Diff(da, da); d != nil {
		t.Errorf("a tree differs from itself: %v", d)
	}
}
