package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runnerhub/lifeboat/internal/devstack"
)

// Database is the database pgbench fills on the primary.
const Database = "bench"

// connect opens a connection to db on the stack's node at port.
func (b *bench) connect(ctx context.Context, port int, db string) (*pgx.Conn, error) {
	url := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable&connect_timeout=5", devstack.PGUser, devstack.Host, port, db)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.Password = b.pgPassword
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s on port %d: %w", db, port, err)
	}
	return conn, nil
}

// ensureData makes the bench database hold pgbench's tables at the scale
// asked for, reusing a complete one of that scale.
func (b *bench) ensureData(ctx context.Context) error {
	have, err := b.loadedScale(ctx)
	if err != nil {
		return err
	}
	if have == b.cfg.Scale {
		b.logf("database %s already holds pgbench scale %d: reused", Database, have)
		return nil
	}
	conn, err := b.connect(ctx, devstack.PGA1Port, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, q := range []string{"DROP DATABASE IF EXISTS " + Database + " WITH (FORCE)", "CREATE DATABASE " + Database} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	b.logf("pgbench -i -s %d into %s on pg-a1 (about %d MB)", b.cfg.Scale, Database, b.cfg.Scale*15)
	start := time.Now()
	cmd := exec.CommandContext(ctx, filepath.Join(devstack.PostgresBinDir, "pgbench"), "-i", "-q",
		"-s", strconv.Itoa(b.cfg.Scale), "-h", devstack.Host, "-p", strconv.Itoa(devstack.PGA1Port),
		"-U", devstack.PGUser, Database)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+b.pgPassword)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %w: %s", err, lastLine(out))
	}
	b.logf("loaded in %.0fs", time.Since(start).Seconds())
	return nil
}

// loadedScale is the scale of a complete pgbench load in the bench
// database, or 0. The primary key of pgbench_accounts is made last, so its
// presence says the load finished.
func (b *bench) loadedScale(ctx context.Context) (int, error) {
	conn, err := b.connect(ctx, devstack.PGA1Port, "postgres")
	if err != nil {
		return 0, err
	}
	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", Database).Scan(&exists)
	conn.Close(ctx)
	if err != nil || !exists {
		return 0, err
	}
	conn, err = b.connect(ctx, devstack.PGA1Port, Database)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var complete bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('pgbench_accounts_pkey') IS NOT NULL AND to_regclass('pgbench_branches') IS NOT NULL").Scan(&complete); err != nil || !complete {
		return 0, err
	}
	var scale int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM pgbench_branches").Scan(&scale)
	return scale, err
}

// settle brings the stack to the same quiet state before every measured
// step: the primary's WAL archived (the archiver would otherwise compete for
// the CPU), the backup source caught up, and a fresh restartpoint on it, so
// every base backup starts from a recent checkpoint and carries the same
// small amount of WAL.
func (b *bench) settle(ctx context.Context) error {
	primary, err := b.connect(ctx, devstack.PGA1Port, "postgres")
	if err != nil {
		return err
	}
	defer primary.Close(context.WithoutCancel(ctx))
	if _, err := primary.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint on pg-a1: %w", err)
	}
	var lsn string
	if err := primary.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
		return err
	}
	if err := b.waitFor(ctx, 15*time.Minute, "pg-a1 to archive its WAL", func() (bool, string, error) {
		var ready int
		err := primary.QueryRow(ctx, "SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'").Scan(&ready)
		return ready == 0, fmt.Sprintf("%d segments waiting", ready), err
	}); err != nil {
		return err
	}

	source, err := b.connect(ctx, sourcePort, "postgres")
	if err != nil {
		return err
	}
	defer source.Close(context.WithoutCancel(ctx))
	if err := b.waitFor(ctx, 5*time.Minute, sourceNode+" to replay up to "+lsn, func() (bool, string, error) {
		var caughtUp bool
		err := source.QueryRow(ctx, "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), $1::pg_lsn) >= 0", lsn).Scan(&caughtUp)
		return caughtUp, "", err
	}); err != nil {
		return err
	}
	// On a standby CHECKPOINT makes a restartpoint at the checkpoint just
	// replayed.
	if _, err := source.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("restartpoint on %s: %w", sourceNode, err)
	}
	// The other replica's restartpoint and the page cache's writeback of
	// what the servers (or the step before) wrote would otherwise land in
	// the middle of the next step: at scale 200 that is gigabytes.
	if other, err := b.connect(ctx, otherReplicaPort, "postgres"); err == nil {
		_, _ = other.Exec(ctx, "CHECKPOINT") // best effort: it may be behind or down
		other.Close(context.WithoutCancel(ctx))
	}
	syscall.Sync()
	return nil
}

// waitFor polls check every half second until it reports done, saying what
// it waits for when that takes more than a few seconds.
func (b *bench) waitFor(ctx context.Context, timeout time.Duration, what string, check func() (done bool, state string, err error)) error {
	start := time.Now()
	said := time.Time{}
	for {
		done, state, err := check()
		if err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		if done {
			return nil
		}
		if time.Since(start) > timeout {
			return fmt.Errorf("gave up waiting %s for %s (%s)", timeout, what, state)
		}
		if time.Since(start) > 5*time.Second && time.Since(said) > 30*time.Second {
			said = time.Now()
			b.logf("waiting for %s %s", what, state)
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), fmt.Errorf("wait for %s", what))
		case <-time.After(500 * time.Millisecond):
		}
	}
}
