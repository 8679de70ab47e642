package pipeline

import (
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
)

const (
	// DefaultLevel is the zstd level used when Options.Level is 0.
	DefaultLevel = 3
	// DefaultConcurrency is the number of encoder goroutines used when
	// Options.Concurrency is 0. At 2, one goroutine compresses beside the
	// caller while another encrypts and writes, with one encoder's memory.
	// Parallel sections (3 and up) are for hosts with cores to spare: where
	// cores are few and busy they are slower than that pipeline, and they
	// hold many times its memory.
	DefaultConcurrency = 2
	// MaxLevel is the highest zstd level accepted (levels from 10 on all use the best encoder).
	MaxLevel = 22
	// MaxConcurrency caps Options.Concurrency, and with it the memory a Sealer holds.
	MaxConcurrency = 16
)

// Zstd windows, chosen by level as the zstd command chooses them (2 MiB at
// level 3, 8 MiB at 19). Memory grows with them: see Options.
const (
	smallWindow = 2 << 20 // levels 1 to 5
	largeWindow = 8 << 20 // levels 6 and up; also the most Open accepts
)

// windowFor returns the zstd window used at a zstd level.
func windowFor(level int) int {
	if zstd.EncoderLevelFromZstd(level) <= zstd.SpeedDefault {
		return smallWindow
	}
	return largeWindow
}

// Options configures Seal.
//
// Nothing is staged: Seal writes as it is written to, and Open decrypts and
// decompresses as it is read, so memory does not grow with the stream. The
// bound, in live heap, with W the zstd window (2 MiB at levels 1–5, 8 MiB
// from 6; Open refuses streams that ask for more than 8 MiB) and T the
// encoder's match tables (0.25 MiB at levels 1–2, 1.25 at 3–5, 4 at 6–9, 34
// from 10):
//
//	Seal, Concurrency 1 or 2:  2W + T + 2 MiB               7.3 MiB at level 3, 22 at 7, 52 at 19
//	Seal, Concurrency n ≥ 3:   (n+1)(2W + T) + (3.25n + 5.5 + 4.5P)·4W + 2 MiB, P = GOMAXPROCS
//	                                                        217 MiB at level 3 with n = 3, P = 2
//	Open:                      W + 2 MiB                    4 MiB at level 3, 10 at most
//
// The terms are counted in memory.go. TestSealOpen_MemoryStaysBoundedWhateverTheSize
// streams Seal into a pipe read by Open and holds the live heap, taken after
// a forced collection every 8 MiB, to the sum of both; the heap with
// uncollected garbage grows to about twice the live heap (GOGC=100).
type Options struct {
	// Recipients are the age public keys the stream is encrypted for; at least one.
	Recipients []age.Recipient
	// Level is the zstd level, 1 to 22 as for the zstd command (mapped with
	// zstd.EncoderLevelFromZstd); 0 means DefaultLevel.
	Level int
	// Concurrency is the number of encoder goroutines; 0 means DefaultConcurrency.
	// 1 compresses in the caller's goroutine; 2 on one beside it, pipelined
	// with encryption; n ≥ 3 on n compressing sections in parallel, at the
	// memory cost given above.
	Concurrency int
}

// Sums are the sizes and SHA-256 checksums of a sealed stream, as a manifest records them.
type Sums struct {
	// PlainSize is the number of bytes of the plain stream.
	PlainSize int64 `json:"plain_size"`
	// StoredSize is the number of bytes of the sealed stream (what is stored).
	StoredSize int64 `json:"stored_size"`
	// PlainSHA256 is the hex SHA-256 of the plain stream.
	PlainSHA256 string `json:"plain_sha256"`
	// StoredSHA256 is the hex SHA-256 of the sealed stream.
	StoredSHA256 string `json:"stored_sha256"`
	// Recipients are the public keys (age1…) the stream was encrypted for.
	// Seal fills it in; Open and Verify use it only to name the right keys
	// when the identities given do not match.
	Recipients []string `json:"recipients,omitempty"`
}

// Sealer compresses and encrypts what is written to it; see Seal.
type Sealer struct {
	plain      tally
	stored     *tallyWriter
	enc        *zstd.Encoder
	enc2age    io.WriteCloser
	recipients []string
	done       bool
	sums       Sums
	err        error
}

var _ io.WriteCloser = (*Sealer)(nil)

