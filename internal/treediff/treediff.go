// Package treediff describes a directory tree entry by entry, so that two
// trees (a file sync's source and copy) can be compared: the tests of file
// sync and make bench-filesync use it.
package treediff

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Describe returns one line per entry below root, by relative path: the
// type and permission bits of every entry, the modification time of every
// directory and regular file, the SHA-256 of every regular file and the
// target of every link.
func Describe(root string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			out[rel] = fmt.Sprintf("dir %o %s", info.Mode().Perm(), info.ModTime().UTC().Format(time.RFC3339Nano))
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link " + target
		case d.Type().IsRegular():
			sum, err := hashFile(p)
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("file %o %s %s", info.Mode().Perm(), info.ModTime().UTC().Format(time.RFC3339Nano), sum)
		default:
			out[rel] = info.Mode().Type().String()
		}
		return nil
	})
	return out, err
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Diff lists how copy differs from want, one line per path, sorted.
func Diff(want, copy map[string]string) []string {
	var out []string
	for k, v := range want {
		if copy[k] != v {
			out = append(out, fmt.Sprintf("%s: %q, want %q", k, copy[k], v))
		}
	}
	for k, v := range copy {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("%s: %q, which the source does not have", k, v))
		}
	}
	slices.Sort(out)
	return out
}

// RequireSame fails tb with every difference between the trees at src
// and copy.
func RequireSame(tb testing.TB, src, copy string) {
	tb.Helper()
	want, err := Describe(src)
	if err != nil {
		tb.Fatal(err)
	}
	got, err := Describe(copy)
	if err != nil {
		tb.Fatal(err)
	}
	for _, d := range Diff(want, got) {
		tb.Errorf("copy %s", d)
	}
}

// WriteFile writes a file below root, making its directories, with mode
// (whatever the umask) and modification time when.
func WriteFile(tb testing.TB, root, name string, body []byte, mode os.FileMode, when time.Time) {
	tb.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, body, mode); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chtimes(p, when, when); err != nil {
		tb.Fatal(err)
	}
}
