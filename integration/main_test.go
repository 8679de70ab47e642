// Package integration runs Lifeboat against the real local stack (Temporal,
// PostgreSQL streaming replication, Redis Sentinel, an S3-compatible server,
// a worker per region), started by internal/devstack as `make dev` does.
package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/internal/tclient"
)

// stack is the local stack the tests run against.
var stack *devstack.Stack

// root is the checkout's top directory.
var root string

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	var err error
	root, err = filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg := devstack.DefaultConfig(root)
	if err := devstack.CheckDeps(cfg.BinDir); err != nil {
		fmt.Fprintf(os.Stderr, "integration tests need the local stack's dependencies:\n%v\n", err)
		return 1
	}
	if err := buildBinaries(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "devstack: "+format+"\n", args...) }
	stack, err = devstack.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// A stack the tests find running (`make dev`), even in part, is the
	// operator's and is left running; one they start from nothing is theirs.
	wasRunning := len(stack.Running()) > 0
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	started, err := stack.Up(ctx, devstack.Options{Workers: true})
	started = started && !wasRunning
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "start the local stack: %v\n", err)
		if started {
			// What this run started half-way is stopped, so the next run
			// finds its ports free.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := stack.Down(ctx); err != nil {
				fmt.Fprintf(os.Stderr, "stop the local stack: %v\n", err)
			}
		}
		return 1
	}
	code := m.Run()
	printChaosTable(os.Stderr)
	if started {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := stack.Down(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "stop the local stack: %v\n", err)
			return 1
		}
	}
	return code
}

// buildBinaries builds the worker and CLI the stack runs, so `go test`
// alone tests the code of this checkout, not a stale bin/.
func buildBinaries() error {
	for _, b := range []struct{ out, pkg string }{
		{"lifeboat", "./starter"},
		{"lifeboat-worker", "./worker"},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(root, "bin", b.out), b.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return nil
}

// temporalClient connects to the stack's Temporal server, with the stack's
// payload codec when it has one.
func temporalClient(t *testing.T) client.Client {
	t.Helper()
	opts, err := tclient.Options{Address: devstack.TemporalAddress, Namespace: devstack.Namespace, CodecKeys: stack.CodecKeys()}.ClientOptions()
	if err != nil {
		t.Fatal(err)
	}
	opts.Logger = testLogger{t}
	c, err := client.Dial(opts)
	if err != nil {
		t.Fatalf("connect to temporal: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// testLogger routes the SDK's warnings and errors through t.Log.
type testLogger struct{ t *testing.T }

func (l testLogger) Debug(string, ...any) {}
func (l testLogger) Info(string, ...any)  {}
func (l testLogger) Warn(msg string, kv ...any) {
	l.t.Helper()
	l.t.Log(append([]any{"WARN", msg}, kv...)...)
}
func (l testLogger) Error(msg string, kv ...any) {
	l.t.Helper()
	l.t.Log(append([]any{"ERROR", msg}, kv...)...)
}

// lifeboat runs the CLI with the stack's environment.
func lifeboat(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "bin", "lifeboat"), args...)
	cmd.Env = append(os.Environ(), stack.Env()...)
	var o, e bytesBuffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}
