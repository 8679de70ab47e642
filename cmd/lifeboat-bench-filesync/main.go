// Command lifeboat-bench-filesync measures Lifeboat's file sync on the
// running local stack against `rsync -a --checksum` over the same generated
// tree, and prints one name=value line per figure (make bench-filesync).
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
	cfg := bench.FileSyncConfig{Logf: func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	}}
	fs := flag.NewFlagSet("lifeboat-bench-filesync", flag.ExitOnError)
	fs.StringVar(&cfg.Root, "root", ".", "the checkout whose local stack runs (make dev)")
	fs.IntVar(&cfg.Files, "files", 20000, "files in the generated tree")
	fs.IntVar(&cfg.SizeMB, "size-mb", 2000, "size of the generated tree in MB (10^6 bytes)")
	fs.Float64Var(&cfg.ChangePercent, "change-percent", 1, "percent of the files changed before each incremental sync")
	fs.IntVar(&cfg.Runs, "runs", 3, "how many times each thing is measured; medians are printed")
	fs.IntVar(&cfg.HotPairs, "hot-pairs", 5, "incremental syncs with everything in the page cache per run, each tool once per pair")
	fs.StringVar(&cfg.Dir, "dir", "", "where the trees go (default .dev/bench-filesync)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the generated tree for the next run")
	_ = fs.Parse(os.Args[1:])

	// Interrupted, the benchmark still stops its workers and cleans up.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench.RunFileSync(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "lifeboat-bench-filesync:", err)
		os.Exit(1)
	}
}
