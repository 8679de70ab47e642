package objstore

import (
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
