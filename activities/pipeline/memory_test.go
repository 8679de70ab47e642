package pipeline

import (
	"io"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
)

// heapWatch measures the live heap (after a forced collection, every
// `every` bytes of input) and the peak heap including garbage (sampled
// every few milliseconds), both above what was live before the stream.
type heapWatch struct {
	base      uint64
	peakLive  uint64
	peakHeap  uint64
	every     int64
	n         int64
	stop      chan struct{}
	wg        sync.WaitGroup
	collected int
}

func watchHeap(every int64) *heapWatch {
	runtime.GC()
	runtime.GC() // twice: the first leaves sync.Pool victims alive
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h := &heapWatch{base: ms.HeapAlloc, every: every, stop: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-tick.C:
				metrics.Read(s)
				if v := s[0].Value.Uint64(); v > h.base && v-h.base > h.peakHeap {
					h.peakHeap = v - h.base
				}
			}
		}
	}()
	return h
}

// tap wraps the plain source so that the live heap is measured as it flows.
func (h *heapWatch) tap(r io.Reader) io.Reader {
	return readFunc(func(p []byte) (int, error) {
		n, err := r.Read(p)
		before := h.n / h.every
		h.n += int64(n)
		if h.n/h.every != before {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > h.base && ms.HeapAlloc-h.base > h.peakLive {
				h.peakLive = ms.HeapAlloc - h.base
			}
			h.collected++
		}
		return n, err
	})
}

func (h *heapWatch) done() {
	close(h.stop)
	h.wg.Wait()
}

// raceEnabled is set under the race detector, which slows streams many
// times over.
var raceEnabled = false

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

// The whole pipeline, sealing into a pipe that is opened on the other side,
// holds no more than the bound Options gives however long the stream:
// nothing is staged whole in memory.
func TestSealOpen_MemoryStaysBoundedWhateverTheSize(t *testing.T) {
	id, rcp := keyPair(t)
	tests := []struct {
		name         string
		size, short  int64
		compressible bool
		level, n     int
	}{
		{"1GiB random, level 3, concurrency 2", 1 << 30, 128 << 20, false, 3, 2},
		{"256MiB text, level 3, concurrency 2", 256 << 20, 64 << 20, true, 3, 2},
		{"64MiB text, level 7, concurrency 2", 64 << 20, 32 << 20, true, 7, 2},
		{"64MiB text, level 3, concurrency 1", 64 << 20, 32 << 20, true, 3, 1},
		{"128MiB random, level 3, concurrency 3", 128 << 20, 32 << 20, false, 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := tt.size
			if testing.Short() || raceEnabled {
				size = tt.short
			}
			bound := sealMemory(tt.level, tt.n) + openMemory(windowFor(tt.level)) + mib // 1 MiB: the test's generator and pipe
			h := watchHeap(8 << 20)
			start := time.Now()

			pr, pw := io.Pipe()
			type result struct {
				sums Sums
				err  error
			}
			sealed := make(chan result, 1)
			go func() {
				sums, err := SealFrom(pw, h.tap(newGenReader(size, tt.compressible, 1)),
					Options{Recipients: []age.Recipient{rcp}, Level: tt.level, Concurrency: tt.n})
				pw.CloseWithError(err)
				sealed <- result{sums, err}
			}()
			r, err := Open(pr, []age.Identity{id}, Sums{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.CopyBuffer(io.Discard, r, make([]byte, 256<<10)); err != nil {
				t.Fatalf("open: %v", err)
			}
			r.Close()
			s := <-sealed
			h.done()
			if s.err != nil {
				t.Fatalf("seal: %v", s.err)
			}
			got, _ := r.Sums()
			if got.PlainSize != size || got.PlainSHA256 != s.sums.PlainSHA256 || got.StoredSHA256 != s.sums.StoredSHA256 {
				t.Fatalf("opened %+v, sealed %+v", got, s.sums)
			}

			elapsed := time.Since(start)
			t.Logf("%d MiB → %d MiB stored in %v (%.0f MB/s sealed and opened); live heap peak %.1f MiB (bound %.1f), heap with garbage peak %.1f MiB; %d samples",
				size>>20, s.sums.StoredSize>>20, elapsed.Round(time.Millisecond), float64(size)/elapsed.Seconds()/1e6,
				float64(h.peakLive)/mib, float64(bound)/mib, float64(h.peakHeap)/mib, h.collected)
			if h.collected < 2 {
				t.Fatalf("only %d samples", h.collected)
			}
			if int64(h.peakLive) > bound {
				t.Fatalf("live heap reached %.1f MiB, over the bound of %.1f MiB", float64(h.peakLive)/mib, float64(bound)/mib)
			}
			// The collector lets the heap grow to about twice what is live
			// (GOGC=100) before it collects.
			if limit := 2*bound + 2*int64(h.base) + 8*mib; int64(h.peakHeap) > limit {
				t.Fatalf("heap with garbage reached %.1f MiB, over %.1f MiB", float64(h.peakHeap)/mib, float64(limit)/mib)
			}
		})
	}
}
