package tick

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestEvery_TicksUntilStoppedAndNeverAfter(t *testing.T) {
	var n atomic.Int32
	stop := Every(context.Background(), 5*time.Millisecond, func() bool { n.Add(1); return true })
	time.Sleep(60 * time.Millisecond)
	stop()
	at := n.Load()
	if at < 2 {
		t.Fatalf("%d ticks in 60 ms at 5 ms apart", at)
	}
	time.Sleep(20 * time.Millisecond)
	if n.Load() != at {
		t.Errorf("f ran %d times after stop returned", n.Load()-at)
	}
}

func TestEvery_StopsWhenFSaysSoOrTheContextEnds(t *testing.T) {
	var n atomic.Int32
	stop := Every(context.Background(), time.Millisecond, func() bool { return n.Add(1) < 3 })
	time.Sleep(30 * time.Millisecond)
	stop() // still returns after f ended the loop
	if n.Load() != 3 {
		t.Errorf("f ran %d times, want 3: it said stop at the third", n.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	var m atomic.Int32
	stop = Every(ctx, time.Millisecond, func() bool { m.Add(1); return true })
	cancel()
	time.Sleep(10 * time.Millisecond)
	at := m.Load()
	time.Sleep(10 * time.Millisecond)
	if m.Load() != at {
		t.Error("f still ran after the context ended")
	}
	stop()
}

func TestNowAndEvery_CallsAtOnceThenEveryInterval(t *testing.T) {
	var n atomic.Int32
	stop := NowAndEvery(context.Background(), time.Hour, func() bool { n.Add(1); return true })
	time.Sleep(20 * time.Millisecond)
	stop()
	if n.Load() != 1 {
		t.Errorf("f ran %d times in the first 20 ms of an hourly tick, want once at once", n.Load())
	}
}
