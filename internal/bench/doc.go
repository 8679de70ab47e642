// Package bench measures Lifeboat's database backup and restore on the local
// stack against the raw pipeline `pg_basebackup | zstd | age` on the same data
// and disk, and prints one `name=value` line per figure (`make bench-backup`).
//
// It never restarts the shared stack: the filesystem-store runs use workers
// of its own in a Temporal namespace of its own (BenchNamespace), with a
// topology that differs from the stack's only in its store; the S3 run uses
// the stack's own workers in the default namespace.
package bench
