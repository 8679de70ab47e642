package schemas

import (
	"strings"
	"testing"
	"time"
)

func TestCheckWALName_AcceptsWhatPostgresArchives(t *testing.T) {
	for _, name := range []string{
		"000000010000000000000001",
		"00000002.history",
		"000000010000000000000003.partial",
		"000000010000000000000002.00000028.backup",
	} {
		if err := CheckWALName(name); err != nil {
			t.Errorf("CheckWALName(%q) = %v, want nil", name, err)
		}
	}
}

func TestCheckWALName_RefusesPathsAndNoise(t *testing.T) {
	for _, name := range []string{
		"", "../000000010000000000000001", "pg_wal/000000010000000000000001",
		"00000001000000000000000", "0000000100000000000000010", "00000001000000000000000g",
		"000000010000000000000001.history", "RECOVERYHISTORY", "00000002.history/..",
	} {
		if err := CheckWALName(name); err == nil {
			t.Errorf("CheckWALName(%q) = nil, want an error", name)
		}
	}
}

func FuzzCheckWALName(f *testing.F) {
	for _, s := range []string{"000000010000000000000001", "00000002.history", "../x", "a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if CheckWALName(name) != nil {
			return
		}
		if strings.ContainsAny(name, "/\\") || strings.Contains(name, "..") || len(name) < 14 {
			t.Fatalf("accepted %q, which could escape the WAL prefix", name)
		}
		if key := WALKey("c", name); !strings.HasPrefix(key, "c/wal/") || strings.Count(key, "/") != 2 {
			t.Fatalf("WALKey(%q) = %q escapes its prefix", name, key)
		}
	})
}

func TestNewBackupID_SortsByTime(t *testing.T) {
	a := NewBackupID(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), BackupDatabase)
	b := NewBackupID(time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC), BackupDatabase)
	if a != "20260102T030405Z-database" || a >= b {
		t.Errorf("ids %q, %q: want the first to be 20260102T030405Z-database and to sort first", a, b)
	}
}

func TestUniqueBackupID_DiffersByRunAndMatchesThePattern(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// Two runs started together share the timestamp head of their UUIDv7.
	a := UniqueBackupID(start, BackupDatabase, "01a225dc-cfde-7deb-9e63-b1b440f2477e")
	b := UniqueBackupID(start, BackupDatabase, "01a225dc-d009-761f-9e4b-0b1b04917849")
	if a != "20260102T030405Z-database-f2477e" || a == b {
		t.Errorf("ids %q, %q: want 20260102T030405Z-database-f2477e and a different second one", a, b)
	}
	for _, id := range []string{a, b, NewBackupID(start, BackupFiles), UniqueBackupID(start, BackupConfig, "")} {
		if !BackupIDPattern.MatchString(id) {
			t.Errorf("%q does not match BackupIDPattern", id)
		}
	}
}
