package activities

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSpoolRestoreCommand_OnlyOverACompleteSpool(t *testing.T) {
	dataDir := t.TempDir()
	if got := spoolRestoreCommand(dataDir); got != "" {
		t.Fatalf("no spool: %q, want wal-fetch (\"\")", got)
	}
	spool := filepath.Join(dataDir, walSpoolName)
	if err := os.Mkdir(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	if got := spoolRestoreCommand(dataDir); got != "" {
		t.Fatalf("a spool not marked complete: %q, want wal-fetch (\"\")", got)
	}
	if err := os.WriteFile(filepath.Join(spool, walSpoolComplete), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	want := "test -f '" + spool + "/%f' && cp '" + spool + "/%f' '%p'"
	if got := spoolRestoreCommand(dataDir); got != want {
		t.Fatalf("complete spool: %q, want %q", got, want)
	}

	quoted := filepath.Join(t.TempDir(), "it's")
	if err := os.MkdirAll(filepath.Join(quoted, walSpoolName), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(quoted, walSpoolName, walSpoolComplete), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := spoolRestoreCommand(quoted); got != "" || strings.Contains(got, "it's") {
		t.Fatalf("a path with a quote: %q, want wal-fetch (\"\")", got)
	}
}
