package ha

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/internal/conninfo"
	"github.com/runnerhub/lifeboat/internal/pgctl"
	"github.com/runnerhub/lifeboat/internal/pgos"
	"github.com/runnerhub/lifeboat/schemas"
)

// configFiles are what pg_rewind would copy from the source: the node's
// own port, name and access rules must survive a rewind.
var configFiles = []string{"postgresql.conf", pgctl.AutoConf, "pg_hba.conf", "pg_ident.conf", "postmaster.opts"}

// startGrace is how long a postmaster started by pg_ctl may take to write
// its pid file before a missing one means it died.
const startGrace = 10 * time.Second

// RejoinNode makes a former primary follow the primary: it stops the node,
// brings a killed one to a clean stop (single-user crash recovery, as
// Patroni does), rewinds it with pg_rewind where its timeline diverged,
// writes its standby settings, starts it with the options it last ran with
// and waits until it streams. A node that cannot be rejoined without an
// operator is a non-retryable ErrCannotRejoin that says why.
func (n *Nodes) RejoinNode(ctx context.Context, in schemas.RejoinNodeInput) (schemas.RejoinNodeResult, error) {
	n, err := serving(n, in.Cluster)
	if err != nil {
		return schemas.RejoinNodeResult{}, err
	}
	node, err := n.local(in.Cluster, in.Node)
	if err != nil {
		return schemas.RejoinNodeResult{}, err
	}
	primary, ok := n.Topology.PostgresNode(in.Primary)
	if !ok || in.Primary == in.Node {
		return schemas.RejoinNodeResult{}, activities.InvalidInput("primary", fmt.Sprintf("%q is not another PostgreSQL node of cluster %s", in.Primary, in.Cluster))
	}
	if node.DataDir == "" {
		return schemas.RejoinNodeResult{}, activities.CannotRejoin(node.Name, "the topology names no data_dir for it, and pg_rewind and a restart need its data directory; set data_dir, or rebuild it with pg_basebackup")
	}
	d := n.dir(node)
	if !d.Exists() {
		return schemas.RejoinNodeResult{}, activities.CannotRejoin(node.Name, fmt.Sprintf("no PostgreSQL data directory at %s on the worker of %s", node.DataDir, n.Region))
	}
	if err := n.requirePrimary(ctx, primary); err != nil {
		return schemas.RejoinNodeResult{}, err
	}
	if upstream, err := n.streamingFrom(ctx, node, primary); err == nil && upstream {
		return schemas.RejoinNodeResult{Detail: fmt.Sprintf("already streaming from %s", primary.Name)}, nil
	}
	log := n.logger().With(zap.String("cluster", in.Cluster), zap.String("node", node.Name), zap.String("primary", primary.Name))
	var mu sync.Mutex
	step, stepStart := "stopping", time.Now()
	// next logs how long the step took, so a slow rejoin says where.
	next := func(name string) {
		mu.Lock()
		defer mu.Unlock()
		log.Info("rejoin step done", zap.String("step", step), zap.Duration("took", time.Since(stepStart)))
		step, stepStart = name, time.Now()
	}
	stop := activities.HeartbeatEvery(ctx, 5*time.Second, func() any {
		mu.Lock()
		defer mu.Unlock()
		return step
	})
	defer stop()

	running, pid, err := d.Status(ctx)
	if err != nil {
		return schemas.RejoinNodeResult{}, err
	}
	logFile := n.serverLog(node, pid)
	if running {
		if err := d.Stop(ctx, pgctl.StopFast); err != nil {
			log.Warn("fast stop failed; stopping immediately", zap.Error(err))
			if err := d.Stop(ctx, pgctl.StopImmediate); err != nil {
				return schemas.RejoinNodeResult{}, err
			}
		}
	}
	next("rewinding")
	res, err := n.rewind(ctx, d, node, primary, logFile)
	if err != nil {
		return res, err
	}
	log.Info("rejoin: data directory ready", zap.Bool("rewound", res.Rewound), zap.String("detail", res.Detail))

	next("configuring")
	if err := n.writeStandbyConf(ctx, d, node, primary); err != nil {
		return res, err
	}
	next("starting")
	opts, err := d.SavedOptions()
	if err != nil {
		return res, err
	}
	env, err := activities.StoreEnv(n.Topology, n.Clients.Secrets)
	if err != nil {
		return res, err
	}
	if err := d.Start(ctx, logFile, opts, env); err != nil {
		return res, err
	}
	next("waiting to stream")
	if err := n.waitStreaming(ctx, d, node, primary, logFile); err != nil {
		return res, err
	}
	next("dropping stale slots")
	if err := n.dropStaleSlots(ctx, node); err != nil {
		return res, err
	}
	next("done")
	res.Detail += fmt.Sprintf("; streaming from %s", primary.Name)
	log.Warn("node rejoined", zap.Bool("rewound", res.Rewound), zap.String("detail", res.Detail))
	return res, nil
}

