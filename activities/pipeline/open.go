package pipeline

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
)

const (
	// ageChunk is the plaintext size of an age payload chunk; each is stored
	// with a 16-byte tag, after the header and a 16-byte nonce.
	ageChunk    = 64 << 10
	ageTag      = 16
	ageNonce    = 16
	readBufSize = 64 << 10
)

// The zstd decoder is synchronous: it reads only inside Read, from the
// caller's goroutine. Asynchronous decoding costs more CPU without making a
// stream read in order any faster, and would make Close wait on a read of
// src.
const decoderConcurrency = 1

// Reader is the plain stream of a sealed stream; see Open.
type Reader struct {
	want   Sums
	stored *tallyReader // the sealed bytes, as read from src
	aged   *tapReader   // age's output, as read by the zstd decoder
	dec    *zstd.Decoder
	hdrLen int64
	plain  tally
	sums   Sums
	err    error // sticky: io.EOF once checked, or the failure
}

var _ io.ReadCloser = (*Reader)(nil)

// tapReader counts what age delivers and remembers age's first error: the
// zstd decoder may not pass that error on unchanged, and it tells a damaged
// chunk from a damaged compressed stream.
type tapReader struct {
	r   io.Reader
	n   int64
	err error
}

func (t *tapReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n += int64(n)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// Open reads a sealed stream from src and returns the plain stream.
//
// When the plain stream hits EOF, the stored bytes' size and SHA-256 have
// been checked against want's (where non-zero) and so have the plain
// stream's: a mismatch is returned by Read in place of io.EOF, never a silent
// success. Failures are *WrongKeyError, *CorruptError, *TruncatedError or
// *PlainChecksumError; an error reading src is returned wrapped. Data read
// before a failure must be thrown away. want.Recipients, if given, names the
// keys in a WrongKeyError; a damaged header can look like a wrong key too,
// which only Verify, reading the whole object, tells apart. Close releases
// the decoder; src is not closed.
func Open(src io.Reader, identities []age.Identity, want Sums) (*Reader, error) {
	r, err := newReader(src, identities, want)
	if err != nil {
		if r.dec != nil {
			r.dec.Close()
		}
		r.plain.stop()
		return nil, err
	}
	return r, nil
}

// newReader always returns a Reader with its stored tally, so that Verify
// can read the rest of a failed stream to tell what failed.
func newReader(src io.Reader, identities []age.Identity, want Sums) (*Reader, error) {
	r := &Reader{
		want:   want,
		stored: &tallyReader{r: src, t: newTally()},
		plain:  newTallyBehind(),
	}
	if len(identities) == 0 {
		return r, ErrNoIdentities
	}
	br := bufio.NewReaderSize(r.stored, readBufSize)

	// The header is read apart first: a bufio.Reader is read no further than
	// the header, so its length places a damaged chunk in the object, and a
	// wrong key is told apart from a damaged payload.
	hdr, err := age.ExtractHeader(br)
	if err != nil {
		return r, r.headerError("the age header cannot be read", err)
	}
	r.hdrLen = int64(len(hdr))
	fileKey, err := age.DecryptHeader(hdr, identities...)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return r, &WrongKeyError{Recipients: want.Recipients, Tried: identityStrings(identities), Err: err}
		}
		return r, r.headerError("the age header does not authenticate", err)
	}
	ar, err := age.Decrypt(io.MultiReader(bytes.NewReader(hdr), br), age.NewInjectedFileKeyIdentity(fileKey))
	if err != nil {
		return r, r.failure(fmt.Errorf("age decrypt: %w", err))
	}
	r.aged = &tapReader{r: ar}
	r.dec, err = zstd.NewReader(r.aged,
		zstd.WithDecoderConcurrency(decoderConcurrency),
		zstd.WithDecoderMaxWindow(largeWindow),
		zstd.WithDecoderLowmem(true))
	if err != nil {
		return r, fmt.Errorf("zstd decoder: %w", err)
	}
	return r, nil
}

