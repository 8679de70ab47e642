package objstore

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/schemas"
)

func newFakeStore(t *testing.T, f *fakeS3, st schemas.Store) *S3 {
	t.Helper()
	st.Type, st.Bucket = schemas.StoreS3, "bucket"
	if st.Endpoint == "" {
		st.Endpoint = "http://fake"
	}
	if st.PartSizeMB == 0 {
		st.PartSizeMB = MinPartSize >> 20
	}
	s, err := newS3(f, st)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// stream hides the length of a reader.
type stream struct{ r io.Reader }

func (s stream) Read(p []byte) (int, error) { return s.r.Read(p) }

func randomBytes(seed uint64, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{byte(seed)}), n)
}

func TestS3Put_SmallObjectIsOnePutObject(t *testing.T) {
	for _, size := range []int64{0, 1, MinPartSize - 1} {
		for _, known := range []bool{true, false} {
			f := newFakeS3()
			s := newFakeStore(t, f, schemas.Store{})
			var r io.Reader = randomBytes(1, size)
			n := size
			if !known {
				r, n = stream{r}, -1
			}
			if err := s.Put(t.Context(), "k", r, n); err != nil {
				t.Fatal(err)
			}
			if got := f.called("PutObject"); got != 1 || f.called("CreateMultipartUpload") != 0 {
				t.Errorf("size %d known %v: %d PutObject, %d multipart uploads; want one PutObject", size, known, got, f.called("CreateMultipartUpload"))
			}
		}
	}
}

