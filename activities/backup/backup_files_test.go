package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"go.temporal.io/sdk/testsuite"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/fstree"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/activities/pipeline"
	"github.com/runnerhub/lifeboat/schemas"
)

// filesBackup is a Backup whose store is a local directory and whose
// topology names the given trees in region-a.
func filesBackup(t *testing.T, trees ...schemas.FileTree) (*Backup, *objstore.Local, *age.X25519Identity) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	topo := &schemas.Topology{
		Cluster: "dev",
		Regions: []schemas.Region{{Name: "region-a"}, {Name: "region-b"}},
		Files:   trees,
		Backup:  schemas.Backup{Recipients: []string{id.Recipient().String()}},
	}
	store := objstore.NewLocal(t.TempDir())
	return &Backup{Topology: topo, Clients: &activities.Clients{Topology: topo, StoreOverride: store}, HeartbeatEvery: 10 * time.Millisecond}, store, id
}

// entry is what a test expects of one tar entry.
type entry struct {
	typ   byte
	mode  os.FileMode
	mtime time.Time
	body  string // content of a file, target of a link
}

func TestBackupFiles_RoundTripsTreesWithModesTimesAndLinks(t *testing.T) {
	dir := t.TempDir()
	mtime := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)
	uploads := filepath.Join(dir, "uploads")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(uploads, "2026/11"), 0o750))
	must(os.Mkdir(filepath.Join(uploads, "empty"), 0o700))
	must(os.WriteFile(filepath.Join(uploads, "2026/11/a.txt"), []byte("hello"), 0o640))
	must(os.WriteFile(filepath.Join(uploads, "run.sh"), bytes.Repeat([]byte("#!/bin/sh\n"), 5000), 0o755))
	must(os.Symlink("2026/11/a.txt", filepath.Join(uploads, "latest")))
	must(os.Symlink("/etc/passwd", filepath.Join(uploads, "outside"))) // stored as a link, never followed
	must(syscall.Mkfifo(filepath.Join(uploads, "pipe"), 0o600))
	for _, p := range []string{"2026/11/a.txt", "run.sh", "2026/11", "2026", "empty"} {
		must(os.Chtimes(filepath.Join(uploads, p), mtime, mtime))
	}
	media := filepath.Join(dir, "media")
	must(os.Mkdir(media, 0o755))
	must(os.WriteFile(filepath.Join(media, "b.bin"), []byte{0, 1, 2}, 0o600))

	b, store, identity := filesBackup(t,
		schemas.FileTree{Name: "uploads", Region: "region-a", Path: uploads},
		schemas.FileTree{Name: "media", Region: "region-a", Path: media},
		schemas.FileTree{Name: "elsewhere", Region: "region-b", Path: "/nonexistent"})
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(b)
	val, err := env.ExecuteActivity(b.BackupFiles, schemas.BackupFilesInput{Cluster: "dev", ID: "20261129T050000Z-files", Region: "region-a"})
	if err != nil {
		t.Fatal(err)
	}
	var res schemas.BackupFilesResult
	must(val.Get(&res))
	m := res.Manifest
	wantKey := "dev/backups/20261129T050000Z-files/files-region-a.tar.zst.age"
	if m.Object != wantKey || len(m.Parts) != 1 || m.Parts[0].Key != wantKey || m.Source != "uploads,media" {
		t.Fatalf("manifest %+v: want one part at %s holding uploads,media", m, wantKey)
	}
	if len(res.Skipped) != 1 || !strings.HasPrefix(res.Skipped[0], "uploads/pipe:") {
		t.Errorf("skipped %v, want the named pipe reported", res.Skipped)
	}

	want := map[string]entry{
		"uploads/":              {tar.TypeDir, 0o755, time.Time{}, ""},
		"uploads/2026/":         {tar.TypeDir, 0o750, mtime, ""},
		"uploads/2026/11/":      {tar.TypeDir, 0o750, mtime, ""},
		"uploads/2026/11/a.txt": {tar.TypeReg, 0o640, mtime, "hello"},
		"uploads/empty/":        {tar.TypeDir, 0o700, mtime, ""},
		"uploads/latest":        {tar.TypeSymlink, 0, time.Time{}, "2026/11/a.txt"},
		"uploads/outside":       {tar.TypeSymlink, 0, time.Time{}, "/etc/passwd"},
		"uploads/run.sh":        {tar.TypeReg, 0o755, mtime, strings.Repeat("#!/bin/sh\n", 5000)},
		"media/":                {tar.TypeDir, 0o755, time.Time{}, ""},
		"media/b.bin":           {tar.TypeReg, 0o600, time.Time{}, "\x00\x01\x02"},
	}
	// The tree roots' modes depend on the umask and their times on when
	// they were made: only what the test set is compared.
	if fi, err := os.Stat(uploads); err == nil {
		want["uploads/"] = entry{tar.TypeDir, fi.Mode().Perm(), time.Time{}, ""}
	}

	obj, err := store.Get(context.Background(), m.Object)
	must(err)
	defer obj.Close()
	plain, err := pipeline.Open(obj, []age.Identity{identity}, pipeline.Sums{
		PlainSize: m.PlainSize, PlainSHA256: m.PlainSHA256, StoredSize: m.StoredSize, StoredSHA256: m.StoredSHA256,
	})
	must(err)
	defer plain.Close()
	tr := tar.NewReader(plain)
	got := map[string]entry{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(err)
		body, err := io.ReadAll(tr)
		must(err)
		e := entry{typ: h.Typeflag, mode: os.FileMode(h.Mode).Perm(), mtime: h.ModTime.UTC(), body: string(body)}
		if h.Typeflag == tar.TypeSymlink {
			e.mode, e.body = 0, h.Linkname
		}
		got[h.Name] = e
	}
	if _, err := io.Copy(io.Discard, plain); err != nil {
		t.Fatalf("checksums: %v", err)
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s is not in the backup", name)
			continue
		}
		if !w.mtime.IsZero() && !g.mtime.Equal(w.mtime) {
			t.Errorf("%s: mtime %s, want %s", name, g.mtime, w.mtime)
		}
		g.mtime, w.mtime = time.Time{}, time.Time{}
		if g.typ != w.typ || g.mode != w.mode || g.body != w.body {
			t.Errorf("%s: got type %c mode %o body %.20q; want type %c mode %o body %.20q", name, g.typ, g.mode, g.body, w.typ, w.mode, w.body)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s is in the backup but should not be", name)
		}
	}

	// WriteManifest checks every part: a part that is missing fails it.
	written := m
	written.Parts = append(written.Parts, schemas.BackupPart{Key: "dev/backups/20261129T050000Z-files/files-region-b.tar.zst.age", Region: "region-b", StoredSize: 1})
	_, err = env.ExecuteActivity(b.WriteManifest, schemas.WriteManifestInput{Manifest: written})
	if err == nil || !strings.Contains(err.Error(), "files-region-b") {
		t.Errorf("WriteManifest with a missing part: err = %v, want one naming it", err)
	}
	if _, err := env.ExecuteActivity(b.WriteManifest, schemas.WriteManifestInput{Manifest: m}); err != nil {
		t.Errorf("WriteManifest: %v", err)
	}
}