// Seal returns a writer: what is written to it is compressed, encrypted and written to dst.
//
// The age header is written to dst before Seal returns; the rest is written
// as it is produced, possibly from another goroutine, until Close or Abort
// returns. dst is not closed. A stream is only complete after Close returns
// nil; a stream that was aborted, or whose writer died, is refused by Open.
func Seal(dst io.Writer, opts Options) (*Sealer, error) {
	if len(opts.Recipients) == 0 {
		return nil, ErrNoRecipients
	}
	eopts, err := opts.encoderOptions()
	if err != nil {
		return nil, err
	}
	s := &Sealer{
		plain:      newTally(),
		stored:     &tallyWriter{w: dst, t: newTally()},
		recipients: recipientStrings(opts.Recipients),
	}
	s.enc2age, err = age.Encrypt(s.stored, opts.Recipients...)
	if err != nil {
		if s.stored.err != nil {
			return nil, fmt.Errorf("write sealed stream: %w", s.stored.err)
		}
		return nil, fmt.Errorf("age encrypt: %w", err)
	}
	s.enc, err = zstd.NewWriter(s.enc2age, eopts...)
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	return s, nil
}

func (o Options) encoderOptions() ([]zstd.EOption, error) {
	level := o.Level
	switch {
	case level == 0:
		level = DefaultLevel
	case level < 0 || level > MaxLevel:
		return nil, fmt.Errorf("zstd level %d is out of range: use 1 to %d, or 0 for the default %d", o.Level, MaxLevel, DefaultLevel)
	}
	n := o.Concurrency
	switch {
	case n == 0:
		n = DefaultConcurrency
	case n < 0 || n > MaxConcurrency:
		return nil, fmt.Errorf("encoder concurrency %d is out of range: use 1 to %d, or 0 for the default %d", o.Concurrency, MaxConcurrency, DefaultConcurrency)
	}
	return []zstd.EOption{
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithWindowSize(windowFor(level)),
		// 1 compresses in the caller's goroutine; 2 compresses one block in
		// a goroutine of its own while the caller fills the next and
		// another goroutine encrypts and writes the previous one.
		zstd.WithEncoderConcurrency(n),
		// From 3 on, n goroutines compress 4-window sections side by side.
		// Not at 2: two sections at a time are slower than the pipeline
		// above and hold many times its memory (see DefaultConcurrency).
		zstd.WithConcurrentBlocks(n >= 3),
	}, nil
}

// recipientStrings names the recipients that can be named (X25519 and
// hybrid recipients print as their public key).
func recipientStrings(rs []age.Recipient) []string {
	var out []string
	for _, r := range rs {
		if s, ok := r.(fmt.Stringer); ok {
			out = append(out, s.String())
		}
	}
	return out
}

// Write compresses and encrypts p.
func (s *Sealer) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.done {
		return 0, ErrClosed
	}
	n, err := s.enc.Write(p)
	s.plain.add(p[:n])
	if err != nil {
		s.err = s.wrap("compress", err)
		return n, s.err
	}
	return n, nil
}

// wrap names the stage that failed: the destination, or the step given.
func (s *Sealer) wrap(step string, err error) error {
	if s.stored.err != nil {
		return fmt.Errorf("write sealed stream: %w", s.stored.err)
	}
	return fmt.Errorf("%s: %w", step, err)
}

// Close flushes the compressor, finishes the age stream and makes Sums available; dst is not closed.
func (s *Sealer) Close() error {
	if s.done {
		return s.err
	}
	s.done = true
	if s.err != nil {
		s.enc.Reset(io.Discard) // stops the encoder's goroutines
		return s.err
	}
	if err := s.enc.Close(); err != nil {
		s.err = s.wrap("compress", err)
		return s.err
	}
	if err := s.enc2age.Close(); err != nil {
		s.err = s.wrap("age encrypt", err)
		return s.err
	}
	s.sums = Sums{
		PlainSize:    s.plain.n,
		StoredSize:   s.stored.t.n,
		PlainSHA256:  s.plain.sum(),
		StoredSHA256: s.stored.t.sum(),
		Recipients:   s.recipients,
	}
	return nil
}

// Abort stops the Sealer without finishing the stream, so that what dst holds is refused by Open as truncated.
func (s *Sealer) Abort() {
	if s.done {
		return
	}
	s.done = true
	s.enc.Reset(io.Discard)
	if s.err == nil {
		s.err = ErrClosed
	}
}

// Sums returns the sizes and checksums of the stream; it is an error before Close has returned nil.
func (s *Sealer) Sums() (Sums, error) {
	if !s.done {
		return Sums{}, errors.New("sums asked before the sealer was closed")
	}
	if s.err != nil {
		return Sums{}, fmt.Errorf("stream was not sealed: %w", s.err)
	}
	return s.sums, nil
}

// SealFrom is a convenience: copy all of src through Seal into dst.
func SealFrom(dst io.Writer, src io.Reader, opts Options) (Sums, error) {
	s, err := Seal(dst, opts)
	if err != nil {
		return Sums{}, err
	}
	if _, err := io.Copy(s, src); err != nil {
		werr := s.err
		s.Abort()
		if werr != nil {
			return Sums{}, werr
		}
		return Sums{}, fmt.Errorf("read plain stream: %w", err)
	}
	if err := s.Close(); err != nil {
		return Sums{}, err
	}
	return s.sums, nil
}
