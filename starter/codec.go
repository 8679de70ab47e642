package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/runnerhub/lifeboat/internal/codec"
	"github.com/runnerhub/lifeboat/internal/tclient"
)

// codecServer runs `lifeboat codec-server`: the payload codec over HTTP,
// for the Temporal Web UI (--ui-codec-endpoint) and the temporal CLI
// (--codec-endpoint), until SIGTERM or SIGINT.
func codecServer(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("codec-server", flag.ContinueOnError)
	listen := fs.String("listen", tclient.Env("LIFEBOAT_CODEC_LISTEN", "127.0.0.1:8234"), "address to serve /encode and /decode on (LIFEBOAT_CODEC_LISTEN)")
	origins := fs.String("ui-origin", tclient.Env("LIFEBOAT_CODEC_UI_ORIGIN", ""), "the Web UI's origin(s), comma-separated, e.g. http://127.0.0.1:8233: the only pages answered (LIFEBOAT_CODEC_UI_ORIGIN)")
	if pos, err := parseInterspersed(fs, args); err != nil || len(pos) > 0 {
		return errUsage
	}
	allowed, err := codec.ParseOrigins(*origins)
	if err != nil {
		return fmt.Errorf("--ui-origin: %w", err)
	}
	keys := os.Getenv(codec.EnvKeys)
	if keys == "" {
		return codec.ErrNoKeys
	}
	c, err := codec.New(keys)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("codec server: %w", err)
	}
	srv := &http.Server{Handler: codec.Handler(c, allowed), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stderr, "lifeboat codec-server: serving /encode and /decode on http://%s for %v (current key %s)\n", ln.Addr(), allowed, c.CurrentKeyID())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("codec server: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// codecKey runs `lifeboat codec-key [ID]`: prints a new key entry for
// LIFEBOAT_CODEC_KEYS. The ID defaults to today's date, which orders keys
// by age when they are rotated.
func codecKey(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("codec-key", flag.ContinueOnError)
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) > 1 {
		return errUsage
	}
	id := time.Now().UTC().Format("20060102")
	if len(pos) == 1 {
		id = pos[0]
	}
	k, err := codec.NewKey(id)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, k)
	return nil
}
