package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
)

// headerLen returns the length of the age header at the start of stored.
func headerLen(t testing.TB, stored []byte) int {
	t.Helper()
	i := bytes.Index(stored, []byte("\n---"))
	if i < 0 {
		t.Fatal("no age header footer")
	}
	return i + 1 + bytes.IndexByte(stored[i+1:], '\n') + 1
}

// chunkStart returns the stored offset of the age chunk holding position pos.
func chunkStart(hdr, pos int) int64 {
	payload := hdr + ageNonce
	return int64(payload + (pos-payload)/(ageChunk+ageTag)*(ageChunk+ageTag))
}

func flip(stored []byte, pos int) []byte {
	b := bytes.Clone(stored)
	b[pos] ^= 0x01
	return b
}

func TestOpen_WrongIdentityNamesTheRecipients(t *testing.T) {
	_, r1 := keyPair(t)
	_, r2 := keyPair(t)
	other, _ := keyPair(t)
	stored, sums := sealBytes(t, []byte("payload"), Options{Recipients: []age.Recipient{r1, r2}})

	wantMsg := fmt.Sprintf("this backup was encrypted for %s, %s; none of the identities given (%s) matches: "+
		"restore with the identity of one of those recipients", r1, r2, other.Recipient())
	check := func(name string, err error) {
		t.Helper()
		var wk *WrongKeyError
		if !errors.As(err, &wk) {
			t.Fatalf("%s: err = %v, want *WrongKeyError", name, err)
		}
		if err.Error() != wantMsg {
			t.Fatalf("%s: message\n got %q\nwant %q", name, err.Error(), wantMsg)
		}
	}
	_, err := Open(bytes.NewReader(stored), []age.Identity{other}, sums)
	check("Open", err)
	_, err = Verify(bytes.NewReader(stored), []age.Identity{other}, sums)
	check("Verify", err)
}

func TestOpen_WrongIdentityWithoutRecipientsStillSaysWhatToDo(t *testing.T) {
	_, rcp := keyPair(t)
	other, _ := keyPair(t)
	stored, _ := sealBytes(t, []byte("payload"), Options{Recipients: []age.Recipient{rcp}})
	_, err := Open(bytes.NewReader(stored), []age.Identity{other}, Sums{})
	var wk *WrongKeyError
	if !errors.As(err, &wk) || !strings.Contains(err.Error(), "restore with the identity of one of those recipients") {
		t.Fatalf("err = %v, want a *WrongKeyError with a hint", err)
	}
}

func TestOpen_NoIdentitiesIsRefused(t *testing.T) {
	_, rcp := keyPair(t)
	stored, sums := sealBytes(t, []byte("payload"), Options{Recipients: []age.Recipient{rcp}})
	if _, err := Open(bytes.NewReader(stored), nil, sums); !errors.Is(err, ErrNoIdentities) {
		t.Fatalf("Open: err = %v, want ErrNoIdentities", err)
	}
	if _, err := Verify(bytes.NewReader(stored), nil, sums); !errors.Is(err, ErrNoIdentities) {
		t.Fatalf("Verify: err = %v, want ErrNoIdentities", err)
	}
}

func TestOpen_FlippedPayloadByteIsCorruptAtItsChunk(t *testing.T) {
	id, rcp := keyPair(t)
	stored, sums := sealBytes(t, randomBytes(300<<10, 7), Options{Recipients: []age.Recipient{rcp}})
	hdr := headerLen(t, stored)
	tests := []struct {
		name string
		pos  int
	}{
		{"nonce", hdr + 3},
		{"first chunk", hdr + ageNonce + 10},
		{"tag of first chunk", hdr + ageNonce + ageChunk + 5},
		{"middle chunk", hdr + ageNonce + 2*(ageChunk+ageTag) + 1000},
		{"final chunk", len(stored) - 40},
		{"last byte", len(stored) - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := flip(stored, tt.pos)
			wantOffset := chunkStart(hdr, max(tt.pos, hdr+ageNonce))
			_, err := openAll(bad, []age.Identity{id}, sums)
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Open: err = %v, want *CorruptError", err)
			}
			if ce.Offset != wantOffset || ce.WantSHA256 != sums.StoredSHA256 {
				t.Fatalf("Open: offset %d, want sha %q; want offset %d, sha %q", ce.Offset, ce.WantSHA256, wantOffset, sums.StoredSHA256)
			}
			if !strings.Contains(err.Error(), sums.StoredSHA256) || !strings.Contains(err.Error(), fmt.Sprint(wantOffset)) {
				t.Fatalf("Open: message %q names neither the checksum nor the position", err)
			}

			// Verify reads on, so it names the actual checksum too.
			_, err = Verify(bytes.NewReader(bad), []age.Identity{id}, sums)
			if !errors.As(err, &ce) {
				t.Fatalf("Verify: err = %v, want *CorruptError", err)
			}
			if ce.GotSHA256 != sha256Hex(bad) || ce.WantSHA256 != sums.StoredSHA256 {
				t.Fatalf("Verify: got sha %q want sha %q; want %q and %q", ce.GotSHA256, ce.WantSHA256, sha256Hex(bad), sums.StoredSHA256)
			}
			for _, s := range []string{sums.StoredSHA256, sha256Hex(bad), "restore from another copy"} {
				if !strings.Contains(err.Error(), s) {
					t.Fatalf("Verify: message %q does not contain %q", err, s)
				}
			}
		})
	}
}