// identityStrings names the public keys of the identities that have one.
func identityStrings(ids []age.Identity) []string {
	var out []string
	for _, id := range ids {
		switch id := id.(type) {
		case *age.X25519Identity:
			out = append(out, id.Recipient().String())
		case *age.HybridIdentity:
			out = append(out, id.Recipient().String())
		}
	}
	return out
}

// Read reads the plain stream; at its end it returns io.EOF only if every check passed.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.dec.Read(p)
	r.plain.add(p[:n])
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF:
		r.err = r.finish()
		if r.err == nil {
			r.err = io.EOF
		}
	default:
		r.err = r.failure(err)
	}
	return n, r.err
}

// Close releases the decoder's goroutines and buffers; it does not close src.
func (r *Reader) Close() error {
	r.dec.Close()
	r.plain.stop()
	if r.err == nil {
		r.err = errors.New("read after close")
	}
	return nil
}

// Sums returns the sums of the stream; it is an error before Read has returned io.EOF.
func (r *Reader) Sums() (Sums, error) {
	if r.err != io.EOF {
		return Sums{}, errors.New("sums asked before the stream was read to its end")
	}
	return r.sums, nil
}

// finish checks the ends of the stream and the sums once zstd is done.
func (r *Reader) finish() error {
	// zstd reads age to its end, and age checks that nothing follows its
	// final chunk; read once more so that this does not rest on zstd.
	var b [1]byte
	if n, err := r.aged.Read(b[:]); n > 0 {
		return r.corrupt(-1, "data follows the end of the compressed stream", nil)
	} else if err != io.EOF {
		return r.failure(err)
	}
	n, eof, srcErr := r.stored.state()
	if srcErr != nil {
		return fmt.Errorf("read stored stream: %w", srcErr)
	}
	if !eof {
		return r.corrupt(-1, "data follows the end of the encrypted stream", nil)
	}
	storedSum := r.stored.sum()
	switch w := r.want; {
	case w.StoredSize != 0 && n < w.StoredSize:
		return &TruncatedError{WantSize: w.StoredSize, GotSize: n, WantSHA256: w.StoredSHA256, GotSHA256: storedSum}
	case w.StoredSize != 0 && n > w.StoredSize:
		return r.corrupt(-1, fmt.Sprintf("the object is %d bytes, %d expected", n, w.StoredSize), nil)
	case w.StoredSHA256 != "" && !strings.EqualFold(storedSum, w.StoredSHA256):
		return r.corrupt(-1, "the stored bytes differ from the expected checksum, though every chunk authenticates", nil)
	}
	plainSum := r.plain.sum()
	if w := r.want; (w.PlainSize != 0 && r.plain.n != w.PlainSize) ||
		(w.PlainSHA256 != "" && !strings.EqualFold(plainSum, w.PlainSHA256)) {
		return &PlainChecksumError{WantSize: w.PlainSize, WantSHA256: w.PlainSHA256, GotSize: r.plain.n, GotSHA256: plainSum}
	}
	r.sums = Sums{
		PlainSize:    r.plain.n,
		StoredSize:   n,
		PlainSHA256:  plainSum,
		StoredSHA256: storedSum,
		Recipients:   r.want.Recipients,
	}
	return nil
}

// corrupt makes a CorruptError; the actual checksum is known only when all
// of src has been read.
func (r *Reader) corrupt(offset int64, reason string, err error) *CorruptError {
	e := &CorruptError{Offset: offset, Reason: reason, WantSHA256: r.want.StoredSHA256, Err: err}
	if _, eof, _ := r.stored.state(); eof {
		e.GotSHA256 = r.stored.sum()
	}
	return e
}

