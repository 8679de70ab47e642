// Package storetest is the test suite every objstore.Store must pass, so that
// the backup code can rely on one behaviour whatever holds its objects.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/activities/objstore"
)

// PendingUploader is implemented by stores that can count the uploads begun
// and neither completed nor aborted (S3 multipart uploads, temporary files);
// the suite then checks that failed Puts leave none.
type PendingUploader interface {
	PendingUploads(ctx context.Context) (int, error)
}

// PartSizer is implemented by stores that upload in parts; the suite sizes
// its large objects from it.
type PartSizer interface {
	PartSize() int64
}

// defaultPartSize sizes the large objects for stores without parts.
const defaultPartSize = 1 << 20

// Run runs the suite. newStore must return an empty store that no other test
// sees (a fresh directory or prefix) and clean it up itself.
func Run(t *testing.T, newStore func(t *testing.T) objstore.Store) {
	for _, tc := range []struct {
		name string
		test func(*testing.T, objstore.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"KeysWithOddCharacters", testOddKeys},
		{"OverwriteReplacesContent", testOverwrite},
		{"MissingIsErrNotFound", testMissing},
		{"ListByPrefixIsSorted", testList},
		{"DeleteIsIdempotent", testDelete},
		{"FailingReaderLeavesNothing", testFailingReader},
		{"CancelledContextLeavesNothing", testCancelled},
		{"SizeMismatchLeavesNothing", testSizeMismatch},
		{"ConcurrentPuts", testConcurrentPuts},
		{"InvalidKeysAreRejected", testInvalidKeys},
		{"PingAndString", testPingAndString},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newStore(t)) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func partSize(s objstore.Store) int64 {
	if p, ok := s.(PartSizer); ok {
		return p.PartSize()
	}
	return defaultPartSize
}

// content is n reproducible pseudo-random bytes.
func content(seed uint64, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}), n)
}

// stream hides every method but Read, so a store cannot learn the length.
type stream struct{ r io.Reader }

func (s stream) Read(p []byte) (int, error) { return s.r.Read(p) }

func sum(t *testing.T, r io.Reader) ([32]byte, int64) {
	t.Helper()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return [32]byte(h.Sum(nil)), n
}

func put(t *testing.T, s objstore.Store, key string, b []byte) {
	t.Helper()
	if err := s.Put(ctx(t), key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, s objstore.Store, key string) []byte {
	t.Helper()
	r, err := s.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return b
}

func keys(t *testing.T, s objstore.Store, prefix string) []string {
	t.Helper()
	objs, err := s.List(ctx(t), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	var ks []string
	for _, o := range objs {
		ks = append(ks, o.Key)
	}
	return ks
}

// wantAbsent checks that key has no object, by Get, Stat and List.
func wantAbsent(t *testing.T, s objstore.Store, key string) {
	t.Helper()
	if _, err := s.Stat(ctx(t), key); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Stat(%q) = %v, want ErrNotFound", key, err)
	}
	if r, err := s.Get(ctx(t), key); !errors.Is(err, objstore.ErrNotFound) {
		if err == nil {
			r.Close()
		}
		t.Errorf("Get(%q) = %v, want ErrNotFound", key, err)
	}
	if ks := keys(t, s, key); len(ks) != 0 {
		t.Errorf("List(%q) = %q, want nothing", key, ks)
	}
}

// wantNoPendingUploads checks that no upload is left half done.
func wantNoPendingUploads(t *testing.T, s objstore.Store) {
	t.Helper()
	p, ok := s.(PendingUploader)
	if !ok {
		return
	}
	n, err := p.PendingUploads(ctx(t))
	if err != nil {
		t.Fatalf("PendingUploads: %v", err)
	}
	if n != 0 {
		t.Errorf("PendingUploads = %d, want 0", n)
	}
}

func testRoundTrip(t *testing.T, s objstore.Store) {
	ps := partSize(s)
	for i, tc := range []struct {
		name    string
		size    int64
		unknown bool // pass -1 as the size
	}{
		{"empty", 0, false},
		{"empty stream", 0, true},
		{"small", 1000, false},
		{"small stream", 1000, true},
		{"one part", ps, false},
		{"one part stream", ps, true},
		{"3.5 parts", ps*7/2 + 1, false},
		{"3.5 parts stream", ps * 7 / 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("round/%d/object.bin", i)
			want, _ := sum(t, content(uint64(i), tc.size))
			var r io.Reader = content(uint64(i), tc.size)
			size := tc.size
			if tc.unknown {
				r, size = stream{r}, -1
			}
			before := time.Now()
			if err := s.Put(ctx(t), key, r, size); err != nil {
				t.Fatalf("Put: %v", err)
			}
			rc, err := s.Get(ctx(t), key)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			got, n := sum(t, rc)
			rc.Close()
			if n != tc.size || got != want {
				t.Errorf("Get: %d bytes, sha256 %x; want %d bytes, sha256 %x", n, got, tc.size, want)
			}
			info, err := s.Stat(ctx(t), key)
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			if info.Key != key || info.Size != tc.size {
				t.Errorf("Stat = %+v, want key %q, size %d", info, key, tc.size)
			}
			// Clocks of a server may differ a little from ours.
			if d := info.ModTime.Sub(before); d < -time.Minute || d > 10*time.Minute {
				t.Errorf("Stat ModTime %v, want about %v", info.ModTime, before)
			}
			if got := keys(t, s, key); !slices.Equal(got, []string{key}) {
				t.Errorf("List(%q) = %q, want the object", key, got)
			}
			wantNoPendingUploads(t, s)
		})
	}
}

