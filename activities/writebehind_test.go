package activities

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteBehind_WritesEveryFileWhole(t *testing.T) {
	dir := t.TempDir()
	w := newWriteBehind(2, 7) // chunks smaller than the files: many in flight
	want := map[string]string{}
	for i, size := range []int{0, 1, 7, 8, 100, 1000} {
		name := filepath.Join(dir, string(rune('a'+i)))
		data := strings.Repeat(string(rune('A'+i)), size)
		want[name] = data
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		n, err := w.copy(f, name, strings.NewReader(data))
		if err != nil || n != int64(size) {
			t.Fatalf("copy %s: %d bytes, %v; want %d", name, n, err, size)
		}
	}
	if err := w.wait(); err != nil {
		t.Fatal(err)
	}
	for name, data := range want {
		got, err := os.ReadFile(name)
		if err != nil || string(got) != data {
			t.Errorf("%s holds %d bytes (%v), want %d", name, len(got), err, len(data))
		}
	}
}

func TestWriteBehind_AFailedWriteIsReported(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "x")
	if err := os.WriteFile(name, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ro, err := os.Open(name) // writes to it fail
	if err != nil {
		t.Fatal(err)
	}
	w := newWriteBehind(2, 4)
	_, cerr := w.copy(ro, "x", bytes.NewReader(make([]byte, 64)))
	err = w.wait()
	if err == nil || !strings.Contains(err.Error(), "write x") {
		t.Fatalf("wait = %v (copy %v), want the failed write of x", err, cerr)
	}
}

func TestWriteBehind_AReadErrorIsPassedOn(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "y"))
	if err != nil {
		t.Fatal(err)
	}
	w := newWriteBehind(2, 4)
	_, err = w.copy(f, "y", io.MultiReader(strings.NewReader("abcdef"), errReader{io.ErrUnexpectedEOF}))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("copy = %v, want the reader's io.ErrUnexpectedEOF", err)
	}
	if err := w.wait(); err != nil {
		t.Fatal(err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
