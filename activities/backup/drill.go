package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/internal/drillreport"
	"github.com/runnerhub/lifeboat/internal/pgos"
	"github.com/runnerhub/lifeboat/schemas"
)

// Drill holds the activities of a disaster-recovery drill besides the
// restore itself: the scratch replica set it rehearses a failover on, the
// checks of the restored data, the teardown and the report. It works with
// the restore's configuration, since a drill's scratch servers are
// restored servers, made and removed by the DR region's worker.
type Drill struct {
	Restore *Restore
}

// VerifyDrill reads a drill's scratch server: the newest heartbeat it
// recovered and, for every table the topology's drill section names, the
// row count and an order-independent checksum, read in full so a damaged
// page fails the drill.
func (d *Drill) VerifyDrill(ctx context.Context, in schemas.DrillVerifyInput) (schemas.DrillVerifyResult, error) {
	r := d.Restore
	if in.Cluster != r.Topology.Cluster {
		return schemas.DrillVerifyResult{}, activities.UnknownCluster(in.Cluster, r.Topology.Cluster)
	}
	var res schemas.DrillVerifyResult
	conn, err := r.connectDB(ctx, in.Port, "")
	if err != nil {
		return res, fmt.Errorf("connect to the scratch server on port %d: %w", in.Port, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var at time.Time
	err = conn.QueryRow(ctx, `SELECT at, node FROM `+schemas.HeartbeatTable+` WHERE id = 1`).Scan(&at, &res.HeartbeatNode)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil && strings.Contains(err.Error(), "does not exist"):
	case err != nil:
		return res, fmt.Errorf("read the heartbeat: %w", err)
	default:
		res.Heartbeat = &at
	}
	if r.Topology.Drill == nil {
		return res, nil
	}
	stop := activities.HeartbeatEvery(ctx, 5*time.Second, func() any { return "checking tables" })
	defer stop()
	for _, name := range r.Topology.Drill.Tables {
		check, err := r.checkTable(ctx, in.Port, name)
		if err != nil {
			return res, err
		}
		res.Tables = append(res.Tables, check)
	}
	return res, nil
}

// checkTable counts a table's rows and sums the 64-bit hashes of their text.
func (r *Restore) checkTable(ctx context.Context, port int, name string) (schemas.TableCheck, error) {
	db, table, err := schemas.ParseDrillTable(name)
	if err != nil {
		return schemas.TableCheck{}, activities.InvalidInput("drill.tables", err.Error())
	}
	conn, err := r.connectDB(ctx, port, db)
	if err != nil {
		return schemas.TableCheck{}, fmt.Errorf("connect to database %q of the scratch server: %w", db, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	ident := pgx.Identifier(strings.Split(table, ".")).Sanitize()
	check := schemas.TableCheck{Table: name}
	q := `SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text FROM ` + ident + ` t`
	if err := conn.QueryRow(ctx, q).Scan(&check.Rows, &check.Checksum); err != nil {
		return check, fmt.Errorf("read table %s of the scratch server: %w", name, err)
	}
	return check, nil
}

// connectDB is connect to another database than the nodes' own.
func (r *Restore) connectDB(ctx context.Context, port int, db string) (*pgx.Conn, error) {
	if db == "" {
		return r.connect(ctx, port)
	}
	node, ok := r.anyNode()
	if !ok {
		return nil, activities.InvalidInput("regions", "the topology names no PostgreSQL node")
	}
	return r.Clients.ConnectPostgres(ctx, node, 2*time.Second, func(c *pgx.ConnConfig) {
		c.Host, c.Port, c.Database, c.Fallbacks = "127.0.0.1", uint16(port), db, nil
	})
}

// RemoveScratch stops every postmaster whose data directory lies in a
// drill's scratch directory, immediately (scratch data is worth nothing),
// and removes the directory. It refuses any directory outside the
// topology's drill.scratch_dir, and is a no-op for one already gone, so a
// drill's cleanup can run as often as it is retried.
func (d *Drill) RemoveScratch(ctx context.Context, in schemas.RemoveScratchInput) (schemas.RemoveScratchResult, error) {
	r := d.Restore
	var res schemas.RemoveScratchResult
	if in.Cluster != r.Topology.Cluster {
		return res, activities.UnknownCluster(in.Cluster, r.Topology.Cluster)
	}
	if err := r.Topology.CheckDrill(); err != nil {
		return res, activities.InvalidInput("drill", err.Error())
	}
	root := filepath.Clean(r.Topology.Drill.ScratchDir)
	dir := filepath.Clean(in.Dir)
	if rel, err := filepath.Rel(root, dir); err != nil || rel == "." || strings.HasPrefix(rel, "..") || !filepath.IsAbs(dir) {
		return res, activities.InvalidInput("dir", fmt.Sprintf("%q is not inside the drill scratch directory %s", in.Dir, root))
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		res.Removed = true
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("read scratch directory: %w", err)
	}
	for _, e := range entries {
		data := filepath.Join(dir, e.Name())
		if !e.IsDir() || !postmasterRunning(data) {
			continue
		}
		if err := r.stopScratch(ctx, data); err != nil {
			return res, err
		}
		res.Stopped = append(res.Stopped, data)
	}
	if err := os.RemoveAll(dir); err != nil {
		return res, fmt.Errorf("remove scratch directory: %w", err)
	}
	res.Removed = true
	r.logger().Info("drill scratch removed", zap.String("dir", dir), zap.Strings("stopped", res.Stopped))
	return res, nil
}

// stopScratch stops a scratch postmaster with pg_ctl, immediate mode; one
// that will not stop is killed.
func (r *Restore) stopScratch(ctx context.Context, data string) error {
	u, err := pgos.PostgresUser()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(r.pgBinDir(), "pg_ctl"), "stop", "-m", "immediate", "-w", "-t", "30", "-D", data)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.Cred}
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil && postmasterRunning(data) {
		if pid := postmasterPID(data); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			return nil
		}
		return fmt.Errorf("stop the scratch server in %s: %w: %s", data, err, bytes.TrimSpace(out))
	}
	return nil
}