func testOddKeys(t *testing.T, s objstore.Store) {
	for _, key := range []string{"a b/c+d=e&f?g.txt", "ünï/çødé/日本", "x/%2F%zz/#frag", ".hidden/.file", "a/b.c/..d"} {
		want := []byte("content of " + key)
		put(t, s, key, want)
		if got := get(t, s, key); !bytes.Equal(got, want) {
			t.Errorf("Get(%q) = %q, want %q", key, got, want)
		}
		if got := keys(t, s, key); !slices.Equal(got, []string{key}) {
			t.Errorf("List(%q) = %q, want the object", key, got)
		}
	}
}

func testOverwrite(t *testing.T, s objstore.Store) {
	ps := partSize(s)
	put(t, s, "k", []byte("first version, longer than the second"))
	put(t, s, "k", []byte("second"))
	if got := get(t, s, "k"); string(got) != "second" {
		t.Errorf("after overwrite Get = %q, want %q", got, "second")
	}
	// A large overwrite of a small object, and back.
	if err := s.Put(ctx(t), "k", stream{content(7, ps+1)}, -1); err != nil {
		t.Fatalf("Put large: %v", err)
	}
	if info, err := s.Stat(ctx(t), "k"); err != nil || info.Size != ps+1 {
		t.Errorf("Stat after large overwrite = %+v, %v; want size %d", info, err, ps+1)
	}
	put(t, s, "k", []byte("third"))
	if got := get(t, s, "k"); string(got) != "third" {
		t.Errorf("after overwrite Get = %q, want %q", got, "third")
	}
	if got := keys(t, s, ""); !slices.Equal(got, []string{"k"}) {
		t.Errorf("List = %q, want one object", got)
	}
}

func testMissing(t *testing.T, s objstore.Store) {
	wantAbsent(t, s, "never/written")
	// A key under an object's key, which a filesystem sees as a file's child.
	put(t, s, "file", []byte("x"))
	wantAbsent(t, s, "file/child")
	// A key that is only a prefix of other keys, which a filesystem sees as
	// a directory.
	put(t, s, "dir/object", []byte("x"))
	if _, err := s.Stat(ctx(t), "dir"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Stat(%q) = %v, want ErrNotFound", "dir", err)
	}
	if _, err := s.Get(ctx(t), "dir"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Get(%q) = %v, want ErrNotFound", "dir", err)
	}
}

