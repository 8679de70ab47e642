// Command lifeboat-bench measures Lifeboat's database backup and restore on
// the running local stack against the raw `pg_basebackup | zstd | age`
// pipeline, and prints one name=value line per figure (make bench-backup).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/runnerhub/lifeboat/internal/bench"
)

func main() {
	cfg := bench.Config{Logf: func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	}}
	fs := flag.NewFlagSet("lifeboat-bench", flag.ExitOnError)
	fs.StringVar(&cfg.Root, "root", ".", "the checkout whose local stack runs (make dev)")
	fs.IntVar(&cfg.Scale, "scale", 50, "pgbench scale factor of the database backed up (about 15 MB each)")
	fs.IntVar(&cfg.Runs, "runs", 3, "how many times each thing is measured; medians are printed")
	fs.BoolVar(&cfg.DropData, "drop", false, "drop the bench database at the end instead of keeping it for the next run")
	_ = fs.Parse(os.Args[1:])

	// Interrupted, the benchmark still stops its workers and restored servers.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench.Run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "lifeboat-bench:", err)
		os.Exit(1)
	}
}