// WriteDrillReport stores a drill's report as JSON, Markdown and an SVG
// timeline next to the cluster's backups, in the primary store and, when
// there is one, the replica, and records the drill's figures as metrics.
func (d *Drill) WriteDrillReport(ctx context.Context, in schemas.WriteDrillReportInput) (schemas.WriteDrillReportResult, error) {
	r := d.Restore
	rep := in.Report
	if rep.Cluster != r.Topology.Cluster {
		return schemas.WriteDrillReportResult{}, activities.UnknownCluster(rep.Cluster, r.Topology.Cluster)
	}
	if !schemas.BackupIDPattern.MatchString(rep.ID) {
		return schemas.WriteDrillReportResult{}, activities.InvalidInput("report.id", fmt.Sprintf("%q is not a drill ID", rep.ID))
	}
	rep.Keys = schemas.DrillReportKeys(rep.Cluster, rep.ID)
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return schemas.WriteDrillReportResult{}, err
	}
	objects := []struct {
		key  string
		body []byte
	}{
		// The JSON goes last: a report that lists is a complete one.
		{rep.Keys.Markdown, []byte(drillreport.Markdown(rep))},
		{rep.Keys.SVG, drillreport.SVG(rep)},
		{rep.Keys.JSON, append(js, '\n')},
	}
	stores, err := r.reportStores(ctx)
	if err != nil {
		return schemas.WriteDrillReportResult{}, err
	}
	for _, s := range stores {
		for _, o := range objects {
			if err := s.Put(ctx, o.key, bytes.NewReader(o.body), int64(len(o.body))); err != nil {
				return schemas.WriteDrillReportResult{}, fmt.Errorf("store drill report %s: %w", o.key, err)
			}
		}
	}
	var rto, rpo time.Duration
	if rs := rep.Restore; rs != nil {
		rto, rpo = secondsDuration(rs.RTOSeconds), secondsDuration(rs.RPOSeconds)
	}
	if f := rep.Failover; f != nil && rep.Restore == nil {
		rto = secondsDuration(f.RTOSeconds)
	}
	r.Metrics.ObserveDrill(rep.Cluster, rep.Passed, rto, rpo)
	return schemas.WriteDrillReportResult{Keys: rep.Keys}, nil
}

func (r *Restore) reportStores(ctx context.Context) ([]objstore.Store, error) {
	primary, err := r.Clients.Store(ctx)
	if err != nil {
		return nil, err
	}
	stores := []objstore.Store{primary}
	if r.Topology.Backup.Replica != nil {
		replica, err := r.Clients.ReplicaStore(ctx)
		if err != nil {
			return nil, err
		}
		stores = append(stores, replica)
	}
	return stores, nil
}

// DrillReports reads a cluster's stored drill reports, newest first, or the
// one asked for by ID with its Markdown.
func (d *Drill) DrillReports(ctx context.Context, in schemas.DrillReportsInput) (schemas.DrillReportsResult, error) {
	r := d.Restore
	var res schemas.DrillReportsResult
	if in.Cluster != r.Topology.Cluster {
		return res, activities.UnknownCluster(in.Cluster, r.Topology.Cluster)
	}
	store, err := r.Clients.Store(ctx)
	if err != nil {
		return res, err
	}
	var ids []string
	if in.ID != "" {
		ids = []string{in.ID}
	} else {
		objs, err := store.List(ctx, schemas.DrillsPrefix(in.Cluster))
		if err != nil {
			return res, fmt.Errorf("list drill reports: %w", err)
		}
		for _, o := range objs {
			if id, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, schemas.DrillsPrefix(in.Cluster)), "/report.json"); ok {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		slices.Reverse(ids)
		limit := in.Limit
		if limit <= 0 {
			limit = 20
		}
		ids = ids[:min(limit, len(ids))]
	}
	for _, id := range ids {
		keys := schemas.DrillReportKeys(in.Cluster, id)
		var rep schemas.DrillReport
		if err := readJSON(ctx, store, keys.JSON, &rep); err != nil {
			if errors.Is(err, objstore.ErrNotFound) && in.ID != "" {
				return res, activities.NoSuchDrill(in.Cluster, id)
			}
			return res, fmt.Errorf("read drill report %s: %w", id, err)
		}
		res.Reports = append(res.Reports, rep)
		if in.ID != "" {
			if md, err := readObject(ctx, store, keys.Markdown); err == nil {
				res.Markdown = string(md)
			}
		}
	}
	return res, nil
}

func secondsDuration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// readObject reads a small object whole (at most 4 MiB).
func readObject(ctx context.Context, store objstore.Store, key string) ([]byte, error) {
	rc, err := store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 4<<20))
}

// readJSON reads a small JSON object into v.
func readJSON(ctx context.Context, store objstore.Store, key string, v any) error {
	b, err := readObject(ctx, store, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return activities.Corrupt(fmt.Sprintf("%s does not parse: %v", key, err))
	}
	return nil
}
