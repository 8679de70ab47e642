package pipeline

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"

	"filippo.io/age"
)

// sealBytes seals plain for the recipients and returns what dst received.
func sealBytes(t testing.TB, plain []byte, opts Options) ([]byte, Sums) {
	t.Helper()
	var dst bytes.Buffer
	sums, err := SealFrom(&dst, bytes.NewReader(plain), opts)
	if err != nil {
		t.Fatalf("SealFrom: %v", err)
	}
	return dst.Bytes(), sums
}

// openAll opens stored with the identities and reads the plain stream whole.
func openAll(stored []byte, ids []age.Identity, want Sums) ([]byte, error) {
	r, err := Open(bytes.NewReader(stored), ids, want)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func TestSealOpen_RoundTripsWithEveryRecipient(t *testing.T) {
	id1, r1 := keyPair(t)
	id2, r2 := keyPair(t)
	inputs := []struct {
		name  string
		plain []byte
	}{
		{"empty", nil},
		{"small", []byte("select 1;\n")},
		{"10MiB random", randomBytes(10<<20, 1)},
		{"10MiB compressible", textBytes(10<<20, 2)},
	}
	keySets := []struct {
		name       string
		recipients []age.Recipient
		identities []*age.X25519Identity
	}{
		{"one recipient", []age.Recipient{r1}, []*age.X25519Identity{id1}},
		{"two recipients", []age.Recipient{r1, r2}, []*age.X25519Identity{id1, id2}},
	}
	for _, in := range inputs {
		for _, ks := range keySets {
			t.Run(in.name+"/"+ks.name, func(t *testing.T) {
				stored, sums := sealBytes(t, in.plain, Options{Recipients: ks.recipients})

				want := Sums{
					PlainSize:    int64(len(in.plain)),
					StoredSize:   int64(len(stored)),
					PlainSHA256:  sha256Hex(in.plain),
					StoredSHA256: sha256Hex(stored),
					Recipients:   recipientStrings(ks.recipients),
				}
				if !sumsEqual(sums, want) {
					t.Fatalf("sums = %+v, want %+v", sums, want)
				}
				for i, id := range ks.identities {
					got, err := openAll(stored, []age.Identity{id}, sums)
					if err != nil {
						t.Fatalf("open with identity %d: %v", i+1, err)
					}
					if !bytes.Equal(got, in.plain) {
						t.Fatalf("identity %d: plain stream differs (%d bytes, want %d)", i+1, len(got), len(in.plain))
					}
					vs, err := Verify(bytes.NewReader(stored), []age.Identity{id}, sums)
					if err != nil {
						t.Fatalf("verify with identity %d: %v", i+1, err)
					}
					if !sumsEqual(vs, want) {
						t.Fatalf("verify sums = %+v, want %+v", vs, want)
					}
				}
			})
		}
	}
}

func sumsEqual(a, b Sums) bool {
	return a.PlainSize == b.PlainSize && a.StoredSize == b.StoredSize &&
		a.PlainSHA256 == b.PlainSHA256 && a.StoredSHA256 == b.StoredSHA256 &&
		slices.Equal(a.Recipients, b.Recipients)
}

func TestOpen_SumsAfterEOFMatchSeal(t *testing.T) {
	id, rcp := keyPair(t)
	stored, sums := sealBytes(t, textBytes(1<<20, 3), Options{Recipients: []age.Recipient{rcp}})
	// No expectations given: the reader still reports what it read.
	r, err := Open(bytes.NewReader(stored), []age.Identity{id}, Sums{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sums(); err == nil {
		t.Fatal("Sums before EOF: want an error")
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	got, err := r.Sums()
	if err != nil {
		t.Fatal(err)
	}
	sums.Recipients = nil
	if !sumsEqual(got, sums) {
		t.Fatalf("sums = %+v, want %+v", got, sums)
	}
}

func TestSeal_CompressibleDataShrinksRandomDataBarelyGrows(t *testing.T) {
	_, rcp := keyPair(t)
	tests := []struct {
		name     string
		plain    []byte
		maxRatio float64 // stored / plain
	}{
		{"compressible", textBytes(10<<20, 4), 0.5},
		// age adds 16 bytes per 64 KiB and zstd 3 per 128 KiB block.
		{"random", randomBytes(10<<20, 5), 1.0003},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, sums := sealBytes(t, tt.plain, Options{Recipients: []age.Recipient{rcp}})
			got := float64(sums.StoredSize) / float64(sums.PlainSize)
			t.Logf("%d → %d bytes (%.3f)", sums.PlainSize, sums.StoredSize, got)
			if got > tt.maxRatio {
				t.Fatalf("stored/plain = %.4f, want at most %.4f", got, tt.maxRatio)
			}
		})
	}
}

func TestSeal_EveryLevelAndConcurrencyRoundTrips(t *testing.T) {
	id, rcp := keyPair(t)
	plain := textBytes(1<<20, 6)
	for _, level := range []int{0, 1, 3, 7, 19} {
		for _, n := range []int{0, 1, 2, 3} {
			stored, sums := sealBytes(t, plain, Options{Recipients: []age.Recipient{rcp}, Level: level, Concurrency: n})
			got, err := openAll(stored, []age.Identity{id}, sums)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("level %d concurrency %d: err %v, equal %v", level, n, err, bytes.Equal(got, plain))
			}
		}
	}
}

func TestSeal_RefusesBadOptions(t *testing.T) {
	_, rcp := keyPair(t)
	rs := []age.Recipient{rcp}
	tests := []struct {
		name string
		opts Options
		is   error
	}{
		{"no recipients", Options{}, ErrNoRecipients},
		{"negative level", Options{Recipients: rs, Level: -1}, nil},
		{"level too high", Options{Recipients: rs, Level: 23}, nil},
		{"negative concurrency", Options{Recipients: rs, Concurrency: -1}, nil},
		{"concurrency too high", Options{Recipients: rs, Concurrency: MaxConcurrency + 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dst bytes.Buffer
			_, err := Seal(&dst, tt.opts)
			if err == nil {
				t.Fatal("want an error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			if dst.Len() != 0 {
				t.Fatalf("%d bytes written to dst on a refused Seal", dst.Len())
			}
		})
	}
}

func TestSealer_SumsOnlyAfterCloseAndNoWritesAfter(t *testing.T) {
	_, rcp := keyPair(t)
	s, err := Seal(io.Discard, Options{Recipients: []age.Recipient{rcp}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sums(); err == nil {
		t.Fatal("Sums before Close: want an error")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Sums(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("y")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: err = %v, want ErrClosed", err)
	}
}

// failingWriter accepts limit bytes, then fails.
type failingWriter struct {
	limit int
	err   error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		n := w.limit
		w.limit = 0
		return n, w.err
	}
	w.limit -= len(p)
	return len(p), nil
}

func TestSealFrom_DestinationErrorIsReturned(t *testing.T) {
	_, rcp := keyPair(t)
	errDisk := errors.New("disk full")
	for _, n := range []int{1, 2, 3} {
		_, err := SealFrom(&failingWriter{limit: 1 << 20, err: errDisk}, newGenReader(16<<20, false, 1),
			Options{Recipients: []age.Recipient{rcp}, Concurrency: n})
		if !errors.Is(err, errDisk) {
			t.Fatalf("concurrency %d: err = %v, want it to wrap %v", n, err, errDisk)
		}
	}
}

// failingReader yields limit bytes of r, then fails.
type failingReader struct {
	r     io.Reader
	limit int64
	err   error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.limit == 0 {
		return 0, f.err
	}
	if int64(len(p)) > f.limit {
		p = p[:f.limit]
	}
	n, err := f.r.Read(p)
	f.limit -= int64(n)
	return n, err
}

func TestSealFrom_SourceErrorLeavesAStreamOpenRefuses(t *testing.T) {
	id, rcp := keyPair(t)
	errSource := errors.New("connection reset by pg_basebackup")
	var dst bytes.Buffer
	src := &failingReader{r: newGenReader(8<<20, true, 1), limit: 3 << 20, err: errSource}
	_, err := SealFrom(&dst, src, Options{Recipients: []age.Recipient{rcp}})
	if !errors.Is(err, errSource) {
		t.Fatalf("err = %v, want it to wrap %v", err, errSource)
	}
	_, err = openAll(dst.Bytes(), []age.Identity{id}, Sums{})
	var te *TruncatedError
	if !errors.As(err, &te) {
		t.Fatalf("opening an aborted stream: err = %v, want *TruncatedError", err)
	}
}
