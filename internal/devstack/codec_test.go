package devstack

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/runnerhub/lifeboat/internal/codec"
)

func TestEnsureCodecKey_OnAFreshStackTurnsTheCodecOn(t *testing.T) {
	s := newTestStack(t)
	if err := os.MkdirAll(filepath.Join(s.devDir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	if s.codecOn() || s.uiCodecEndpoint() != "" {
		t.Fatal("codec on before any key exists")
	}
	if err := s.ensureCodecKey(); err != nil {
		t.Fatal(err)
	}
	key := s.CodecKeys()
	if _, err := codec.New(key); err != nil {
		t.Fatalf("generated key %q does not parse: %v", key, err)
	}
	if fi, err := os.Stat(s.secretPath(secretCodecKeys)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v; want mode 0600", fi, err)
	}
	if got, want := s.uiCodecEndpoint(), "http://127.0.0.1:18234"; got != want {
		t.Errorf("UI codec endpoint = %q, want %q", got, want)
	}
	if !slices.Contains(s.Env(), "LIFEBOAT_CODEC_KEYS="+key) {
		t.Errorf("Env lacks the key: %q", s.Env())
	}
	if err := s.ensureCodecKey(); err != nil || s.CodecKeys() != key {
		t.Errorf("second call changed the key: %q, then %q (%v)", key, s.CodecKeys(), err)
	}
}

// A stack whose Temporal or workers already run without the codec keeps
// running without it: turning it on for the clients alone would send the
// workers payloads they cannot open.
func TestEnsureCodecKey_NotWhileTemporalRunsWithoutIt(t *testing.T) {
	s := newTestStack(t)
	for _, d := range []string{"secrets", "pids"} {
		if err := os.MkdirAll(filepath.Join(s.devDir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// A process the stack takes for its Temporal server: named temporal,
	// in the pid file.
	if err := os.MkdirAll(s.cfg.BinDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(s.cfg.BinDir, "temporal")
	if err := os.WriteFile(fake, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fake, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := writePID(s.pidFile("temporal"), cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if s.running("temporal", fake) == 0 {
		t.Fatal("the fake temporal is not seen as running")
	}

	if err := s.ensureCodecKey(); err != nil {
		t.Fatal(err)
	}
	if s.codecOn() {
		t.Error("a key was made while Temporal runs without the codec")
	}
	if !slices.Contains(s.Env(), "LIFEBOAT_CODEC_KEYS=") {
		t.Errorf("Env should carry an empty key, so inherited keys are not used: %q", s.Env())
	}
}

func TestTemporalArgs_UICodecEndpointOnlyWhenOn(t *testing.T) {
	if got := strings.Join(temporalArgs("/r/t.db", ""), " "); strings.Contains(got, "--ui-codec-endpoint") {
		t.Errorf("codec off, args have an endpoint: %s", got)
	}
	got := strings.Join(temporalArgs("/r/t.db", CodecEndpoint), " ")
	if !strings.Contains(got, "--ui-codec-endpoint http://127.0.0.1:18234") {
		t.Errorf("args lack the UI codec endpoint: %s", got)
	}
}

func TestCodecServerArgs_ListenAndUIOrigin(t *testing.T) {
	got := strings.Join(codecServerArgs(), " ")
	if want := "codec-server --listen 127.0.0.1:18234 --ui-origin http://127.0.0.1:18233,http://localhost:18233"; got != want {
		t.Errorf("args = %q, want %q", got, want)
	}
	if o, err := codec.ParseOrigins(codecServerArgs()[4]); err != nil || len(o) != 2 {
		t.Errorf("the UI origins %v do not parse: %v", o, err)
	}
}
