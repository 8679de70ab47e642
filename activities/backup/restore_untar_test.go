package backup

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// A file whose directory the tar does not list first still lands, in a
// directory made private (as PostgreSQL wants its data directory); a
// listed directory keeps its own mode.
func TestUntar_MakesTheDirectoriesAFileNeeds(t *testing.T) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	add := func(h *tar.Header, body string) {
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	add(&tar.Header{Name: "global/", Typeflag: tar.TypeDir, Mode: 0o750}, "")
	add(&tar.Header{Name: "global/pg_control", Typeflag: tar.TypeReg, Mode: 0o600}, "control")
	add(&tar.Header{Name: "base/1/1259", Typeflag: tar.TypeReg, Mode: 0o600}, "a relation")
	add(&tar.Header{Name: "PG_VERSION", Typeflag: tar.TypeReg, Mode: 0o600}, "15\n")
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	res, err := untar(&b, dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 3 || res.Bytes != int64(len("control")+len("a relation")+len("15\n")) {
		t.Errorf("untar counted %d files, %d bytes", res.Files, res.Bytes)
	}
	for name, want := range map[string]string{"global/pg_control": "control", "base/1/1259": "a relation", "PG_VERSION": "15\n"} {
		if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != want {
			t.Errorf("%s holds %q (%v), want %q", name, got, err, want)
		}
	}
	for name, want := range map[string]os.FileMode{"global": 0o750, "base": 0o700, "base/1": 0o700} {
		if info, err := os.Stat(filepath.Join(dir, name)); err != nil || info.Mode().Perm() != want {
			t.Errorf("%s: %v (%v), want mode %v", name, info.Mode().Perm(), err, want)
		}
	}
}
