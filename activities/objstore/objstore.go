// Package objstore holds the objects of the backup system (base backups, WAL
// segments, manifests) in an S3-compatible service (AWS, versitygw, ...) or in
// a local directory, behind one small interface both implementations share.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/runnerhub/lifeboat/schemas"
)

// Store is a flat namespace of immutable-once-written objects. Keys are
// slash-separated relative paths ("base/20240101T000000Z/data.tar.zst.age"):
// not empty, no leading or trailing slash, no empty, "." or ".." segment.
// A key may not be a leading segment path of another ("a" and "a/b"), which a
// filesystem cannot hold both of.
type Store interface {
	// Put stores the whole content of r under key, atomically: a reader sees
	// the complete object or no object, never a part. A failure or a
	// cancelled context leaves nothing behind, including no orphan multipart
	// parts; a crash leaves no object, and only invisible leftovers (parts,
	// temporary files) that Sweep removes. size is the content length, or -1
	// when unknown (streams); a known size that r does not match is an error
	// and stores nothing. A failed Put over an existing object keeps it.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens the object for reading. A missing object is ErrNotFound
	// (errors.Is).
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat returns the object's size and modification time, or ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// List returns every object whose key starts with prefix, sorted by key.
	// prefix is a plain string prefix, not necessarily a whole segment.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Delete removes the object; deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// Ping returns nil when the store can be reached with these credentials.
	Ping(ctx context.Context) error
	// String names the store for messages (s3://bucket/prefix at endpoint,
	// file:///dir).
	String() string
}

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	// Key is relative to the store (the S3 prefix is not part of it).
	Key     string
	Size    int64
	ModTime time.Time
}

// ErrNotFound is returned, wrapped, for an object that does not exist.
var ErrNotFound = errors.New("object not found")

// ErrInvalidKey is returned, wrapped with the key, for a key or prefix that
// could escape the store or that a filesystem cannot represent.
var ErrInvalidKey = errors.New("invalid object key")

// SecretFunc returns the value of a secret the topology names.
type SecretFunc func(*schemas.Secret) (string, error)

// Pinger is the part of a store that health checks use.
type Pinger interface {
	// Ping returns nil when the store can be reached.
	Ping(ctx context.Context) error
	// Bucket names the store's bucket (or directory) in reports.
	Bucket() string
}

// Sweeper is implemented by both stores: a Put interrupted by a crash leaves
// leftovers that no reader sees but that take space (S3 multipart uploads,
// temporary files), and Sweep removes those begun more than olderThan ago.
// olderThan must exceed the longest Put that may still be running.
type Sweeper interface {
	Sweep(ctx context.Context, olderThan time.Duration) (int, error)
}

// KeySweeper is implemented by both stores: SweepKey removes what Puts of
// one key interrupted by a crash left behind (S3 multipart uploads, the
// local store's temporary files). A Put of that key still running is cut
// off as well, so call it only when none can be: a retried upload whose
// earlier attempt's worker is gone.
type KeySweeper interface {
	SweepKey(ctx context.Context, key string) (int, error)
}

// BucketOf names the bucket (or directory) of s for health reports.
func BucketOf(s Store) string {
	if p, ok := s.(Pinger); ok {
		return p.Bucket()
	}
	return s.String()
}

// Open returns the store the topology describes.
func Open(ctx context.Context, st schemas.Store, secret SecretFunc) (Store, error) {
	switch st.Type {
	case schemas.StoreS3:
		return NewS3(ctx, st, secret)
	case schemas.StoreLocal:
		return NewLocal(st.Path), nil
	default:
		return nil, fmt.Errorf("unknown store type %q", st.Type)
	}
}

// tmpPrefix starts the names of the local store's files in the making; keys
// may not end in a segment that starts with it, so List can skip them.
const tmpPrefix = ".lifeboat-tmp-"

// checkKey rejects keys that could escape a directory or that S3 and a
// filesystem would not treat alike, so both stores accept the same keys.
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w %q: empty", ErrInvalidKey, key)
	}
	if err := checkPath(key); err != nil {
		return err
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" {
			return fmt.Errorf("%w %q: empty path segment", ErrInvalidKey, key)
		}
	}
	if strings.HasPrefix(key[strings.LastIndexByte(key, '/')+1:], tmpPrefix) {
		return fmt.Errorf("%w %q: names starting with %s are reserved", ErrInvalidKey, key, tmpPrefix)
	}
	return nil
}

// checkPrefix rejects List prefixes that could escape a directory. The last,
// partial segment may be anything a key segment may start with.
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return checkPath(prefix)
}

func checkPath(p string) error {
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("%w %q: absolute", ErrInvalidKey, p)
	}
	if strings.ContainsAny(p, "\x00\\") {
		return fmt.Errorf("%w %q: contains NUL or backslash", ErrInvalidKey, p)
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("%w %q: contains a %q segment", ErrInvalidKey, p, seg)
		}
	}
	return nil
}

// ctxReader stops a copy as soon as its context ends, between reads.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// readErr wraps a failure of the caller's reader, which is not the store's.
func readErr(err error) error {
	return fmt.Errorf("read content: %w", err)
}

var (
	_ Store   = (*S3)(nil)
	_ Store   = (*Local)(nil)
	_ Pinger  = (*S3)(nil)
	_ Pinger  = (*Local)(nil)
	_ Sweeper = (*S3)(nil)
	_ Sweeper = (*Local)(nil)

	_ KeySweeper = (*S3)(nil)
	_ KeySweeper = (*Local)(nil)
)
