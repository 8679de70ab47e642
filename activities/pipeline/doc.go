// Package pipeline turns a plain stream into the stored form of a backup and
// back: zstd, then age encryption, with the size and SHA-256 of both sides
// and typed errors for a wrong key, damage, a cut and a manifest mismatch.
package pipeline
