package backup

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/internal/conninfo"
	"github.com/runnerhub/lifeboat/internal/pgos"
	"github.com/runnerhub/lifeboat/policy"
	"github.com/runnerhub/lifeboat/schemas"
)

// drillSet returns the failover drill set of the protected cluster.
func (r *Restore) drillSet(cluster string) (*schemas.Topology, error) {
	if cluster != r.Topology.Cluster {
		return nil, activities.UnknownCluster(cluster, r.Topology.Cluster)
	}
	if err := r.Topology.CheckDrill(); err != nil {
		return nil, activities.InvalidInput("drill", err.Error())
	}
	return activities.Resolve(r.Topology, schemas.DrillClusterName(cluster))
}

// drillNode returns a node of the drill set and its port.
func drillNode(set *schemas.Topology, name string) (schemas.PostgresNode, int, error) {
	n, ok := set.PostgresNode(name)
	if !ok {
		return n, 0, activities.InvalidInput("node", fmt.Sprintf("%q is not a node of the failover drill set %s", name, set.Cluster))
	}
	cfg, err := pgx.ParseConfig(n.DSN)
	if err != nil {
		return n, 0, err
	}
	return n, int(cfg.Port), nil
}

// BuildDrillReplica makes the drill set's replica with pg_basebackup from
// its running primary (restored from the newest backup), starts it
// streaming, and makes it the primary's synchronous standby, as production's
// nearest replica is. A replica already running is not built again.
func (d *Drill) BuildDrillReplica(ctx context.Context, in schemas.BuildDrillReplicaInput) (schemas.BuildDrillReplicaResult, error) {
	r := d.Restore
	set, err := r.drillSet(in.Cluster)
	if err != nil {
		return schemas.BuildDrillReplicaResult{}, err
	}
	primary, primaryPort, err := drillNode(set, schemas.DrillPrimary)
	if err != nil {
		return schemas.BuildDrillReplicaResult{}, err
	}
	replica, replicaPort, err := drillNode(set, schemas.DrillReplica)
	if err != nil {
		return schemas.BuildDrillReplicaResult{}, err
	}
	repl := set.Failover.Replication
	if repl == nil {
		return schemas.BuildDrillReplicaResult{}, activities.InvalidInput("failover.replication", "a failover drill needs the role replicas stream as")
	}
	replPW, err := r.Clients.Secrets.Value(repl.Password)
	if err != nil {
		return schemas.BuildDrillReplicaResult{}, fmt.Errorf("replication password: %w", err)
	}
	u, err := pgos.PostgresUser()
	if err != nil {
		return schemas.BuildDrillReplicaResult{}, err
	}
	stop := activities.HeartbeatEvery(ctx, 5*time.Second, func() any { return "building the drill replica" })
	defer stop()
	if !postmasterRunning(replica.DataDir) {
		if err := os.RemoveAll(replica.DataDir); err != nil {
			return schemas.BuildDrillReplicaResult{}, err
		}
		source := conninfo.Format(map[string]string{
			"host": "127.0.0.1", "port": fmt.Sprint(primaryPort), "user": repl.User, "password": replPW,
			"application_name": schemas.DrillReplica, "sslmode": "disable",
		})
		if err := r.runAsPostgres(ctx, u, nil, "pg_basebackup", "-d", source, "-D", replica.DataDir,
			"-X", "stream", "-c", "fast", "--no-password"); err != nil {
			return schemas.BuildDrillReplicaResult{}, fmt.Errorf("pg_basebackup of the drill replica: %w", err)
		}
		// Later lines win over what came with the copy of the primary.
		conf := strings.Join([]string{"", "# --- lifeboat drill replica ---",
			fmt.Sprintf("port = %d", replicaPort),
			"cluster_name = '" + schemas.DrillReplica + "'",
			"primary_conninfo = '" + strings.ReplaceAll(source, "'", "''") + "'",
			"primary_slot_name = ''",
			// Never the production archive: the set lives on its own.
			"restore_command = ''",
			"archive_mode = off",
			"recovery_target_timeline = 'latest'",
			"synchronous_standby_names = ''",
			"hot_standby = on", ""}, "\n")
		if err := appendOwned(filepath.Join(replica.DataDir, "postgresql.auto.conf"), conf, u); err != nil {
			return schemas.BuildDrillReplicaResult{}, err
		}
		if err := appendOwned(filepath.Join(replica.DataDir, "standby.signal"), "", u); err != nil {
			return schemas.BuildDrillReplicaResult{}, err
		}
		if err := r.runAsPostgres(ctx, u, nil, "pg_ctl", "start", "-W", "-D", replica.DataDir, "-l", replica.LogFile); err != nil {
			return schemas.BuildDrillReplicaResult{}, fmt.Errorf("start the drill replica: %w", err)
		}
	}
	conn, err := r.connect(ctx, primaryPort)
	if err != nil {
		return schemas.BuildDrillReplicaResult{}, fmt.Errorf("connect to %s: %w", primary.Name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, q := range []string{
		`ALTER SYSTEM SET synchronous_standby_names = '"` + schemas.DrillReplica + `"'`,
		`SELECT pg_reload_conf()`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return schemas.BuildDrillReplicaResult{}, fmt.Errorf("%s on %s: %w", q, primary.Name, err)
		}
	}
	res := schemas.BuildDrillReplicaResult{Replica: replica.Name}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		var state string
		err := conn.QueryRow(ctx, `SELECT coalesce((SELECT sync_state || ' ' || replay_lsn::text FROM pg_stat_replication
			WHERE application_name = $1 AND state = 'streaming'), '')`, schemas.DrillReplica).Scan(&state)
		if err != nil {
			return res, fmt.Errorf("watch the drill replica stream: %w", err)
		}
		if sync, lsn, ok := strings.Cut(state, " "); ok && policy.Synchronous(sync) {
			res.ReplayedLSN = lsn
			return res, nil
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("the drill replica is not a streaming synchronous standby after 2 minutes (%q): %s", state, activities.TailFile(replica.LogFile, 6))
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// KillDrillNode SIGKILLs the postmaster of a drill set's node, as a crash
// would, and waits until the process is gone. Only the drill set's own
// nodes can be named.
func (d *Drill) KillDrillNode(ctx context.Context, in schemas.KillDrillNodeInput) (schemas.KillDrillNodeResult, error) {
	r := d.Restore
	set, err := r.drillSet(in.Cluster)
	if err != nil {
		return schemas.KillDrillNodeResult{}, err
	}
	node, _, err := drillNode(set, in.Node)
	if err != nil {
		return schemas.KillDrillNodeResult{}, err
	}
	pid := postmasterPID(node.DataDir)
	if pid == 0 || !postmasterRunning(node.DataDir) {
		return schemas.KillDrillNodeResult{}, nil // killed by an earlier attempt
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return schemas.KillDrillNodeResult{}, fmt.Errorf("kill %s (pid %d): %w", node.Name, pid, err)
	}
	for syscall.Kill(pid, 0) == nil {
		select {
		case <-ctx.Done():
			return schemas.KillDrillNodeResult{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	r.logger().Info("drill node killed", zap.String("node", node.Name), zap.Int("pid", pid))
	return schemas.KillDrillNodeResult{PID: pid}, nil
}

// runAsPostgres runs one of PostgreSQL's programs as the PostgreSQL user.
func (r *Restore) runAsPostgres(ctx context.Context, u pgos.User, env []string, prog string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(r.pgBinDir(), prog), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.Cred}
	cmd.Dir = "/"
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}, env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", prog, err, bytes.TrimSpace(out))
	}
	return nil
}

// appendOwned appends text to a file of the PostgreSQL user's.
func appendOwned(path, text string, u pgos.User) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return u.Chown(path)
}
