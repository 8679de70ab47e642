package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/walarchive"
	"github.com/runnerhub/lifeboat/internal/tclient"
	"github.com/runnerhub/lifeboat/schemas"
)

// walTimeout bounds one archive or restore command: PostgreSQL retries a
// failed archive_command, so a hung store must fail rather than block.
const walTimeout = 5 * time.Minute

// walArchive loads the topology and opens its WAL archive.
func walArchive(ctx context.Context, fs *flag.FlagSet, args []string, nargs int, withIdentity bool) (*walarchive.Archive, []string, error) {
	topoPath := fs.String("topology", tclient.Env("LIFEBOAT_TOPOLOGY", ""), "topology file (LIFEBOAT_TOPOLOGY)")
	pos, err := parseInterspersed(fs, args)
	if err != nil || len(pos) != nargs || *topoPath == "" {
		return nil, nil, errUsage
	}
	topo, err := schemas.LoadTopology(*topoPath)
	if err != nil {
		return nil, nil, err
	}
	a, err := walarchive.FromTopology(ctx, topo, activities.Secrets{}.Value, withIdentity)
	return a, pos, err
}

// walPush is PostgreSQL's archive_command: `lifeboat wal-push %p`.
func walPush(args []string, stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), walTimeout)
	defer cancel()
	a, pos, err := walArchive(ctx, flag.NewFlagSet("wal-push", flag.ContinueOnError), args, 1, false)
	if err != nil {
		return err
	}
	if _, err := a.Push(ctx, pos[0]); err != nil {
		return fmt.Errorf("wal-push %s: %w", pos[0], err)
	}
	return nil
}

// walFetch is PostgreSQL's restore_command: `lifeboat wal-fetch %f %p`. A
// file missing from the archive exits 1, which PostgreSQL reads as the end
// of the archive.
func walFetch(args []string, stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), walTimeout)
	defer cancel()
	a, pos, err := walArchive(ctx, flag.NewFlagSet("wal-fetch", flag.ContinueOnError), args, 2, true)
	if err != nil {
		return err
	}
	err = a.Fetch(ctx, pos[0], pos[1])
	if errors.Is(err, walarchive.ErrNotArchived) {
		fmt.Fprintf(stderr, "lifeboat wal-fetch: %v\n", err)
		return exitError{code: 1}
	}
	if err != nil {
		return fmt.Errorf("wal-fetch %s: %w", pos[0], err)
	}
	return nil
}