// Every byte of the header and a sample of the payload: whatever is hit,
// Verify given the expected sums reports corruption, never success and
// never a wrong key.
func TestVerify_AnyFlippedByteIsCorrupt(t *testing.T) {
	id, rcp := keyPair(t)
	_, rcp2 := keyPair(t)
	stored, sums := sealBytes(t, textBytes(200<<10, 8), Options{Recipients: []age.Recipient{rcp, rcp2}})
	hdr := headerLen(t, stored)
	var positions []int
	for p := 0; p < hdr; p++ {
		positions = append(positions, p)
	}
	for p := hdr; p < len(stored); p += 97 {
		positions = append(positions, p)
	}
	for _, p := range positions {
		_, err := Verify(bytes.NewReader(flip(stored, p)), []age.Identity{id}, sums)
		var ce *CorruptError
		if !errors.As(err, &ce) {
			t.Fatalf("byte %d of %d (header %d) flipped: err = %v, want *CorruptError", p, len(stored), hdr, err)
		}
	}
	t.Logf("%d positions checked", len(positions))
}

func TestOpen_TruncatedObjectEndsEarly(t *testing.T) {
	id, rcp := keyPair(t)
	stored, sums := sealBytes(t, randomBytes(200<<10, 9), Options{Recipients: []age.Recipient{rcp}})
	hdr := headerLen(t, stored)
	tests := []struct {
		name string
		size int
		// without the expected size, a cut inside the final chunk looks
		// like a damaged final chunk
		corruptWithoutWant bool
	}{
		{"empty object", 0, false},
		{"inside the header", hdr / 2, false},
		{"after the header", hdr, false},
		{"after the nonce", hdr + ageNonce, false},
		{"at a chunk boundary", hdr + ageNonce + 2*(ageChunk+ageTag), false},
		{"inside a chunk", hdr + ageNonce + ageChunk + ageTag + 777, true},
		{"one byte short", len(stored) - 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cut := stored[:tt.size]
			for _, fn := range []struct {
				name string
				run  func(want Sums) error
			}{
				{"Open", func(want Sums) error { _, err := openAll(cut, []age.Identity{id}, want); return err }},
				{"Verify", func(want Sums) error { _, err := Verify(bytes.NewReader(cut), []age.Identity{id}, want); return err }},
			} {
				err := fn.run(sums)
				var te *TruncatedError
				if !errors.As(err, &te) {
					t.Fatalf("%s: err = %v, want *TruncatedError", fn.name, err)
				}
				if te.WantSize != sums.StoredSize || te.GotSize != int64(tt.size) {
					t.Fatalf("%s: sizes %d/%d, want %d/%d", fn.name, te.GotSize, te.WantSize, tt.size, sums.StoredSize)
				}
				if !strings.Contains(err.Error(), "ends early") || !strings.Contains(err.Error(), fmt.Sprint(sums.StoredSize)) {
					t.Fatalf("%s: message %q", fn.name, err)
				}

				err = fn.run(Sums{})
				var ce *CorruptError
				switch {
				case tt.corruptWithoutWant && !errors.As(err, &ce):
					t.Fatalf("%s without want: err = %v, want *CorruptError", fn.name, err)
				case !tt.corruptWithoutWant && !errors.As(err, &te):
					t.Fatalf("%s without want: err = %v, want *TruncatedError", fn.name, err)
				}
			}
		})
	}
}

