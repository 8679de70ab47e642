// Package bench measures Lifeboat on the local stack against what it stands
// in for, on the same data and disk: backup and restore against the pipeline
// `pg_basebackup | zstd | age`, file sync against `rsync -a --checksum`.
package bench
