package pipeline

import (
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// The memory a stream holds, whatever its length, in bytes of live heap.
// These are the bounds Options states; memory_test.go holds the
// pipeline to them. Terms, from klauspost/compress v1.20.4:
//
//   - an encoder keeps a history of two windows and its match tables;
//   - streamed (Concurrency 1 or 2) there is one encoder and a few 128 KiB
//     blocks, plus age's 64 KiB chunk;
//   - in sections (Concurrency n ≥ 3) there are n+1 encoders, and sections
//     of J = 4 windows: n+3 input buffers (n queued, one being written out,
//     one being handed over, one filling), n+2 output buffers of up to
//     1.25·J (append's growth), and n more being regrown; zstd recycles
//     both kinds through sync.Pools, whose per-P private slots (current
//     and victim) another P cannot take from, so up to 2·GOMAXPROCS more
//     of each can sit idle while new ones are made;
//   - the decoder keeps one window and a block.
const (
	blockBuffers = 2 << 20 // blocks, age chunks, bufio and hashes, on either side
	mib          = 1 << 20
)

// encoderTables is the size of the match tables of the encoder used at a zstd level.
func encoderTables(level int) int64 {
	switch zstd.EncoderLevelFromZstd(level) {
	case zstd.SpeedFastest:
		return 1 << 15 * 8 // one table of 2^15 entries
	case zstd.SpeedDefault:
		return (1<<17 + 1<<15) * 8
	case zstd.SpeedBetterCompression:
		return (1<<19 + 1<<13) * 8
	default:
		return (1<<22 + 1<<18) * 8
	}
}

// sealMemory bounds the live heap of a Sealer at a zstd level and concurrency (both already defaulted).
func sealMemory(level, n int) int64 {
	w := int64(windowFor(level))
	encoder := 2*w + encoderTables(level)
	if n <= 2 {
		return encoder + blockBuffers
	}
	section := 4 * w
	idle := 2 * runtime.GOMAXPROCS(0)
	sections := int64(4*(n+3+idle)+5*(n+2+idle)+4*n) * section / 4 // (n+3+idle) + 1.25·(n+2+idle) + n
	return int64(n+1)*encoder + sections + blockBuffers
}

// openMemory bounds the live heap of a Reader on a stream with the given zstd window.
func openMemory(window int) int64 {
	return int64(window) + blockBuffers
}