// headerError says why a header could not be used: the object ends inside
// it, src failed, or its bytes are damaged.
func (r *Reader) headerError(reason string, err error) error {
	n, eof, srcErr := r.stored.state()
	if srcErr != nil {
		return fmt.Errorf("read stored stream: %w", srcErr)
	}
	// A small object is read whole at once, so reaching the end of src is
	// not enough: the parser must have wanted more than there was.
	cut := eof && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "empty"))
	if r.want.StoredSize != 0 {
		cut = eof && n < r.want.StoredSize
	}
	if cut {
		return &TruncatedError{WantSize: r.want.StoredSize, GotSize: n, WantSHA256: r.want.StoredSHA256, GotSHA256: r.stored.sum()}
	}
	return r.corrupt(0, fmt.Sprintf("%s (%v)", reason, err), err)
}

// failure turns an error of the decoding chain into what went wrong.
func (r *Reader) failure(err error) error {
	n, eof, srcErr := r.stored.state()
	if srcErr != nil {
		return fmt.Errorf("read stored stream: %w", srcErr)
	}
	var out int64
	ageErr := err
	if r.aged != nil {
		out, ageErr = r.aged.n, r.aged.err
	}
	if ageErr == nil {
		// Every chunk age was given authenticated: the compressed stream
		// inside is what is wrong.
		return r.corrupt(-1, fmt.Sprintf("the decrypted data is not a valid zstd stream (%v)", err), err)
	}
	// Each full chunk before the failing one gave ageChunk bytes.
	offset := r.hdrLen + ageNonce + out/ageChunk*(ageChunk+ageTag)
	if eof {
		short := r.want.StoredSize > n
		if short || errors.Is(ageErr, io.ErrUnexpectedEOF) || errors.Is(ageErr, io.EOF) {
			return &TruncatedError{WantSize: r.want.StoredSize, GotSize: n, WantSHA256: r.want.StoredSHA256, GotSHA256: r.stored.sum()}
		}
		if r.want.StoredSize == 0 {
			return r.corrupt(offset, "the final encrypted chunk fails authentication (damaged, or cut short: give the expected stored size to tell)", ageErr)
		}
	}
	if strings.Contains(ageErr.Error(), "authenticate") {
		return r.corrupt(offset, "an encrypted chunk fails authentication", ageErr)
	}
	return r.corrupt(offset, fmt.Sprintf("the encrypted stream is malformed (%v)", ageErr), ageErr)
}

// Verify reads a whole sealed stream and checks it without keeping the plain data.
//
// It fails as Open's Read does, but reads the object to its end even after
// damage, so that a CorruptError carries the actual stored checksum, and a
// header that matches no identity is told apart from a damaged header when
// want.StoredSHA256 is given.
func Verify(src io.Reader, identities []age.Identity, want Sums) (Sums, error) {
	r, err := newReader(src, identities, want)
	defer r.plain.stop()
	if err == nil {
		buf := make([]byte, readBufSize)
		for err == nil {
			_, err = r.Read(buf)
		}
		if err == io.EOF {
			r.dec.Close()
			return r.sums, nil
		}
	}
	if r.dec != nil {
		r.dec.Close() // the decoder must stop reading before src is drained here
	}
	if errors.Is(err, ErrNoIdentities) {
		return Sums{}, err
	}
	var (
		wrongKey *WrongKeyError
		corrupt  *CorruptError
	)
	switch {
	case errors.As(err, &wrongKey) && want.StoredSHA256 != "":
		if _, sum, ok := r.stored.drain(); ok && !strings.EqualFold(sum, want.StoredSHA256) {
			return Sums{}, &CorruptError{Offset: 0, Reason: "the age header matches none of the identities and the stored checksum differs: the header is probably damaged",
				WantSHA256: want.StoredSHA256, GotSHA256: sum, Err: err}
		}
	case errors.As(err, &corrupt) && corrupt.GotSHA256 == "":
		if _, sum, ok := r.stored.drain(); ok {
			corrupt.GotSHA256 = sum
		}
	}
	return Sums{}, err
}