func TestS3Put_FailedMultipartIsAborted(t *testing.T) {
	errPart := errors.New("part refused")
	errComplete := errors.New("complete refused")
	for _, tc := range []struct {
		name  string
		setup func(*fakeS3)
		size  int64 // -1 for a stream
		r     func(cancel context.CancelFunc) io.Reader
		want  error
	}{
		{
			name:  "second part fails",
			setup: func(f *fakeS3) { f.failPart = func(n int32) error { return map[bool]error{true: errPart}[n == 2] } },
			size:  -1,
			want:  errPart,
		},
		{
			name:  "last part fails",
			setup: func(f *fakeS3) { f.failPart = func(n int32) error { return map[bool]error{true: errPart}[n == 4] } },
			size:  MinPartSize*3 + 1,
			r:     func(context.CancelFunc) io.Reader { return randomBytes(4, MinPartSize*3+1) },
			want:  errPart,
		},
		{
			name:  "complete fails",
			setup: func(f *fakeS3) { f.failComplete = errComplete },
			size:  -1,
			want:  errComplete,
		},
		{
			name: "reader fails",
			size: -1,
			r: func(context.CancelFunc) io.Reader {
				return io.MultiReader(randomBytes(2, MinPartSize*5/2), iotestErrReader{})
			},
			want: errReaderBroke,
		},
		{
			name: "context cancelled while parts are in flight",
			setup: func(f *fakeS3) {
				f.partDelay = time.Second
			},
			size: -1,
			r: func(cancel context.CancelFunc) io.Reader {
				return &cancelAfter{r: randomBytes(3, MinPartSize*4), n: MinPartSize * 2, cancel: cancel}
			},
			want: context.Canceled,
		},
		{
			name: "size larger than content",
			size: MinPartSize * 4,
			want: nil, // any error
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeS3()
			if tc.setup != nil {
				tc.setup(f)
			}
			s := newFakeStore(t, f, schemas.Store{UploadConcurrency: 2})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			r := io.Reader(stream{randomBytes(4, MinPartSize*7/2)})
			if tc.r != nil {
				r = tc.r(cancel)
			}
			start := time.Now()
			err := s.Put(ctx, "backup/object", r, tc.size)
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Put = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), "backup/object") || !strings.Contains(err.Error(), "http://fake") {
				t.Errorf("Put error %q names neither the key nor the endpoint", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("failed Put took %v", d)
			}
			if n := f.called("AbortMultipartUpload"); n != 1 {
				t.Errorf("%d aborts, want 1", n)
			}
			if n, _ := s.PendingUploads(t.Context()); n != 0 {
				t.Errorf("%d uploads left", n)
			}
			if _, err := s.Stat(t.Context(), "backup/object"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Stat = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestS3Put_FailedAbortIsReported(t *testing.T) {
	errAbort := errors.New("abort refused")
	f := newFakeS3()
	f.failComplete = errors.New("complete refused")
	f.failAbort = errAbort
	s := newFakeStore(t, f, schemas.Store{})
	err := s.Put(t.Context(), "k", stream{randomBytes(5, MinPartSize*2)}, -1)
	if !errors.Is(err, f.failComplete) || !errors.Is(err, errAbort) || !strings.Contains(err.Error(), "parts remain") {
		t.Errorf("Put = %v, want both the failure and the failed abort, with a hint", err)
	}
}

func TestS3Put_BoundsConcurrencyAndMemory(t *testing.T) {
	const conc, parts = 2, 16
	f := newFakeS3()
	f.discard = true
	// Parts wait long enough for the reader, fast and allocation-free, to
	// have the next ones ready: then uploads overlap.
	f.partDelay = 50 * time.Millisecond
	s := newFakeStore(t, f, schemas.Store{UploadConcurrency: conc})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := s.Put(t.Context(), "big", io.LimitReader(repeating{}, MinPartSize*parts), -1); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if f.maxIn > conc {
		t.Errorf("%d parts in flight at once, want at most %d", f.maxIn, conc)
	}
	if f.maxIn < conc {
		t.Errorf("%d parts in flight at once, want %d: no concurrency", f.maxIn, conc)
	}
	// Buffers for concurrency + 1 parts, and a little for everything else.
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(MinPartSize*(conc+1)+MinPartSize/2); got > limit {
		t.Errorf("Put of %d parts allocated %d MiB, want at most %d MiB", parts, got>>20, limit>>20)
	}
	if n := f.called("UploadPart"); n != parts {
		t.Errorf("%d parts uploaded, want %d", n, parts)
	}
}

func TestS3Put_RefusesObjectsBeyondTenThousandParts(t *testing.T) {
	f := newFakeS3()
	s := newFakeStore(t, f, schemas.Store{})
	err := s.Put(t.Context(), "k", strings.NewReader(""), MinPartSize*maxParts+1)
	if err == nil || !strings.Contains(err.Error(), "part_size_mb") {
		t.Errorf("Put = %v, want an error that says to raise part_size_mb", err)
	}
	if f.called("CreateMultipartUpload")+f.called("PutObject") != 0 {
		t.Error("Put sent something")
	}
}

func TestS3_SweepAbortsOldUploadsOnly(t *testing.T) {
	f := newFakeS3()
	s := newFakeStore(t, f, schemas.Store{Prefix: "mine"})
	f.uploads["old"] = &fakeUpload{key: "mine/a", initiated: time.Now().Add(-2 * time.Hour)}
	f.uploads["new"] = &fakeUpload{key: "mine/b", initiated: time.Now()}
	f.uploads["other"] = &fakeUpload{key: "theirs/c", initiated: time.Now().Add(-2 * time.Hour)}
	if n, err := s.Sweep(t.Context(), time.Hour); n != 1 || err != nil {
		t.Errorf("Sweep = %d, %v; want 1", n, err)
	}
	if _, ok := f.uploads["old"]; ok {
		t.Error("old upload left")
	}
	if len(f.uploads) != 2 {
		t.Errorf("uploads left %v, want the new one and the other prefix's", f.uploads)
	}
}

func TestNewS3_Tuning(t *testing.T) {
	for _, tc := range []struct {
		st      schemas.Store
		wantErr string
		want    string
		part    int64
	}{
		{st: schemas.Store{}, want: "s3://b/ at http://e", part: DefaultPartSize},
		{st: schemas.Store{Prefix: "/a/b", PartSizeMB: 5}, want: "s3://b/a/b/ at http://e", part: 5 << 20},
		{st: schemas.Store{Prefix: "a/b/", PartSizeMB: 5120, UploadConcurrency: 64}, want: "s3://b/a/b/ at http://e", part: 5 << 30},
		{st: schemas.Store{PartSizeMB: 4}, wantErr: "part_size_mb 4"},
		{st: schemas.Store{PartSizeMB: 5121}, wantErr: "part_size_mb 5121"},
		{st: schemas.Store{UploadConcurrency: 65}, wantErr: "upload_concurrency 65"},
		{st: schemas.Store{UploadConcurrency: -1}, wantErr: "upload_concurrency -1"},
	} {
		tc.st.Type, tc.st.Bucket, tc.st.Endpoint = schemas.StoreS3, "b", "http://e"
		s, err := newS3(newFakeS3(), tc.st)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("newS3(%+v) = %v, want an error with %q", tc.st, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("newS3(%+v): %v", tc.st, err)
		}
		if s.String() != tc.want || s.PartSize() != tc.part {
			t.Errorf("newS3(%+v): %s, part %d; want %s, part %d", tc.st, s, s.PartSize(), tc.want, tc.part)
		}
	}
	s, _ := newS3(newFakeS3(), schemas.Store{Bucket: "b", Region: "eu-west-1"})
	if got, want := s.String(), "s3://b/ at AWS eu-west-1"; got != want {
		t.Errorf("String without an endpoint = %q, want %q", got, want)
	}
}

func TestS3_NotFoundIsErrNotFound(t *testing.T) {
	s := newFakeStore(t, newFakeS3(), schemas.Store{})
	if _, err := s.Get(t.Context(), "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get = %v", err)
	}
	if _, err := s.Stat(t.Context(), "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat = %v", err)
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fakeAPIError("NoSuchKey"), true},
		{fakeAPIError("NotFound"), true},
		{fakeAPIError("NoSuchBucket"), false},
		{fakeAPIError("AccessDenied"), false},
		{errors.New("connection refused"), false},
	} {
		if got := notFound(tc.err); got != tc.want {
			t.Errorf("notFound(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// repeating is an endless stream of a fixed byte, made without allocating.
type repeating struct{}

func (repeating) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

var errReaderBroke = errors.New("reader broke")

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errReaderBroke }

// cancelAfter cancels its context after n bytes and reads on regardless.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	m, err := c.r.Read(p)
	c.n -= int64(m)
	return m, err
}