func TestOpen_PlainChecksumMismatchFailsAtEOF(t *testing.T) {
	id, rcp := keyPair(t)
	plain := textBytes(1<<20, 10)
	stored, sums := sealBytes(t, plain, Options{Recipients: []age.Recipient{rcp}})
	tests := []struct {
		name string
		edit func(*Sums)
	}{
		{"checksum", func(s *Sums) { s.PlainSHA256 = sha256Hex([]byte("another backup")) }},
		{"size", func(s *Sums) { s.PlainSize++ }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := sums
			tt.edit(&want)
			got, err := openAll(stored, []age.Identity{id}, want)
			var pe *PlainChecksumError
			if !errors.As(err, &pe) {
				t.Fatalf("Open: err = %v, want *PlainChecksumError", err)
			}
			if pe.GotSHA256 != sha256Hex(plain) || pe.WantSHA256 != want.PlainSHA256 || pe.GotSize != int64(len(plain)) {
				t.Fatalf("Open: %+v", pe)
			}
			if !strings.Contains(err.Error(), sha256Hex(plain)) || !strings.Contains(err.Error(), want.PlainSHA256) {
				t.Fatalf("message %q names not both checksums", err)
			}
			// The data came through, but the error stands in for EOF.
			if len(got) != len(plain) {
				t.Fatalf("read %d bytes, want %d", len(got), len(plain))
			}
			if _, err := Verify(bytes.NewReader(stored), []age.Identity{id}, want); !errors.As(err, &pe) {
				t.Fatalf("Verify: err = %v, want *PlainChecksumError", err)
			}
		})
	}
}

func TestOpen_StoredChecksumOfAnotherObjectIsCorrupt(t *testing.T) {
	id, rcp := keyPair(t)
	stored, sums := sealBytes(t, []byte("payload"), Options{Recipients: []age.Recipient{rcp}})
	want := sums
	want.StoredSHA256 = sha256Hex([]byte("another object"))
	_, err := openAll(stored, []age.Identity{id}, want)
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *CorruptError", err)
	}
	if ce.GotSHA256 != sums.StoredSHA256 || ce.WantSHA256 != want.StoredSHA256 {
		t.Fatalf("checksums %q/%q, want %q/%q", ce.GotSHA256, ce.WantSHA256, sums.StoredSHA256, want.StoredSHA256)
	}
}

func TestOpen_TrailingBytesAreCorrupt(t *testing.T) {
	id, rcp := keyPair(t)
	stored, sums := sealBytes(t, []byte("payload"), Options{Recipients: []age.Recipient{rcp}})
	long := append(bytes.Clone(stored), "junk"...)
	for _, want := range []Sums{sums, {}} {
		_, err := openAll(long, []age.Identity{id}, want)
		var ce *CorruptError
		if !errors.As(err, &ce) {
			t.Fatalf("want %+v: err = %v, want *CorruptError", want, err)
		}
	}
}

func TestOpen_NotAnAgeStreamIsCorrupt(t *testing.T) {
	id, rcp := keyPair(t)
	stored, sums := sealBytes(t, []byte("payload"), Options{Recipients: []age.Recipient{rcp}})
	tests := []struct {
		name   string
		object []byte
		want   Sums
	}{
		{"a plain dump", []byte("PGDMP\x01\x0e\x00 not encrypted at all\n"), Sums{}},
		{"a small object whose intro is damaged", flip(stored, 3), Sums{}},
		{"the same, with the expected sums", flip(stored, 3), sums},
		{"a damaged header MAC", flip(stored, headerLen(t, stored)-10), Sums{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openAll(tt.object, []age.Identity{id}, tt.want)
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Offset != 0 {
				t.Fatalf("err = %v, want *CorruptError at 0", err)
			}
		})
	}
}

func TestOpen_SourceReadErrorStaysRetryable(t *testing.T) {
	id, rcp := keyPair(t)
	stored, sums := sealBytes(t, randomBytes(300<<10, 11), Options{Recipients: []age.Recipient{rcp}})
	errNet := errors.New("read tcp: connection reset by peer")
	for _, at := range []int64{10, 100 << 10} {
		src := &failingReader{r: bytes.NewReader(stored), limit: at, err: errNet}
		var err error
		r, err := Open(src, []age.Identity{id}, sums)
		if err == nil {
			_, err = io.Copy(io.Discard, r)
		}
		var (
			ce *CorruptError
			te *TruncatedError
		)
		if !errors.Is(err, errNet) || errors.As(err, &ce) || errors.As(err, &te) {
			t.Fatalf("failing at %d: err = %v, want it to wrap %v and be neither corrupt nor truncated", at, err, errNet)
		}
	}
}