func testList(t *testing.T, s objstore.Store) {
	all := []string{
		"wal/000000010000000000000002",
		"base/2/data",
		"base/1/manifest.json",
		"base/10/data",
		"base-other",
		"base/1/data",
		"wal/000000010000000000000001",
		"base/1/deep/er/file",
	}
	for i, k := range all {
		put(t, s, k, bytes.Repeat([]byte{'x'}, i))
	}
	sorted := slices.Sorted(slices.Values(all))
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", sorted},
		{"base/1/", []string{"base/1/data", "base/1/deep/er/file", "base/1/manifest.json"}},
		{"base/1", []string{"base/1/data", "base/1/deep/er/file", "base/1/manifest.json", "base/10/data"}},
		{"base", []string{"base-other", "base/1/data", "base/1/deep/er/file", "base/1/manifest.json", "base/10/data", "base/2/data"}},
		{"wal/00000001000000000000000", []string{"wal/000000010000000000000001", "wal/000000010000000000000002"}},
		{"base/1/deep/", []string{"base/1/deep/er/file"}},
		{"base/1/data", []string{"base/1/data"}},
		{"nothing/", nil},
		{"nothing", nil},
		{"base/3/", nil},
	} {
		if got := keys(t, s, tc.prefix); !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
	objs, err := s.List(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if want := int64(slices.Index(all, o.Key)); o.Size != want || o.ModTime.IsZero() {
			t.Errorf("List: %+v, want size %d and a modification time", o, want)
		}
	}
}

func testDelete(t *testing.T, s objstore.Store) {
	put(t, s, "d/one", []byte("1"))
	put(t, s, "d/two", []byte("2"))
	for range 2 {
		if err := s.Delete(ctx(t), "d/one"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	wantAbsent(t, s, "d/one")
	if err := s.Delete(ctx(t), "never/written"); err != nil {
		t.Errorf("Delete of a missing object: %v", err)
	}
	if got := keys(t, s, ""); !slices.Equal(got, []string{"d/two"}) {
		t.Errorf("List = %q, want only the other object", got)
	}
}

var errBroken = errors.New("reader broke")

// failingReader returns n bytes of content, then errBroken.
type failingReader struct {
	r io.Reader
}

func failAfter(n int64) io.Reader {
	return failingReader{io.MultiReader(content(3, n), errorReader{})}
}

func (f failingReader) Read(p []byte) (int, error) { return f.r.Read(p) }

type errorReader struct{}

func (errorReader) Read([]byte) (int, error) { return 0, errBroken }

func testFailingReader(t *testing.T, s objstore.Store) {
	ps := partSize(s)
	for _, n := range []int64{0, 100, ps - 1, ps * 3 / 2, ps * 5 / 2} {
		for _, size := range []int64{-1, ps * 4} {
			key := fmt.Sprintf("fail/%d/%d", n, size)
			err := s.Put(ctx(t), key, failAfter(n), size)
			if !errors.Is(err, errBroken) {
				t.Errorf("Put(%q) with a reader failing after %d bytes = %v, want the reader's error", key, n, err)
			}
			wantAbsent(t, s, key)
		}
	}
	// A failed overwrite keeps the previous object whole.
	put(t, s, "fail/kept", []byte("previous"))
	if err := s.Put(ctx(t), "fail/kept", failAfter(ps*3/2), -1); !errors.Is(err, errBroken) {
		t.Errorf("Put over an object with a failing reader = %v, want the reader's error", err)
	}
	if got := get(t, s, "fail/kept"); string(got) != "previous" {
		t.Errorf("after a failed overwrite Get = %q, want the previous content", got)
	}
	wantNoPendingUploads(t, s)
}

// cancellingReader cancels its context once it has returned n bytes, and
// keeps returning content, as a stream that does not watch the context.
type cancellingReader struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	m, err := c.r.Read(p)
	c.n -= int64(m)
	return m, err
}

func testCancelled(t *testing.T, s objstore.Store) {
	ps := partSize(s)
	t.Run("before", func(t *testing.T) {
		c, cancel := context.WithCancel(ctx(t))
		cancel()
		for _, size := range []int64{10, ps * 2} {
			key := fmt.Sprintf("cancel/before/%d", size)
			if err := s.Put(c, key, content(4, size), size); !errors.Is(err, context.Canceled) {
				t.Errorf("Put(%q) = %v, want context.Canceled", key, err)
			}
			wantAbsent(t, s, key)
		}
	})
	t.Run("during", func(t *testing.T) {
		for _, n := range []int64{10, ps * 3 / 2} {
			key := fmt.Sprintf("cancel/during/%d", n)
			c, cancel := context.WithCancel(ctx(t))
			r := &cancellingReader{r: content(5, ps*4), n: n, cancel: cancel}
			err := s.Put(c, key, r, -1)
			cancel()
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Put(%q) cancelled after %d bytes = %v, want context.Canceled", key, n, err)
			}
			wantAbsent(t, s, key)
		}
	})
	wantNoPendingUploads(t, s)
}