// requirePrimary fails (retryably) while primary is not a reachable
// primary: a rejoin must not follow a server that is still a standby.
func (n *Nodes) requirePrimary(ctx context.Context, primary schemas.PostgresNode) error {
	return n.withConn(ctx, primary, func(conn *pgx.Conn) error {
		var inRecovery bool
		if err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err != nil {
			return fmt.Errorf("ask %s its role: %w", primary.Name, err)
		}
		if inRecovery {
			return fmt.Errorf("%s is still in recovery: not a primary to rejoin yet", primary.Name)
		}
		return nil
	})
}

// streamingFrom reports whether node runs as a standby streaming from
// primary's host and port.
func (n *Nodes) streamingFrom(ctx context.Context, node, primary schemas.PostgresNode) (bool, error) {
	_, port, err := nodeHostPort(primary)
	if err != nil {
		return false, err
	}
	var streaming bool
	err = n.withConn(ctx, node, func(conn *pgx.Conn) error {
		err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery() AND coalesce((SELECT status = 'streaming' AND sender_port = $1
			FROM pg_stat_wal_receiver), false)`, int(port)).Scan(&streaming)
		return err
	})
	return streaming, err
}

// serverLog is where the node's output goes when Lifeboat starts it: the
// topology's log_file, else what the running postmaster writes to, else a
// file in the data directory.
func (n *Nodes) serverLog(node schemas.PostgresNode, pid int) string {
	if node.LogFile != "" {
		return node.LogFile
	}
	if pid > 0 {
		if f := pgctl.LogOf(pid); f != "" {
			return f
		}
	}
	return filepath.Join(node.DataDir, "log", "lifeboat-postgres.log")
}

// rewind brings the stopped data directory to where it can follow primary:
// a clean stop first, then pg_rewind, keeping the node's own configuration.
func (n *Nodes) rewind(ctx context.Context, d pgctl.Dir, node, primary schemas.PostgresNode, logFile string) (_ schemas.RejoinNodeResult, err error) {
	// The standby mark comes off for pg_rewind; a failure puts it back, so a
	// restart of the node cannot come up as a second primary.
	defer func() {
		if err != nil {
			if serr := d.WriteStandbySignal(); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()
	control, err := d.ControlData(ctx)
	if err != nil {
		return schemas.RejoinNodeResult{}, err
	}
	if _, err := os.Stat(filepath.Join(d.Path, "backup_label")); err == nil && control[pgctl.FieldState] == pgctl.StateArchiveRecovery {
		// An earlier attempt rewound it and stopped before the start: a
		// second pg_rewind would refuse the unclean target.
		return schemas.RejoinNodeResult{Rewound: true, Detail: "rewound by an earlier attempt"}, nil
	}
	if err := d.RemoveSignals(); err != nil {
		return schemas.RejoinNodeResult{}, err
	}
	if !pgctl.CleanlyStopped(control) {
		out, closeLog := appendLog(logFile)
		err := d.SingleUserRecovery(ctx, out)
		closeLog()
		if err != nil {
			return schemas.RejoinNodeResult{}, activities.CannotRejoin(node.Name, fmt.Sprintf("crash recovery in single-user mode (the node was %s) failed: %v", control[pgctl.FieldState], err))
		}
	}
	saved, err := d.SaveFiles(configFiles...)
	if err != nil {
		return schemas.RejoinNodeResult{}, err
	}
	source, password, err := n.rewindSource(primary)
	if err != nil {
		return schemas.RejoinNodeResult{}, err
	}
	// pg_rewind takes the source's timeline from its last checkpoint: a
	// just-promoted primary must checkpoint first, or the rewind follows the
	// old timeline and the node cannot start (PostgreSQL's documentation of
	// pg_rewind says so; Patroni does the same).
	if err := n.withConn(ctx, primary, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `CHECKPOINT`)
		return err
	}); err != nil {
		return schemas.RejoinNodeResult{}, fmt.Errorf("checkpoint %s before pg_rewind: %w", primary.Name, err)
	}
	rewindStart := time.Now()
	r, rerr := d.Rewind(ctx, source, password)
	n.logger().Info("pg_rewind ran", zap.String("node", node.Name), zap.Duration("took", time.Since(rewindStart)),
		zap.Bool("rewound", r.Rewound), zap.Error(rerr))
	if err := d.RestoreFiles(saved); err != nil {
		return schemas.RejoinNodeResult{}, fmt.Errorf("put back the configuration of %s after pg_rewind: %w", node.Name, err)
	}
	if rerr != nil {
		if strings.Contains(r.Output, "could not connect") || strings.Contains(r.Output, "connection to server") {
			return schemas.RejoinNodeResult{}, fmt.Errorf("pg_rewind of %s could not reach %s: %w", node.Name, primary.Name, rerr)
		}
		// pg_rewind cannot make it follow (its WAL since the fork is gone,
		// for one): copy the primary afresh, as an operator would.
		why := activities.LastLines([]byte(r.Output), 3)
		n.logger().Warn("pg_rewind failed; rebuilding with pg_basebackup", zap.String("node", node.Name), zap.String("pg_rewind", why))
		source, replPassword, err := n.replicationSource(primary)
		if err != nil {
			return schemas.RejoinNodeResult{}, err
		}
		out, err := d.Rebuild(ctx, source, replPassword, saved)
		if err != nil {
			return schemas.RejoinNodeResult{}, activities.CannotRejoin(node.Name, fmt.Sprintf("pg_rewind from %s failed (%s) and so did pg_basebackup: %v %s", primary.Name, why, err, activities.LastLines([]byte(out), 3)))
		}
		return schemas.RejoinNodeResult{Rewound: true, Detail: fmt.Sprintf("rebuilt with pg_basebackup from %s (pg_rewind failed: %s)", primary.Name, why)}, nil
	}
	res := schemas.RejoinNodeResult{Rewound: r.Rewound, Detail: "no rewind required"}
	if r.Rewound {
		res.Detail = "rewound with pg_rewind from " + primary.Name
		if line := divergence(r.Output); line != "" {
			res.Detail += " (" + line + ")"
		}
	}
	return res, nil
}

// replicationSource is a replication connection to primary as the
// topology's replication role, for pg_basebackup, with the DSN's TLS settings.
func (n *Nodes) replicationSource(primary schemas.PostgresNode) (string, string, error) {
	repl := n.Topology.Failover.Replication
	if repl == nil {
		return "", "", activities.CannotRejoin(primary.Name, "pg_rewind failed and failover.replication names no role to copy the primary with")
	}
	host, port, err := nodeHostPort(primary)
	if err != nil {
		return "", "", err
	}
	pw, err := n.Clients.Secrets.Value(repl.Password)
	if err != nil {
		return "", "", fmt.Errorf("password of the replication role: %w", err)
	}
	params, err := conninfo.TLSKeywords(primary.DSN)
	if err != nil {
		return "", "", activities.InvalidInput("dsn", fmt.Sprintf("of %s: %v", primary.Name, err))
	}
	maps.Copy(params, map[string]string{
		"host": host, "port": strconv.Itoa(int(port)), "user": repl.User, "application_name": "lifeboat-rebuild", "connect_timeout": "5",
	})
	return conninfo.Format(params), pw, nil
}

// divergence is pg_rewind's line saying where the timelines parted.
func divergence(output string) string {
	for line := range strings.Lines(output) {
		if strings.Contains(line, "servers diverged") {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "pg_rewind:"))
		}
	}
	return ""
}

// rewindSource is the primary as pg_rewind's --source-server (the node's
// DSN: a superuser login, with its TLS settings) and its password.
func (n *Nodes) rewindSource(primary schemas.PostgresNode) (string, string, error) {
	params, err := conninfo.Parse(primary.DSN)
	if err != nil {
		return "", "", activities.InvalidInput("dsn", fmt.Sprintf("of %s: %v", primary.Name, err))
	}
	pw, err := n.Clients.Secrets.Value(primary.Password)
	if err != nil {
		return "", "", fmt.Errorf("password of %s: %w", primary.Name, err)
	}
	// A URL's authority parses as one host keyword; libpq wants them apart.
	host, port, err := nodeHostPort(primary)
	if err != nil {
		return "", "", err
	}
	delete(params, "hostaddr")
	params["host"], params["port"] = host, strconv.Itoa(int(port))
	params["connect_timeout"], params["application_name"] = "5", "lifeboat-rewind"
	if params["dbname"] == "" {
		params["dbname"] = "postgres"
	}
	return conninfo.Format(params), pw, nil
}

// writeStandbyConf makes the next start a standby of primary: its
// primary_conninfo (the topology's replication role), its slot, no
// read-only fence, and standby.signal.
func (n *Nodes) writeStandbyConf(ctx context.Context, d pgctl.Dir, node, primary schemas.PostgresNode) error {
	auto, err := d.ReadAutoConf()
	if err != nil {
		return err
	}
	existing, _ := pgctl.AutoConfValue(auto, "primary_conninfo")
	primaryConninfo, err := n.standbyConninfo(existing, node, primary, true)
	if err != nil {
		return err
	}
	set := []pgctl.Setting{{Name: "primary_conninfo", Value: primaryConninfo}}
	reset := []string{"default_transaction_read_only", "primary_slot_name"}
	if slot, ok := n.rejoinSlot(ctx, auto, node, primary); ok {
		set = append(set, pgctl.Setting{Name: "primary_slot_name", Value: slot})
	}
	if err := d.EditAutoConf(set, reset...); err != nil {
		return err
	}
	if err := d.RemoveSignals(); err != nil {
		return err
	}
	return d.WriteStandbySignal()
}

// rejoinSlot is the slot the node streams through: its own, when the
// primary has it, or when the node used a slot before (then it is made).
func (n *Nodes) rejoinSlot(ctx context.Context, auto []pgctl.Setting, node, primary schemas.PostgresNode) (string, bool) {
	slot := SlotName(node.Name)
	var exists bool
	err := n.withConn(ctx, primary, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = $1)`, slot).Scan(&exists)
	})
	if err == nil && exists {
		return slot, true
	}
	if used, _ := pgctl.AutoConfValue(auto, "primary_slot_name"); used != "" {
		if err := n.ensureSlotOn(ctx, primary, slot); err == nil {
			return slot, true
		}
	}
	return "", false
}

