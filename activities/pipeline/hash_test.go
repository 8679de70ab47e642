package pipeline

import (
	"math/rand/v2"
	"testing"
)

func TestTallyBehind_SumsAsTheCallerWould(t *testing.T) {
	data := randomBytes(3*hashChunkSize+12345, 7)
	rng := rand.New(rand.NewPCG(1, 2))
	sync, behind := newTally(), newTallyBehind()
	for p := data; len(p) > 0; {
		k := min(len(p), rng.IntN(2*hashChunkSize))
		sync.add(p[:k])
		behind.add(p[:k])
		p = p[k:]
	}
	if got, want := behind.sum(), sync.sum(); got != want || behind.n != sync.n {
		t.Fatalf("behind: %s over %d bytes, want %s over %d", got, behind.n, want, sync.n)
	}
	behind.stop() // after sum: nothing left to stop
}
