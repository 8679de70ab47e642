package devstack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/runnerhub/lifeboat/internal/codec"
)

// secretCodecKeys holds the stack's payload codec keys (codec.EnvKeys).
const secretCodecKeys = "codec-keys"

// codecServerName is the codec server's component name.
const codecServerName = "codec-server"

// CodecEndpoint is the codec server's address, as the Web UI calls it.
var CodecEndpoint = "http://" + addr(CodecServerPort)

// CodecKeys returns the stack's payload codec keys, or "" while the codec
// is off (a stack whose Temporal and workers run without it keeps running
// without it until it is restarted: see ensureCodecKey).
func (s *Stack) CodecKeys() string { return s.readSecret(secretCodecKeys) }

// codecOn reports whether the stack encrypts payloads.
func (s *Stack) codecOn() bool { return s.CodecKeys() != "" }

// ensureCodecKey creates the codec key when none exists and nothing that
// talks to Temporal is running. Every payload party must agree: the Web
// UI learns the codec endpoint only when Temporal starts, and a worker
// reads the key only when it starts. So the codec is turned on only when
// Temporal and the workers are all about to be started together; a stack
// that runs without it goes on without it until `make down && make dev`.
func (s *Stack) ensureCodecKey() error {
	if s.codecOn() {
		return nil
	}
	for _, c := range s.components() {
		if c.name == "temporal" || strings.HasPrefix(c.name, "worker-") {
			if s.running(c.name, c.exe) > 0 {
				return nil
			}
		}
	}
	key, err := codec.NewKey("dev1")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.secretPath(secretCodecKeys), []byte(key+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", secretCodecKeys, err)
	}
	return nil
}

// uiCodecEndpoint is the Web UI's codec endpoint, or "" while the codec is off.
func (s *Stack) uiCodecEndpoint() string {
	if !s.codecOn() {
		return ""
	}
	return CodecEndpoint
}

// codecServerArgs is the command line of `lifeboat codec-server`. The Web
// UI is reached as 127.0.0.1 (the README's address) or as localhost (the
// address the Temporal server prints), two origins to a browser.
func codecServerArgs() []string {
	return []string{"codec-server", "--listen", addr(CodecServerPort),
		"--ui-origin", fmt.Sprintf("http://%s,http://localhost:%d", addr(TemporalUIPort), TemporalUIPort)}
}

// codecServerComponent is the codec server as Down and Running see it.
func (s *Stack) codecServerComponent() component {
	return component{codecServerName, filepath.Join(s.cfg.BinDir, "lifeboat"), syscall.SIGTERM, 3, []int{CodecServerPort}}
}

// upCodecServer starts `lifeboat codec-server` for the Web UI, when the
// codec is on, and waits for its /healthz.
func (s *Stack) upCodecServer(ctx context.Context) error {
	if !s.codecOn() {
		return nil
	}
	c := s.codecServerComponent()
	if _, err := os.Stat(c.exe); err != nil {
		return fmt.Errorf("the codec server is %s: build it with `make build`: %w", c.exe, err)
	}
	logPath := s.logPath(codecServerName)
	pid, err := s.ensure(procSpec{
		name:  codecServerName,
		path:  c.exe,
		args:  codecServerArgs(),
		env:   append(os.Environ(), codec.EnvKeys+"="+s.CodecKeys()), // the keys go by environment, not argv
		dir:   s.devDir,
		log:   logPath,
		ports: c.ports,
	})
	if err != nil {
		return err
	}
	err = waitReady(ctx, codecServerName, pid, c.exe, logPath, 30*time.Second, func(ctx context.Context) error {
		return httpOK(ctx, CodecEndpoint+"/healthz")
	})
	if err != nil {
		return err
	}
	s.ready(codecServerName, addr(CodecServerPort), "payload codec for the Web UI (--ui-codec-endpoint "+CodecEndpoint+")")
	return nil
}
