package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/walarchive"
	"github.com/runnerhub/lifeboat/schemas"
)

// The WAL spool: while a restore unpacks the base backup, it also
// downloads the WAL the recovery will read (the segments from the backup's
// start to the end of the archive as listed then, and every timeline
// history file) into a directory beside the restored files. The restored
// server's restore_command then copies from it with a shell test and cp,
// instead of starting `lifeboat wal-fetch` once per file it asks for, hit
// or miss: each start is a process launch and a trip to the store, and
// even a short recovery asks for several files, so the starts add up. A
// file the spool lacks is not in the archive. A longer recovery, or a
// spool that could not be filled, keeps wal-fetch.
const (
	walSpoolName = "lifeboat-wal-spool"
	// walSpoolComplete is written once every file is in the spool.
	walSpoolComplete = ".complete"
	// maxSpoolSegments bounds what is downloaded before the server starts.
	maxSpoolSegments = 64
	spoolFetchers    = 4
)

// spoolWAL fills dir with the WAL the recovery of m reads, as described
// above, and marks it complete. It returns false, having fetched nothing,
// when the recovery needs more than maxSpoolSegments segments or a
// segment the archive lacks (the restore's own check reports that).
func (r *Restore) spoolWAL(ctx context.Context, m schemas.Manifest, dir string) (bool, error) {
	start, err := schemas.ParseLSN(m.StartLSN)
	if err != nil {
		return false, err
	}
	a := &walarchive.Archive{Cluster: m.Cluster}
	if a.Identities, err = r.identities(); err != nil {
		return false, err
	}
	if a.Store, err = r.Clients.Store(ctx); err != nil {
		return false, err
	}
	arch := archived{}
	// Fetch reads the replica store when the primary lacks a file or
	// fails, so the spool lists both.
	listErr := arch.list(ctx, a.Store, m.Cluster)
	if r.Topology.Backup.Replica != nil {
		if a.Replica, err = r.Clients.ReplicaStore(ctx); err != nil {
			return false, err
		}
		if err := arch.list(ctx, a.Replica, m.Cluster); err == nil {
			listErr = nil
		}
	}
	if listErr != nil {
		return false, listErr
	}
	read, missing, err := arch.walk(ctx, r, a, m, start, nil)
	if err != nil || missing != "" || len(read) > maxSpoolSegments {
		return false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	names := append(arch.histories(), read...)
	if err := fetchAll(ctx, a, names, dir); err != nil {
		return false, err
	}
	return true, os.WriteFile(filepath.Join(dir, walSpoolComplete), nil, 0o600)
}

// fetchAll fetches names from the archive into dir, spoolFetchers at a time.
func fetchAll(ctx context.Context, a *walarchive.Archive, names []string, dir string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	todo := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for range spoolFetchers {
		wg.Go(func() {
			for name := range todo {
				if err := a.Fetch(ctx, name, filepath.Join(dir, name)); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("spool %s: %w", name, err))
					mu.Unlock()
					cancel()
				}
			}
		})
	}
	for _, name := range names {
		if ctx.Err() != nil {
			break
		}
		todo <- name
	}
	close(todo)
	wg.Wait()
	return errors.Join(errs...)
}

// startSpool starts filling the WAL spool of dataDir (the staging
// directory of a restore). It returns a function that waits for the spool
// and says whether it is complete, and one that stops filling it; a
// caller that gives up cancels and then waits, before dataDir goes. A
// spool that fails is removed and logged, and its error returned for the
// record only: the recovery fetches with wal-fetch then, which reports
// what is wrong with the archive.
func (r *Restore) startSpool(ctx context.Context, m schemas.Manifest, dataDir string) (wait func() (bool, error), cancel context.CancelFunc) {
	ctx, cancel = context.WithCancel(ctx)
	dir := filepath.Join(dataDir, walSpoolName)
	wait = activities.Later(func() (bool, error) {
		ok, err := r.spoolWAL(ctx, m, dir)
		if err != nil && ctx.Err() == nil {
			r.logger().Warn("WAL spool not filled; the restored server fetches its WAL with wal-fetch", zap.String("backup", m.ID), zap.Error(err))
		}
		if !ok || err != nil {
			_ = os.RemoveAll(dir)
		}
		return ok && err == nil, err
	})
	return wait, cancel
}

// spoolRestoreCommand is the restore_command over a complete spool in
// dataDir, or "" when there is none (or its path cannot be quoted).
func spoolRestoreCommand(dataDir string) string {
	dir := filepath.Join(dataDir, walSpoolName)
	if _, err := os.Stat(filepath.Join(dir, walSpoolComplete)); err != nil || strings.ContainsAny(dir, `'\`) {
		return ""
	}
	return fmt.Sprintf(`test -f '%[1]s/%%f' && cp '%[1]s/%%f' '%%p'`, dir)
}
