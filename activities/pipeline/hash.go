package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
)

// tally keeps the size and SHA-256 of the bytes that pass through it.
type tally struct {
	h hash.Hash
	n int64
}

func newTally() tally { return tally{h: sha256.New()} }

func (t *tally) add(p []byte) {
	t.h.Write(p)
	t.n += int64(len(p))
}

func (t *tally) sum() string { return hex.EncodeToString(t.h.Sum(nil)) }

// tallyWriter tallies what it writes to w, and remembers w's first error so
// that a failed destination is told apart from a failed compressor.
type tallyWriter struct {
	w   io.Writer
	t   tally
	err error
}

func (tw *tallyWriter) Write(p []byte) (int, error) {
	n, err := tw.w.Write(p)
	tw.t.add(p[:n])
	if err != nil && tw.err == nil {
		tw.err = err
	}
	return n, err
}

// tallyReader tallies what it reads from r and remembers how reading ended.
type tallyReader struct {
	r   io.Reader
	t   tally
	eof bool  // r returned io.EOF
	err error // r's first other error
}

func (tr *tallyReader) Read(p []byte) (int, error) {
	n, err := tr.r.Read(p)
	tr.t.add(p[:n])
	switch {
	case err == io.EOF:
		tr.eof = true
	case err != nil && tr.err == nil:
		tr.err = err
	}
	return n, err
}

// state returns the bytes read so far and how reading ended.
func (tr *tallyReader) state() (n int64, eof bool, err error) {
	return tr.t.n, tr.eof, tr.err
}

// drain reads r to its end, so that the size and checksum cover the whole
// object; it returns the final size and checksum, and false if r failed.
func (tr *tallyReader) drain() (int64, string, bool) {
	_, err := io.Copy(io.Discard, tr)
	if err != nil {
		return tr.t.n, "", false
	}
	return tr.t.n, tr.t.sum(), true
}

// sum returns the checksum of what was read so far.
func (tr *tallyReader) sum() string { return tr.t.sum() }
