package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/activities/walarchive"
	"github.com/runnerhub/lifeboat/schemas"
)

// checkWAL makes sure the WAL archive holds every segment a recovery of m
// will ask for, up to the end of the archive or, with until, to the first
// segment archived after it. A missing segment in that range would end
// recovery early without an error: PostgreSQL promotes at the first
// segment it cannot fetch, and the restore would report success with
// everything after the gap lost. So the gap is reported, as corruption,
// before anything is written to the target. The restored server's
// wal-fetch reads the replica store when the primary lacks a file, so a
// segment either store holds is there.
func (r *Restore) checkWAL(ctx context.Context, m schemas.Manifest, until *time.Time) error {
	start, err := schemas.ParseLSN(m.StartLSN)
	if err != nil || m.Timeline < 1 || m.Timeline > 0xFFFFFFFF {
		return activities.Corrupt(fmt.Sprintf("backup %s: start LSN %q on timeline %d cannot be read (%v)", m.ID, m.StartLSN, m.Timeline, err))
	}
	a := &walarchive.Archive{Cluster: m.Cluster}
	if a.Store, err = r.Clients.Store(ctx); err != nil {
		return err
	}
	arch := archived{}
	// A primary store that cannot be read is no gap: the restore reads
	// from the replica then, and so is the archive checked there.
	primaryErr := arch.list(ctx, a.Store, m.Cluster)
	if primaryErr != nil && r.Topology.Backup.Replica == nil {
		return primaryErr
	}
	missing := ""
	if primaryErr == nil {
		if missing, err = arch.firstMissing(ctx, r, a, m, start, until); err != nil || missing == "" || r.Topology.Backup.Replica == nil {
			return err
		}
	}
	if a.Replica, err = r.Clients.ReplicaStore(ctx); err != nil {
		return err
	}
	if err := arch.list(ctx, a.Replica, m.Cluster); err != nil {
		if primaryErr != nil {
			return fmt.Errorf("neither store's WAL archive can be read: %w", errors.Join(primaryErr, err))
		}
		return fmt.Errorf("WAL segment %s is missing from %s, and the replica store cannot be read: %w", missing, a.Store, err)
	}
	if missing, err = arch.firstMissing(ctx, r, a, m, start, until); err != nil || missing == "" {
		return err
	}
	to := "the end of the archive"
	if until != nil {
		to = until.Format(time.RFC3339Nano)
	}
	where := a.Store.String()
	if a.Replica != nil {
		where += " and " + a.Replica.String()
	}
	return activities.Corrupt(fmt.Sprintf("backup %s: WAL segment %s (%s) is missing from the archive in %s: a recovery from the backup's start %s on timeline %d to %s needs it and would stop there, losing every later commit; "+
		"put the segment back, or restore to a time before the gap",
		m.ID, missing, schemas.WALKey(m.Cluster, missing), where, m.StartLSN, m.Timeline, to))
}

// archived is the WAL files of one or two stores: a file is archived when
// both its data and its record are stored.
type archived struct {
	data    map[string]time.Time
	records map[string]bool
}

func (a *archived) list(ctx context.Context, store objstore.Store, cluster string) error {
	if a.data == nil {
		a.data, a.records = map[string]time.Time{}, map[string]bool{}
	}
	objs, err := store.List(ctx, schemas.WALPrefix(cluster))
	if err != nil {
		return fmt.Errorf("list the WAL archive in %s: %w", store, err)
	}
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Key, schemas.WALPrefix(cluster))
		if name, ok := strings.CutSuffix(rest, ".zst.age"); ok {
			if t, seen := a.data[name]; !seen || o.ModTime.Before(t) {
				a.data[name] = o.ModTime
			}
		} else if name, ok := strings.CutSuffix(rest, ".json"); ok {
			a.records[name] = true
		}
	}
	return nil
}

// firstMissing is WALChain.FirstMissing over what is archived; see walk.
func (a *archived) firstMissing(ctx context.Context, r *Restore, arch *walarchive.Archive, m schemas.Manifest, start schemas.LSN, until *time.Time) (string, error) {
	_, missing, err := a.walk(ctx, r, arch, m, start, until)
	return missing, err
}

// walk is WALChain.Walk over what is archived, following the timelines as
// recovery_target_timeline = latest does: PostgreSQL looks for the history
// files of the timelines after the backup's one by one and follows the
// newest it finds.
func (a *archived) walk(ctx context.Context, r *Restore, arch *walarchive.Archive, m schemas.Manifest, start schemas.LSN, until *time.Time) (read []string, missing string, err error) {
	var segs []walarchive.ArchivedSegment
	for name, at := range a.data {
		if !a.records[name] || len(name) != 24 {
			continue
		}
		if tli, seg, err := schemas.ParseWALSegment(name); err == nil {
			segs = append(segs, walarchive.ArchivedSegment{Timeline: tli, Segment: seg, ArchivedAt: at})
		}
	}
	chain := walarchive.WALChain{Timeline: uint32(m.Timeline), Start: start, Newest: uint32(m.Timeline)}
	history := func(tli uint32) string { return fmt.Sprintf("%08X.history", tli) }
	for a.records[history(chain.Newest+1)] {
		chain.Newest++
	}
	if chain.Newest != chain.Timeline {
		if chain.History, err = r.readHistory(ctx, arch, history(chain.Newest)); err != nil {
			return nil, "", err
		}
	}
	read, missing, err = chain.Walk(segs, until)
	if err != nil {
		return nil, "", activities.Corrupt(fmt.Sprintf("backup %s: the WAL archive: %v", m.ID, err))
	}
	return read, missing, nil
}

// histories are the timeline history files archived whole.
func (a *archived) histories() []string {
	var out []string
	for name := range a.data {
		if a.records[name] && strings.HasSuffix(name, ".history") {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// readHistory fetches and parses one timeline history file of the archive.
func (r *Restore) readHistory(ctx context.Context, a *walarchive.Archive, name string) ([]walarchive.TimelineSwitch, error) {
	var err error
	if a.Identities, err = r.identities(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "lifeboat-history-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	dest := filepath.Join(dir, name)
	if err := a.Fetch(ctx, name, dest); err != nil {
		return nil, fmt.Errorf("read timeline history %s: %w", name, err)
	}
	b, err := os.ReadFile(dest)
	if err != nil {
		return nil, err
	}
	h, err := walarchive.ParseTimelineHistory(b)
	if err != nil {
		return nil, activities.Corrupt(fmt.Sprintf("timeline history %s does not parse: %v", name, err))
	}
	return h, nil
}
