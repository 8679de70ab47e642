package failbench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// ack is one insert a primary acknowledged.
type ack struct {
	round, seq int
	node       string
	epoch      int64
	at         time.Time
}

// writer inserts a row every writeEvery into the primary the routing record
// names, as an application would, and keeps every acknowledged insert.
type writer struct {
	run   *run
	mu    sync.Mutex
	round int
	seq   int
	acks  []ack
}

func (w *writer) setRound(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.round, w.seq = n, 0
}

func (w *writer) total() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acks)
}

func (w *writer) acksOf(round int) []ack {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []ack
	for _, a := range w.acks {
		if a.round == round {
			out = append(out, a)
		}
	}
	return out
}

func (w *writer) loop(ctx context.Context) {
	var conn *pgx.Conn
	var node string
	var epoch int64
	tick := time.NewTicker(writeEvery)
	defer tick.Stop()
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if conn == nil {
			rec, err := w.run.routing(ctx)
			if err != nil || rec.Primary == "" {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			conn, err = w.run.connect(cctx, rec.Addr)
			cancel()
			if err != nil {
				conn = nil
				continue
			}
			node, epoch = rec.Primary, rec.Epoch
		}
		w.mu.Lock()
		round := w.round
		w.seq++
		seq := w.seq
		w.mu.Unlock()
		if round == 0 {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := conn.Exec(ictx, `INSERT INTO lifeboat_bench.failover_writes (round, seq, node, epoch) VALUES ($1, $2, $3, $4)`, round, seq, node, epoch)
		cancel()
		if err != nil {
			conn.Close(context.Background())
			conn = nil
			continue
		}
		w.mu.Lock()
		w.acks = append(w.acks, ack{round: round, seq: seq, node: node, epoch: epoch, at: time.Now()})
		w.mu.Unlock()
	}
}

// waitAck waits for an acknowledged write of the round by a node other
// than not.
func (w *writer) waitAck(ctx context.Context, round int, not string, timeout time.Duration) error {
	_, err := w.firstAckAfter(ctx, round, not, time.Time{}, timeout)
	return err
}

// firstAckAfter returns when the first write of the round acknowledged
// after since by a node other than not was acknowledged.
func (w *writer) firstAckAfter(ctx context.Context, round int, not string, since time.Time, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		for _, a := range w.acks {
			if a.round == round && a.node != not && a.at.After(since) {
				w.mu.Unlock()
				return a.at, nil
			}
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return time.Time{}, fmt.Errorf("no write acknowledged by a primary other than %q within %s", not, timeout)
}

// Writer is the benchmark's writer for callers that move the primary by
// other means (the reliability suite): it inserts a row every 10 ms into
// the primary the routing record names, under the round the caller sets,
// and counts the acknowledged rows a primary lacks afterwards.
type Writer struct {
	r    *run
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// StartWriter recreates the writer's table on the running stack of the
// checkout at root and starts writing. The caller holds the stack's lock.
func StartWriter(ctx context.Context, root string, logf func(format string, args ...any)) (*Writer, error) {
	r, err := open(Config{Root: root, Logf: logf})
	if err != nil {
		return nil, err
	}
	if err := r.prepareTable(ctx); err != nil {
		r.rdb.Close()
		return nil, err
	}
	r.writer = &writer{run: r}
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	w := &Writer{r: r, stop: stop}
	w.wg.Go(func() { r.writer.loop(wctx) })
	return w, nil
}

// Round makes the following writes those of round n (n > 0) and waits up
// to timeout for the first one acknowledged.
func (w *Writer) Round(ctx context.Context, n int, timeout time.Duration) error {
	w.r.writer.setRound(n)
	return w.r.writer.waitAck(ctx, n, "", timeout)
}

// FirstAckAfter returns when the first write of round n acknowledged after
// since by a node other than not was acknowledged.
func (w *Writer) FirstAckAfter(ctx context.Context, n int, not string, since time.Time, timeout time.Duration) (time.Time, error) {
	return w.r.writer.firstAckAfter(ctx, n, not, since, timeout)
}

// Acked counts the writes of round n acknowledged so far.
func (w *Writer) Acked(n int) int { return len(w.r.writer.acksOf(n)) }

// Missing counts the writes of round n acknowledged so far that the
// primary the routing record names lacks.
func (w *Writer) Missing(ctx context.Context, n int) (int, error) { return w.r.missing(ctx, n) }

// Stop stops writing.
func (w *Writer) Stop() {
	w.stop()
	w.wg.Wait()
	w.r.rdb.Close()
}
