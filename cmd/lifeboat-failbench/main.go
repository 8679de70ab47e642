// Command lifeboat-failbench measures automatic failover on the running
// local stack and prints one name=value line per figure (make
// bench-failover).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/runnerhub/lifeboat/internal/failbench"
)

func main() {
	cfg := failbench.Config{Logf: func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "bench-failover: "+format+"\n", args...)
	}}
	fs := flag.NewFlagSet("lifeboat-failbench", flag.ExitOnError)
	fs.StringVar(&cfg.Root, "root", ".", "the checkout whose local stack runs (make dev)")
	fs.IntVar(&cfg.Rounds, "rounds", 5, "how many failovers to measure")
	fs.StringVar(&cfg.Fault, "fault", failbench.FaultKill, "what happens to the primary: kill (SIGKILL of the postmaster) or freeze (SIGSTOP of all its processes)")
	fs.DurationVar(&cfg.Idle, "idle", 31*time.Minute, "how long to watch the monitor's history on a quiet cluster (0: not at all)")
	_ = fs.Parse(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := failbench.Run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "lifeboat-failbench:", err)
		os.Exit(1)
	}
}
