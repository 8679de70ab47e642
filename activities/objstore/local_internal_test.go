package objstore

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLocal_CrashLeftoversAreHiddenAndSwept plays the temporary file a crash
// in the middle of a Put leaves.
func TestLocal_CrashLeftoversAreHiddenAndSwept(t *testing.T) {
	dir := t.TempDir()
	s := NewLocal(dir)
	if err := os.MkdirAll(filepath.Join(dir, "wal"), 0o750); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "wal", tmpPrefix+"crashed")
	if err := os.WriteFile(tmp, []byte("part of a segment"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(tmp, old, old); err != nil {
		t.Fatal(err)
	}
	objs, err := s.List(t.Context(), "")
	if err != nil || len(objs) != 0 {
		t.Errorf("List = %v, %v; want nothing", objs, err)
	}
	if n, err := s.PendingUploads(t.Context()); n != 1 || err != nil {
		t.Errorf("PendingUploads = %d, %v; want 1", n, err)
	}
	if n, err := s.Sweep(t.Context(), 3*time.Hour); n != 0 || err != nil {
		t.Errorf("Sweep(3h) = %d, %v; want 0: the file is younger", n, err)
	}
	if n, err := s.Sweep(t.Context(), time.Hour); n != 1 || err != nil {
		t.Errorf("Sweep(1h) = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("leftover still there: %v", err)
	}
}

func TestCheckKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"a", true},
		{"a/b/c.tar.zst.age", true},
		{"a/..b/c..", true},
		{".hidden", true},
		{"", false},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{"..", false},
		{"a/../b", false},
		{"./a", false},
		{"a\\b", false},
		{"a\x00", false},
		{"wal/" + tmpPrefix + "x", false},
		{tmpPrefix + "dir/x", true},
	} {
		if got := checkKey(tc.key) == nil; got != tc.want {
			t.Errorf("checkKey(%q) ok = %v, want %v", tc.key, got, tc.want)
		}
	}
	for _, p := range []string{"", "a", "a/", "a/b", "a/.hid"} {
		if err := checkPrefix(p); err != nil {
			t.Errorf("checkPrefix(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{"/a", "../a", "a/../", "a/./b"} {
		if err := checkPrefix(p); err == nil {
			t.Errorf("checkPrefix(%q) = nil, want an error", p)
		}
	}
}

// TestLocal_SweepKeyRemovesOnlyThatKeysLeftovers plays a crashed Put of one
// key beside a running Put of another.
func TestLocal_SweepKeyRemovesOnlyThatKeysLeftovers(t *testing.T) {
	dir := t.TempDir()
	s := NewLocal(dir)
	if err := os.MkdirAll(filepath.Join(dir, "b", "1"), 0o750); err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(dir, "b", "1", tmpName(rand.Text(), "b/1/data"))
	other := filepath.Join(dir, "b", "1", tmpName(rand.Text(), "b/1/data-x"))
	another := filepath.Join(dir, "b", "1", tmpName(rand.Text(), "b/1/x-data"))
	for _, p := range []string{crashed, other, another} {
		if err := os.WriteFile(p, []byte("part"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.SweepKey(t.Context(), "b/1/data"); n != 1 || err != nil {
		t.Fatalf("SweepKey = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(crashed); !os.IsNotExist(err) {
		t.Error("the crashed Put's file is still there")
	}
	for _, p := range []string{other, another} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("another key's file went: %v", err)
		}
	}
	if n, err := s.SweepKey(t.Context(), "nothing/here"); n != 0 || err != nil {
		t.Errorf("SweepKey of a key with no directory = %d, %v", n, err)
	}
}
