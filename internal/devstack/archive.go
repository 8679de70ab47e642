package devstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// WAL archiving runs `lifeboat wal-push` as PostgreSQL's archive_command, as
// the PostgreSQL user. That user may not enter the checkout (CI clones under
// a directory only root can open), so what the command needs — the binary,
// the topology and the age identity for wal-fetch — is copied into the
// shared directory at every Up.

// ArchiveTimeout bounds the age of the newest archived WAL, and so the RPO
// of a restore from the archive.
const ArchiveTimeout = "60s"

func (s *Stack) sharedBin() string      { return filepath.Join(s.cfg.SharedDir, "bin", "lifeboat") }
func (s *Stack) sharedTopology() string { return filepath.Join(s.cfg.SharedDir, "topology.yaml") }
func (s *Stack) sharedIdentity() string {
	return filepath.Join(s.cfg.SharedDir, "secrets", secretAgeIdentity)
}

// prepareArchiving copies the CLI, the topology and the identity where the
// PostgreSQL user can read them.
func (s *Stack) prepareArchiving(u pgUser) error {
	src := filepath.Join(s.cfg.BinDir, "lifeboat")
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("WAL archiving needs %s: build it with `make build`", src)
	}
	copies := []struct {
		from, to string
		mode     os.FileMode
	}{
		{src, s.sharedBin(), 0o700},
		{s.TopologyPath(), s.sharedTopology(), 0o600},
		{s.secretPath(secretAgeIdentity), s.sharedIdentity(), 0o600},
	}
	for _, c := range copies {
		if err := os.MkdirAll(filepath.Dir(c.to), 0o700); err != nil {
			return err
		}
		if err := chownTo(filepath.Dir(c.to), u); err != nil {
			return err
		}
		b, err := os.ReadFile(c.from)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(c.to, b, c.mode); err != nil {
			return fmt.Errorf("copy %s: %w", c.from, err)
		}
		if err := chownTo(c.to, u); err != nil {
			return err
		}
	}
	return nil
}

// archiveArgs are the postgres command-line settings that turn archiving on,
// and let a standby fetch from the archive the WAL its upstream no longer
// keeps (after failovers a replication slot may be gone or behind), as
// Patroni does with pgBackRest. They are given at every start rather than
// written into postgresql.conf, so a data directory whose postgresql.conf
// lacks them archives too; workers restart nodes with the same options.
func (s *Stack) archiveArgs() []string {
	push := strings.Join([]string{s.sharedBin(), "wal-push", "--topology", s.sharedTopology(), "%p"}, " ")
	fetch := strings.Join([]string{s.sharedBin(), "wal-fetch", "--topology", s.sharedTopology(), "%f", "%p"}, " ")
	return []string{
		"-c", "archive_mode=on",
		"-c", "archive_command=" + push,
		"-c", "archive_timeout=" + ArchiveTimeout,
		"-c", "restore_command=" + fetch,
	}
}

// archiveEnv is what archive_command needs from the postmaster's environment.
func (s *Stack) archiveEnv() []string {
	return []string{
		EnvS3AccessKey + "=" + s.readSecret(secretS3AccessKey),
		EnvS3SecretKey + "=" + s.readSecret(secretS3SecretKey),
	}
}

// RestoreDir is where restores and drills of the local stack put their data
// directories: inside the shared directory, so the PostgreSQL user can
// reach them. Down stops every server running from it.
func (s *Stack) RestoreDir() string { return filepath.Join(s.cfg.SharedDir, "restores") }

// DrillDir is the drills' scratch directory (the topology's
// drill.scratch_dir); each drill removes its own part when it ends.
func (s *Stack) DrillDir() string { return filepath.Join(s.cfg.SharedDir, "drills") }

// stopRestored stops the servers that restores started under RestoreDir:
// the stack did not start them, but `down` leaves nothing of it running.
func (s *Stack) stopRestored(ctx context.Context) error {
	pidFiles, _ := filepath.Glob(filepath.Join(s.RestoreDir(), "*", "postmaster.pid"))
	drills, _ := filepath.Glob(filepath.Join(s.DrillDir(), "*", "*", "postmaster.pid"))
	pidFiles = append(pidFiles, drills...)
	var errs []error
	for _, f := range pidFiles {
		pid := readPID(f)
		if pid == 0 {
			continue
		}
		exe := filepath.Join(PostgresBinDir, "postgres")
		if err := stopProcess(ctx, pid, exe, syscall.SIGINT, stopTimeout); err != nil {
			errs = append(errs, fmt.Errorf("stop restored server %s: %w", filepath.Dir(f), err))
			continue
		}
		s.logf("%-12s stopped (pid %d)", "restored "+filepath.Base(filepath.Dir(f)), pid)
	}
	return errors.Join(errs...)
}

// CleanRestores stops the servers restores started and removes their data.
func (s *Stack) CleanRestores(ctx context.Context) error {
	if err := s.stopRestored(ctx); err != nil {
		return err
	}
	return os.RemoveAll(s.RestoreDir())
}
