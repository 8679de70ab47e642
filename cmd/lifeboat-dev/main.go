// Command lifeboat-dev starts, inspects and stops the local stack of a
// checkout (see package devstack): `lifeboat-dev up|down|status|env`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/runnerhub/lifeboat/internal/devstack"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "lifeboat-dev:", err)
		os.Exit(1)
	}
}

func usage(fs *flag.FlagSet) {
	fmt.Fprintf(fs.Output(), "usage: lifeboat-dev up|down|status|env|restore-dir|clean-restores [flags]\n\nflags:\n")
	fs.PrintDefaults()
}

func run(args []string) error {
	fs := flag.NewFlagSet("lifeboat-dev", flag.ContinueOnError)
	root := fs.String("root", ".", "checkout root; the stack keeps its state in <root>/.dev")
	workers := fs.Bool("workers", true, "up: also start one lifeboat-worker per region")
	fs.Usage = func() { usage(fs) }
	// Flags may come before or after the subcommand.
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		usage(fs)
		return fmt.Errorf("no subcommand")
	}
	cmd := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	cfg := devstack.DefaultConfig(*root)
	cfg.Logf = func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	stack, err := devstack.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch cmd {
	case "up":
		ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		t0 := time.Now()
		started, err := stack.Up(ctx, devstack.Options{Workers: *workers})
		if err != nil {
			return err
		}
		what := "was already running; checked"
		if started {
			what = "up"
		}
		fmt.Printf("\nstack %s in %s\n", what, time.Since(t0).Round(100*time.Millisecond))
		fmt.Printf("Temporal Web UI: %s\n", stack.WebUIURL())
		fmt.Printf("topology:        %s\n", stack.TopologyPath())
		fmt.Printf("environment:     source %s\n", stack.EnvPath())
		return nil
	case "down":
		if err := stack.Down(ctx); err != nil {
			return err
		}
		fmt.Println("stack down")
		return nil
	case "status":
		ps := stack.Running()
		if len(ps) == 0 {
			fmt.Println("nothing running")
			return nil
		}
		for _, p := range ps {
			fmt.Printf("%-16s pid %d\n", p.Name, p.PID)
		}
		return nil
	case "restore-dir":
		// Where restores of the local stack go; the PostgreSQL user can reach it.
		fmt.Println(stack.RestoreDir())
		return nil
	case "clean-restores":
		if err := stack.CleanRestores(ctx); err != nil {
			return err
		}
		fmt.Println("restored servers stopped and removed")
		return nil
	case "env":
		b, err := os.ReadFile(stack.EnvPath())
		if err != nil {
			return fmt.Errorf("no env file (run `lifeboat-dev up` first): %w", err)
		}
		_, err = os.Stdout.Write(b)
		return err
	default:
		usage(fs)
		return fmt.Errorf("unknown subcommand %q", cmd)
	}
}
