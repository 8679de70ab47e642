package schemas

import (
	"strings"
	"testing"
)

func TestFileEntry_SameStatNeedsAChangeTime(t *testing.T) {
	a := FileEntry{Type: EntryFile, Size: 1, MTime: 2, Ino: 3, CTime: 4}
	tests := []struct {
		name string
		b    FileEntry
		want bool
	}{
		{"identical", a, true},
		{"rewritten with the time set back", FileEntry{Type: EntryFile, Size: 1, MTime: 2, Ino: 3, CTime: 5}, false},
		{"replaced by another inode", FileEntry{Type: EntryFile, Size: 1, MTime: 2, Ino: 9, CTime: 4}, false},
		{"resized", FileEntry{Type: EntryFile, Size: 2, MTime: 2, Ino: 3, CTime: 4}, false},
	}
	for _, tc := range tests {
		if got := a.SameStat(tc.b); got != tc.want {
			t.Errorf("%s: SameStat = %v, want %v", tc.name, got, tc.want)
		}
	}
	if (FileEntry{Type: EntryFile}).SameStat(FileEntry{Type: EntryFile}) {
		t.Error("entries without a change time (another host's) must never match")
	}
}

func TestFileObjectSum_ReadsTheKeyBack(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	key := FileObjectKey("dev", "t", sum)
	if got := FileObjectSum("dev", "t", key); got != sum {
		t.Errorf("FileObjectSum(%s) = %q, want %q", key, got, sum)
	}
	for _, bad := range []string{"dev/filesync/t/objects/ab/short.zst.age", "other/" + key, "dev/filesync/t/copy.manifest.zst"} {
		if got := FileObjectSum("dev", "t", bad); got != "" {
			t.Errorf("FileObjectSum(%s) = %q, want nothing", bad, got)
		}
	}
}