func testSizeMismatch(t *testing.T, s objstore.Store) {
	ps := partSize(s)
	for _, tc := range []struct{ n, size int64 }{
		{10, 11}, {11, 10}, {0, 1}, {1, 0},
		{ps + 10, ps + 11}, {ps * 2, ps*2 - 1}, {ps - 1, ps}, {ps, ps - 1},
	} {
		key := fmt.Sprintf("size/%d-%d", tc.n, tc.size)
		if err := s.Put(ctx(t), key, content(6, tc.n), tc.size); err == nil {
			t.Errorf("Put(%q) of %d bytes with size %d succeeded, want an error", key, tc.n, tc.size)
		}
		wantAbsent(t, s, key)
	}
	wantNoPendingUploads(t, s)
}

func testConcurrentPuts(t *testing.T, s objstore.Store) {
	ps := partSize(s)
	const n = 8
	sizes := make([]int64, n)
	sums := make([][32]byte, n)
	for i := range n {
		sizes[i] = int64(i) * 1000
		if i%4 == 3 {
			sizes[i] = ps + int64(i)
		}
		sums[i], _ = sum(t, content(uint64(100+i), sizes[i]))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Put(ctx(t), fmt.Sprintf("many/%02d", i), stream{content(uint64(100+i), sizes[i])}, -1)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Put %d: %v", i, err)
		}
	}
	objs, err := s.List(ctx(t), "many/")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != n {
		t.Fatalf("List = %d objects, want %d", len(objs), n)
	}
	for i, o := range objs {
		r, err := s.Get(ctx(t), o.Key)
		if err != nil {
			t.Fatal(err)
		}
		got, size := sum(t, r)
		r.Close()
		if o.Key != fmt.Sprintf("many/%02d", i) || size != sizes[i] || got != sums[i] {
			t.Errorf("object %q: %d bytes, sha256 %x; want many/%02d, %d bytes, %x", o.Key, size, got, i, sizes[i], sums[i])
		}
	}
	wantNoPendingUploads(t, s)
}

func testInvalidKeys(t *testing.T, s objstore.Store) {
	for _, key := range []string{"", "/abs", "../up", "a/../../up", "a/..", "./a", "a/./b", "a//b", "a/", "nul\x00", `back\slash`} {
		check := func(op string, err error) {
			t.Helper()
			if !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("%s(%q) = %v, want ErrInvalidKey", op, key, err)
			} else if !strings.Contains(err.Error(), fmt.Sprintf("%q", key)) {
				t.Errorf("%s(%q) = %v, want the key in the message", op, key, err)
			}
		}
		check("Put", s.Put(ctx(t), key, strings.NewReader("x"), 1))
		_, err := s.Get(ctx(t), key)
		check("Get", err)
		_, err = s.Stat(ctx(t), key)
		check("Stat", err)
		check("Delete", s.Delete(ctx(t), key))
	}
	for _, prefix := range []string{"/abs", "../up", "a/../"} {
		if _, err := s.List(ctx(t), prefix); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("List(%q) = %v, want ErrInvalidKey", prefix, err)
		}
	}
	if got := keys(t, s, ""); len(got) != 0 {
		t.Errorf("List = %q after invalid keys, want nothing", got)
	}
}

func testPingAndString(t *testing.T, s objstore.Store) {
	if err := s.Ping(ctx(t)); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if s.String() == "" {
		t.Error("String is empty")
	}
}
