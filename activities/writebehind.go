package activities

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// writeBehind writes files from a goroutine of its own, so that the time
// the disk takes overlaps the decrypting, decompressing and hashing of what
// comes next in the stream. Memory is bounded by its chunks: the reader
// waits for a free one.
type writeBehind struct {
	jobs chan writeJob
	free chan []byte
	done chan struct{}

	mu  sync.Mutex
	err error // the first failure; later writes are skipped
}

// writeJob is one chunk of a file, or with no data the file's end.
type writeJob struct {
	f    *os.File
	name string
	data []byte
}

// newWriteBehind starts the writer with chunks buffers of size bytes.
func newWriteBehind(chunks, size int) *writeBehind {
	w := &writeBehind{
		jobs: make(chan writeJob, chunks),
		free: make(chan []byte, chunks),
		done: make(chan struct{}),
	}
	for range chunks {
		w.free <- make([]byte, size)
	}
	go w.run()
	return w
}

func (w *writeBehind) run() {
	defer close(w.done)
	for j := range w.jobs {
		if j.data == nil {
			// The restored server syncs its whole data directory at start;
			// writing back while the rest streams in leaves it little to wait for.
			if err := startWriteback(j.f); err != nil {
				w.fail(fmt.Errorf("write %s: %w", j.name, err))
			}
			continue
		}
		if w.failure() == nil {
			if _, err := j.f.Write(j.data); err != nil {
				w.fail(fmt.Errorf("write %s: %w", j.name, err))
			}
		}
		w.free <- j.data[:cap(j.data)]
	}
}

func (w *writeBehind) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

func (w *writeBehind) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// copy reads r to its end into f and closes f once written. f belongs to
// the writer from the call on, whatever it returns. A failed write shows in
// a later call or in wait.
func (w *writeBehind) copy(f *os.File, name string, r io.Reader) (int64, error) {
	defer func() { w.jobs <- writeJob{f: f, name: name} }()
	var n int64
	for {
		if err := w.failure(); err != nil {
			return n, err
		}
		buf := <-w.free
		k, err := fill(r, buf)
		n += int64(k)
		if k > 0 {
			w.jobs <- writeJob{f: f, name: name, data: buf[:k]}
		} else {
			w.free <- buf
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// fill reads into buf until it is full or r ends; unlike io.ReadFull it
// passes on io.ErrUnexpectedEOF only when r says so (a truncated tar).
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// wait stops the writer once every file is written and closed, and
// returns the first failure.
func (w *writeBehind) wait() error {
	close(w.jobs)
	<-w.done
	return w.failure()
}
