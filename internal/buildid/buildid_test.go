package buildid

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOf_ReleaseIsItsVersion(t *testing.T) {
	for _, v := range []string{"v1.4.0", "2492ecb", "v1.4.0-3-g2492ecb"} {
		got, err := Of(v, "/nonexistent") // a release build never reads the binary
		if err != nil {
			t.Fatal(err)
		}
		if got != v {
			t.Errorf("Of(%q) = %q, want the version itself", v, got)
		}
	}
}

func TestOf_DevAndDirtyCarryTheBinarysHash(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, sameAsA, b := write("a", "code one"), write("a2", "code one"), write("b", "code two")
	for _, version := range []string{"", "dev", "2492ecb-dirty"} {
		idA, err := Of(version, a)
		if err != nil {
			t.Fatal(err)
		}
		idA2, _ := Of(version, sameAsA)
		idB, _ := Of(version, b)
		prefix := version
		if prefix == "" {
			prefix = DevVersion
		}
		if !strings.HasPrefix(idA, prefix+"-") || len(idA) != len(prefix)+1+hashDigits {
			t.Errorf("Of(%q) = %q, want %s-<12 hex digits>", version, idA, prefix)
		}
		if idA != idA2 {
			t.Errorf("Of(%q): same bytes gave %q and %q, want one ID", version, idA, idA2)
		}
		if idA == idB {
			t.Errorf("Of(%q): different binaries both gave %q", version, idA)
		}
	}
}

func TestOf_MissingBinaryOfDevBuildFails(t *testing.T) {
	if _, err := Of("dev", filepath.Join(t.TempDir(), "gone")); err == nil {
		t.Fatal("Of of a missing dev binary succeeded, want an error")
	}
}
