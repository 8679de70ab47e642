package devstack

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
)

// CheckDeps reports every missing dependency of the stack at once, each with
// the command that installs it; binDir holds the Go-built binaries.
func CheckDeps(binDir string) error {
	var missing []string
	const aptPG = "apt-get install -y postgresql-15"
	for _, prog := range []string{"postgres", "initdb", "pg_basebackup"} {
		if !isExecutable(filepath.Join(PostgresBinDir, prog)) {
			missing = append(missing, fmt.Sprintf("PostgreSQL 15 (%s): %s", filepath.Join(PostgresBinDir, prog), aptPG))
			break
		}
	}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup(postgresOSUser); err != nil {
			missing = append(missing, fmt.Sprintf("the %q OS user (PostgreSQL cannot run as root): %s", postgresOSUser, aptPG))
		}
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		missing = append(missing, "redis-server: apt-get install -y redis-server")
	}
	gobins := []struct{ name, pkg string }{
		{"temporal", "github.com/temporalio/cli/cmd/temporal@" + temporalVersion},
		{"versitygw", "github.com/versity/versitygw/cmd/versitygw@" + versitygwVersion},
	}
	for _, b := range gobins {
		p := filepath.Join(binDir, b.name)
		if !isExecutable(p) {
			missing = append(missing, fmt.Sprintf("%s: make deps (or GOBIN=%s go install %s)", p, binDir, b.pkg))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return errors.New("missing dependencies of the local stack:\n  " + strings.Join(missing, "\n  "))
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
