package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
)

// tally keeps the size and SHA-256 of the bytes that pass through it. One
// from newTally hashes in the caller's goroutine; one from newTallyBehind
// hashes copies on a goroutine of its own, off the stream's path.
type tally struct {
	h      hash.Hash
	n      int64
	behind *hashBehind // nil: hashed in add
}

// hashBehind feeds chunks to the hashing goroutine; memory is its chunks.
type hashBehind struct {
	full chan []byte
	free chan []byte
	cur  []byte
	done chan struct{}
}

const (
	hashChunks    = 4
	hashChunkSize = 256 << 10
)

func newTally() tally { return tally{h: sha256.New()} }

func newTallyBehind() tally {
	b := &hashBehind{
		full: make(chan []byte, hashChunks),
		free: make(chan []byte, hashChunks),
		done: make(chan struct{}),
	}
	for range hashChunks {
		b.free <- make([]byte, 0, hashChunkSize)
	}
	h := sha256.New()
	go func() {
		defer close(b.done)
		for c := range b.full {
			h.Write(c)
			b.free <- c[:0]
		}
	}()
	return tally{h: h, behind: b}
}

func (t *tally) add(p []byte) {
	t.n += int64(len(p))
	b := t.behind
	if b == nil {
		t.h.Write(p)
		return
	}
	for len(p) > 0 {
		if b.cur == nil {
			b.cur = <-b.free
		}
		k := copy(b.cur[len(b.cur):cap(b.cur)], p)
		b.cur, p = b.cur[:len(b.cur)+k], p[k:]
		if len(b.cur) == cap(b.cur) {
			b.full <- b.cur
			b.cur = nil
		}
	}
}

// sum returns the checksum of what was added; a tally hashing behind
// finishes its goroutine first and hashes in add from then on.
func (t *tally) sum() string {
	if b := t.behind; b != nil {
		if len(b.cur) > 0 {
			b.full <- b.cur
		}
		t.stop()
	}
	return hex.EncodeToString(t.h.Sum(nil))
}

// stop ends the hashing goroutine, if there is one.
func (t *tally) stop() {
	if b := t.behind; b != nil {
		close(b.full)
		<-b.done
		t.behind = nil
	}
}

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
