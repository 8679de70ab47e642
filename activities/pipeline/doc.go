// Package pipeline turns a plain stream into the stored form of a backup and
// back: zstd, then age encryption for one or more X25519 recipients, with the
// size and SHA-256 of both the plain and the stored bytes, and typed errors
// for a wrong key, a damaged or cut object and a manifest mismatch.
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
// streams 1 GiB through Seal into a pipe read by Open and holds the live heap,
// measured after a forced collection every 8 MiB, to the sum of both: at
// level 3 with concurrency 2 it peaked at 9.4 MiB against a bound of 12.2,
// and the heap with uncollected garbage at about twice that (GOGC=100); with
// concurrency 3, over 128 MiB, at 90 to 160 MiB against 222.
//
// Concurrency 2, the default, compresses on one goroutine while the caller
// feeds the next block and another encrypts and writes: on two cores that
// was both the fastest and the leanest. From 3 on, zstd compresses
// sections in parallel: that is for hosts with cores to spare (on a busy
// two-core host it was slower than 2) and costs the memory above.
package pipeline