// waitStreaming waits until the node streams from primary. A postmaster
// that dies ends the wait with the end of its log.
func (n *Nodes) waitStreaming(ctx context.Context, d pgctl.Dir, node, primary schemas.PostgresNode, logFile string) error {
	started := time.Now()
	var lastErr error
	for {
		streaming, err := n.streamingFrom(ctx, node, primary)
		if err == nil && streaming {
			return nil
		}
		lastErr = err
		if time.Since(started) > startGrace {
			if running, _, serr := d.Status(ctx); serr == nil && !running {
				return fmt.Errorf("%s stopped after its start as a standby of %s: %s", node.Name, primary.Name, activities.TailFile(logFile, 8))
			}
		}
		if err := sleepCtx(ctx, pollEvery*2); err != nil {
			return fmt.Errorf("%s does not stream from %s yet: %w (last: %v); end of %s:\n%s",
				node.Name, primary.Name, err, lastErr, logFile, activities.TailFile(logFile, 8))
		}
	}
}

// dropStaleSlots drops the inactive slots a former primary kept for the
// other nodes: on a standby nothing uses them and they hold back WAL. A
// promotion makes them again.
func (n *Nodes) dropStaleSlots(ctx context.Context, node schemas.PostgresNode) error {
	var names []string
	for _, r := range n.Topology.Regions {
		for _, other := range r.Postgres {
			names = append(names, SlotName(other.Name))
		}
	}
	return n.withConn(ctx, node, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
			WHERE slot_type = 'physical' AND NOT active AND slot_name = ANY($1)`, names)
		if err != nil {
			return fmt.Errorf("drop stale slots on %s: %w", node.Name, err)
		}
		return nil
	})
}

// appendLog opens the node's log for appending, as the PostgreSQL user
// would; without it the output is dropped.
func appendLog(path string) (io.Writer, func()) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return io.Discard, func() {}
	}
	if u, err := pgos.PostgresUser(); err == nil {
		_ = u.Chown(path)
	}
	fmt.Fprintf(f, "\n=== lifeboat: crash recovery in single-user mode at %s ===\n", time.Now().UTC().Format(time.RFC3339))
	return f, func() { f.Close() }
}
