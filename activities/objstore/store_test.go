package objstore_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/activities/objstore/storetest"
)

func TestLocal_PassesStoreSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) objstore.Store { return objstore.NewLocal(t.TempDir()) })
}

func TestLocal_KeysAreFilesUnderDir(t *testing.T) {
	dir := t.TempDir()
	s := objstore.NewLocal(dir)
	if err := s.Put(t.Context(), "base/1/data", bytes.NewReader([]byte("x")), 1); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "base", "1", "data"))
	if err != nil || string(got) != "x" {
		t.Errorf("file = %q, %v; want %q", got, err, "x")
	}
	if want := "file://" + dir; s.String() != want {
		t.Errorf("String = %q, want %q", s.String(), want)
	}
}

func TestLocal_SymlinkCannotEscapeDir(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	s := objstore.NewLocal(dir)
	if err := s.Put(t.Context(), "out/planted", bytes.NewReader([]byte("p")), 1); err == nil {
		t.Error("Put through a symlink out of the store succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file written outside the store: %v", err)
	}
	if r, err := s.Get(t.Context(), "out/secret"); err == nil {
		r.Close()
		t.Error("Get through a symlink out of the store succeeded")
	}
}

func TestLocal_PingNamesMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "absent")
	err := objstore.NewLocal(dir).Ping(t.Context())
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(dir)) {
		t.Errorf("Ping = %v, want an error naming %s", err, dir)
	}
}

func BenchmarkLocalPut(b *testing.B) {
	s := objstore.NewLocal(b.TempDir())
	data := bytes.Repeat([]byte("lifeboat"), 128<<10) // 1 MiB
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := s.Put(b.Context(), "bench/object", bytes.NewReader(data), int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
}

// TestS3_PassesStoreSuiteOnFake runs the shared suite on the S3 code over an
// in-memory bucket; integration/objstore_test.go runs it on a real server.
func TestS3_PassesStoreSuiteOnFake(t *testing.T) {
	storetest.Run(t, func(t *testing.T) objstore.Store { return objstore.NewFakeS3Store("suite") })
}
