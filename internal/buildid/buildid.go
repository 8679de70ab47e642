// Package buildid names the build of a Lifeboat binary for Worker
// Versioning: workflows pinned to a build run only on workers whose build ID
// is the same, so the ID must change whenever the code does.
package buildid

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
)

// DevVersion is main.version of a binary built without -ldflags.
const DevVersion = "dev"

// hashDigits is how much of the binary's SHA-256 a dev build ID carries.
const hashDigits = 12

// Of returns the build ID of the binary at exe whose main.version is
// version. A release build (`make build` of a clean tree: `git describe
// --always`) is its version. A build whose version does not pin its code —
// "dev" (plain `go build`, as the integration tests build) or a tree with
// uncommitted changes ("-dirty") — gets the first 12 hex digits of the
// binary's SHA-256 appended: the same source gives the same ID, a change
// gives another.
func Of(version, exe string) (string, error) {
	if version == "" {
		version = DevVersion
	}
	if version != DevVersion && !strings.HasSuffix(version, "-dirty") {
		return version, nil
	}
	f, err := os.Open(exe)
	if err != nil {
		return "", fmt.Errorf("build id: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("build id: hash %s: %w", exe, err)
	}
	return version + "-" + hex.EncodeToString(h.Sum(nil))[:hashDigits], nil
}

// Self is Of for the running binary.
func Self(version string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("build id: %w", err)
	}
	return Of(version, exe)
}
