// Package pipeline turns a plain stream into the stored form of a backup and
// back: zstd, then age encryption, streamed into an object store and read
// back to check it, with the size and SHA-256 of both sides and typed errors
// for a wrong key, damage, a cut and a manifest mismatch.
package pipeline
