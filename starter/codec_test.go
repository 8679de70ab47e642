package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/runnerhub/lifeboat/internal/codec"
)

func TestCodecKey_PrintsAKeyTheCodecTakes(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run([]string{"codec-key", "2026-06"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(stdout.String())
	c, err := codec.New(line)
	if err != nil {
		t.Fatalf("codec-key printed %q, which the codec refuses: %v", line, err)
	}
	if c.CurrentKeyID() != "2026-06" {
		t.Errorf("key ID = %q, want 2026-06", c.CurrentKeyID())
	}
}

func TestCodecServer_RefusesToStartWithoutKeysOrOrigin(t *testing.T) {
	var stdout, stderr bytes.Buffer
	t.Setenv(codec.EnvKeys, "")
	err := run([]string{"codec-server", "--ui-origin", "http://127.0.0.1:18233", "--listen", "127.0.0.1:0"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), codec.EnvKeys) {
		t.Errorf("without keys: %v, want an error naming %s", err, codec.EnvKeys)
	}
	key, _ := codec.NewKey("k")
	t.Setenv(codec.EnvKeys, key)
	err = run([]string{"codec-server", "--listen", "127.0.0.1:0"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--ui-origin") {
		t.Errorf("without an origin: %v, want an error naming --ui-origin", err)
	}
}
