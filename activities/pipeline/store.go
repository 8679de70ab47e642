package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/runnerhub/lifeboat/activities/objstore"
)

// SealStream streams what write produces through the pipeline into key,
// counting the plain bytes in done. An error of write stores nothing and is
// returned as it is: it says what went wrong with the source, where the
// upload's would only repeat it as a broken pipe.
func SealStream(ctx context.Context, store objstore.Store, key string, opts Options, done *atomic.Int64, write func(io.Writer) error) (Sums, error) {
	pr, pw := io.Pipe()
	writeErr := make(chan error, 1)
	go func() {
		err := write(pw)
		writeErr <- err
		pw.CloseWithError(err) // nil closes with EOF
	}()
	sums, upErr := SealAndPut(ctx, store, key, &CountingReader{R: pr, N: done}, opts)
	pr.CloseWithError(errUploadEnded) // unblocks the writer if the upload stopped early
	if err := <-writeErr; err != nil && !errors.Is(err, errUploadEnded) {
		return sums, err
	}
	if upErr != nil {
		return sums, fmt.Errorf("upload %s to %s: %w", key, store, upErr)
	}
	return sums, nil
}

// VerifyStored reads the object back and checks it is byte for byte what
// the pipeline produced: nothing is reported done before it is verified.
// Other bytes are a *ReadBackError.
func VerifyStored(ctx context.Context, store objstore.Store, key string, want Sums) error {
	got, n, err := StoredSum(ctx, store, key)
	if err != nil {
		return fmt.Errorf("read back %s: %w", key, err)
	}
	if n != want.StoredSize || got != want.StoredSHA256 {
		return &ReadBackError{Key: key, Store: store.String(),
			WantSize: want.StoredSize, WantSHA256: want.StoredSHA256, GotSize: n, GotSHA256: got}
	}
	return nil
}

// SealAndPut streams src through the pipeline into one object.
func SealAndPut(ctx context.Context, store objstore.Store, key string, src io.Reader, opts Options) (Sums, error) {
	pr, pw := io.Pipe()
	sumsCh := make(chan Sums, 1)
	go func() {
		sums, err := SealFrom(pw, src, opts)
		sumsCh <- sums
		pw.CloseWithError(err) // nil closes with EOF
	}()
	err := store.Put(ctx, key, pr, -1)
	pr.CloseWithError(errors.New("upload ended")) // unblocks the sealer if Put stopped early
	sums := <-sumsCh
	return sums, err
}

// CountingReader counts the bytes read through it, for progress reports.
type CountingReader struct {
	R io.Reader
	N *atomic.Int64
}

// errUploadEnded is what a stream's writer sees when the upload stopped reading.
var errUploadEnded = errors.New("upload ended")

// StoredSum is the SHA-256 and size of a stored object, read whole.
func StoredSum(ctx context.Context, store objstore.Store, key string) (string, int64, error) {
	rc, err := store.Get(ctx, key)
	if err != nil {
		return "", 0, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

func (c *CountingReader) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	c.N.Add(int64(n))
	return n, err
}