func TestBackupFiles_RefusesARegionWithoutTrees(t *testing.T) {
	b, _, _ := filesBackup(t, schemas.FileTree{Name: "uploads", Region: "region-a", Path: t.TempDir()})
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(b)
	_, err := env.ExecuteActivity(b.BackupFiles, schemas.BackupFilesInput{Cluster: "dev", ID: "x", Region: "region-b"})
	if err == nil || !strings.Contains(err.Error(), "holds no file tree") {
		t.Fatalf("err = %v, want one saying region-b holds no tree", err)
	}
}

// changer is the tar stream's destination; once the copy is under way it
// changes the file being read, as a writer on the host would.
type changer struct {
	once   sync.Once
	n      int
	change func()
}

func (c *changer) Write(p []byte) (int, error) {
	c.n += len(p)
	if c.n > 8192 {
		c.once.Do(c.change)
	}
	return len(p), nil
}

func TestWriteTrees_ReportsAFileThatChangesWhileRead(t *testing.T) {
	tests := []struct {
		name   string
		change func(path string) error
		want   string
	}{
		{"grows", func(p string) error {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteString("more")
			return err
		}, "grew"},
		{"shrinks", func(p string) error { return os.Truncate(p, 100) }, "could be read"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "busy.log")
			if err := os.WriteFile(path, bytes.Repeat([]byte("x"), 1<<20), 0o644); err != nil {
				t.Fatal(err)
			}
			var changeErr error
			w := &changer{change: func() { changeErr = tc.change(path) }}
			_, err := writeTrees(context.Background(), w, []schemas.FileTree{{Name: "logs", Region: "region-a", Path: dir}})
			if changeErr != nil {
				t.Fatal(changeErr)
			}
			var fc *fstree.FileChangedError
			if !errors.As(err, &fc) || fc.Path != "logs/busy.log" || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a FileChangedError naming logs/busy.log that says %q", err, tc.want)
			}
		})
	}
}

func TestMaskSetting_HidesPasswords(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"primary_conninfo", "user=replicator password=s3cret host=127.0.0.1", "user=replicator password=******** host=127.0.0.1"},
		{"primary_conninfo", "host=h password = 'a b''c' port=5", "host=h password = ******** port=5"},
		{"primary_conninfo", "postgres://rep:s3cret@host/db", "postgres://rep:********@host/db"},
		{"ssl_passphrase_command", "echo s3cret", "********"},
		{"ssl_key_passphrase", "s3cret", "********"},
		{"synchronous_standby_names", "FIRST 1 (\"pg-a2\")", "FIRST 1 (\"pg-a2\")"},
	}
	for _, tc := range tests {
		if got := maskSetting(tc.name, tc.value); got != tc.want {
			t.Errorf("maskSetting(%s, %q) = %q, want %q", tc.name, tc.value, got, tc.want)
		}
	}
}

func TestMaskRedis_HidesPasswordsKeepsTheRest(t *testing.T) {
	got := maskRedis(map[string]string{"requirepass": "s3cret", "masterauth": "s3cret", "auth-pass": "x",
		"maxmemory": "0", "masteruser": "", "tls-key-file-pass": ""})
	want := map[string]string{"requirepass": masked, "masterauth": masked, "auth-pass": masked,
		"maxmemory": "0", "masteruser": "", "tls-key-file-pass": ""}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
}
