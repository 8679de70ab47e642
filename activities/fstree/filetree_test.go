package fstree

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func TestWalkTree_ListsInOrderWithLstatInformation(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "tree")
	for _, d := range []string{"b/inner", "a", "skip/deep"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{"z.txt": "z", "b/inner/f": "ff", "a/gone": "", "a/x": "xxx", "skip/deep/hidden": "h"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "z.txt"), 0o4755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("b", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	// The tree is reached through a link: what it points to is walked.
	if err := os.Symlink(root, filepath.Join(base, "via")); err != nil {
		t.Fatal(err)
	}

	var seen []string
	vanished, err := WalkTree(context.Background(), filepath.Join(base, "via"), func(rel, path string, info fs.FileInfo) error {
		seen = append(seen, rel)
		want, err := os.Lstat(path)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		got, wantSys := info.Sys().(*syscall.Stat_t), want.Sys().(*syscall.Stat_t)
		if info.Mode() != want.Mode() || info.Size() != want.Size() || !info.ModTime().Equal(want.ModTime()) ||
			info.IsDir() != want.IsDir() || got.Ino != wantSys.Ino || got.Ctim != wantSys.Ctim {
			t.Errorf("%s: mode %v size %d time %v ino %d; os.Lstat says %v %d %v %d", rel,
				info.Mode(), info.Size(), info.ModTime(), got.Ino, want.Mode(), want.Size(), want.ModTime(), wantSys.Ino)
		}
		switch rel {
		case "a/gone":
			// x goes after its directory was listed: reported, not a failure.
			if err := os.Remove(filepath.Join(filepath.Dir(path), "x")); err != nil {
				t.Fatal(err)
			}
		case "skip":
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".", "a", "a/gone", "b", "b/inner", "b/inner/f", "link", "skip", "z.txt"}
	if !slices.Equal(seen, want) {
		t.Errorf("visited %v, want %v", seen, want)
	}
	if !slices.Equal(vanished, []string{"a/x"}) {
		t.Errorf("vanished %v, want [a/x]", vanished)
	}
}
