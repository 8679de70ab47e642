package ha

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/internal/conninfo"
	"github.com/runnerhub/lifeboat/schemas"
)

// promoteWait is how long pg_promote waits for the promotion to finish.
const promoteWait = 60

// Promote promotes a replica (pg_promote), idempotently. Before the
// promotion it sets the node's synchronous standbys, so that no commit on
// the new primary is acknowledged before a standby has it; after it, it
// creates the replication slots the other nodes stream through, when the
// cluster uses slots (the promoted node streamed through one).
func (n *Nodes) Promote(ctx context.Context, in schemas.PromoteInput) (schemas.PromoteResult, error) {
	n, err := serving(n, in.Cluster)
	if err != nil {
		return schemas.PromoteResult{}, err
	}
	node, err := n.local(in.Cluster, in.Node)
	if err != nil {
		return schemas.PromoteResult{}, err
	}
	for _, s := range in.SyncStandbys {
		if s == node.Name || strings.Contains(s, `"`) {
			return schemas.PromoteResult{}, activities.InvalidInput("sync_standbys", fmt.Sprintf("%q cannot be a synchronous standby of %s", s, node.Name))
		}
	}
	conn, err := n.dial(ctx, node, 5*time.Second)
	if err != nil {
		return schemas.PromoteResult{}, fmt.Errorf("promote %s: %w", node.Name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var inRecovery bool
	var slot, syncNames, readOnly, retry string
	err = conn.QueryRow(ctx, `SELECT pg_is_in_recovery(), current_setting('primary_slot_name'),
		current_setting('synchronous_standby_names'), current_setting('default_transaction_read_only'),
		current_setting('wal_retrieve_retry_interval')`).
		Scan(&inRecovery, &slot, &syncNames, &readOnly, &retry)
	if err != nil {
		return schemas.PromoteResult{}, fmt.Errorf("promote %s: read its state: %w", node.Name, err)
	}
	var stmts []string
	if want := syncStandbyNames(in.SyncStandbys); syncNames != want {
		stmts = append(stmts, "ALTER SYSTEM SET synchronous_standby_names = "+quoteLiteral(want))
	}
	if readOnly == "on" { // a read-only fence of an earlier epoch
		stmts = append(stmts, "ALTER SYSTEM RESET default_transaction_read_only")
	}
	if inRecovery && retry != promoteRetryInterval {
		// A standby whose primary went away sleeps up to this interval
		// (5 s by default) between attempts to fetch WAL, and PostgreSQL
		// 15 does not cut that sleep short for a promotion.
		stmts = append(stmts, "ALTER SYSTEM SET wal_retrieve_retry_interval = "+quoteLiteral(promoteRetryInterval))
	}
	if err := execAll(ctx, conn, node.Name, stmts); err != nil {
		return schemas.PromoteResult{}, err
	}
	res := schemas.PromoteResult{AlreadyPrimary: !inRecovery}
	if inRecovery {
		// The worker heartbeats the whole activity (internal/keepalive); a
		// heartbeat of its own here would end that and leave the steps
		// after the promotion without one.
		var done bool
		err := conn.QueryRow(ctx, `SELECT pg_promote(true, $1)`, promoteWait).Scan(&done)
		if err != nil {
			return res, fmt.Errorf("promote %s: pg_promote: %w", node.Name, err)
		}
		if !done {
			return res, fmt.Errorf("promote %s: promotion did not finish within %d s", node.Name, promoteWait)
		}
		n.logger().Warn("node promoted", zap.String("cluster", in.Cluster), zap.String("node", node.Name),
			zap.Int64("epoch", in.Epoch), zap.Strings("sync_standbys", in.SyncStandbys))
	}
	if inRecovery || retry == promoteRetryInterval {
		if err := execAll(ctx, conn, node.Name, []string{"ALTER SYSTEM RESET wal_retrieve_retry_interval"}); err != nil {
			return res, err
		}
	}
	if slot != "" {
		if err := n.ensureSlots(ctx, conn, node.Name); err != nil {
			return res, fmt.Errorf("promote %s: %w", node.Name, err)
		}
	}
	err = conn.QueryRow(ctx, `SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int::bigint,
		pg_current_wal_lsn()::text`).Scan(&res.Timeline, &res.LSN)
	if err != nil {
		return res, fmt.Errorf("promote %s: read its position: %w", node.Name, err)
	}
	return res, nil
}

// promoteRetryInterval is the standby's wal_retrieve_retry_interval while
// it is promoted.
const promoteRetryInterval = "100ms"

// execAll runs statements that change settings, then reloads them.
func execAll(ctx context.Context, conn *pgx.Conn, node string, stmts []string) error {
	if len(stmts) == 0 {
		return nil
	}
	for _, q := range append(stmts, "SELECT pg_reload_conf()") {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", strings.TrimSpace(node+" "+q), err)
		}
	}
	return nil
}

// syncStandbyNames is synchronous_standby_names naming any one of names.
func syncStandbyNames(names []string) string {
	if len(names) == 0 {
		return ""
	}
	quoted := make([]string, len(names))
	for i, s := range names {
		quoted[i] = `"` + s + `"`
	}
	return "ANY 1 (" + strings.Join(quoted, ", ") + ")"
}

// ensureSlots creates on a primary the physical slot of every other node of
// the cluster, and recreates one whose WAL was lost; a slot reserves WAL
// from its creation, so a repointed replica finds what it needs.
func (n *Nodes) ensureSlots(ctx context.Context, conn *pgx.Conn, self string) error {
	rows, err := conn.Query(ctx, `SELECT slot_name::text, coalesce(wal_status, ''), active FROM pg_replication_slots WHERE slot_type = 'physical'`)
	if err != nil {
		return fmt.Errorf("list replication slots: %w", err)
	}
	type slotState struct {
		walStatus string
		active    bool
	}
	have := map[string]slotState{}
	var name string
	var st slotState
	_, err = pgx.ForEachRow(rows, []any{&name, &st.walStatus, &st.active}, func() error {
		have[name] = st
		return nil
	})
	if err != nil {
		return fmt.Errorf("list replication slots: %w", err)
	}
	for _, r := range n.Topology.Regions {
		for _, other := range r.Postgres {
			if other.Name == self {
				continue
			}
			slot := SlotName(other.Name)
			cur, ok := have[slot]
			if ok && (cur.walStatus != "lost" || cur.active) {
				continue
			}
			if ok {
				if _, err := conn.Exec(ctx, `SELECT pg_drop_replication_slot($1)`, slot); err != nil {
					return fmt.Errorf("drop lost slot %s: %w", slot, err)
				}
			}
			if _, err := conn.Exec(ctx, `SELECT pg_create_physical_replication_slot($1, true)`, slot); err != nil {
				return fmt.Errorf("create slot %s: %w", slot, err)
			}
		}
	}
	return nil
}

// ensureSlotOn creates slot on node unless it exists.
func (n *Nodes) ensureSlotOn(ctx context.Context, node schemas.PostgresNode, slot string) error {
	return n.withConn(ctx, node, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `SELECT pg_create_physical_replication_slot(s, true) FROM (SELECT $1::name AS s) v
			WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = v.s)`, slot)
		if err != nil {
			return fmt.Errorf("create slot %s on %s: %w", slot, node.Name, err)
		}
		return nil
	})
}

// Repoint makes a replica stream from the given primary: its
// primary_conninfo keeps every parameter but the host and port, which
// become the primary's; PostgreSQL 15 reloads it without a restart.
func (n *Nodes) Repoint(ctx context.Context, in schemas.RepointInput) (schemas.RepointResult, error) {
	n, err := serving(n, in.Cluster)
	if err != nil {
		return schemas.RepointResult{}, err
	}
	node, err := n.local(in.Cluster, in.Node)
	if err != nil {
		return schemas.RepointResult{}, err
	}
	primary, ok := n.Topology.PostgresNode(in.Primary)
	if !ok || in.Primary == in.Node {
		return schemas.RepointResult{}, activities.InvalidInput("primary", fmt.Sprintf("%q is not another PostgreSQL node of cluster %s", in.Primary, in.Cluster))
	}
	conn, err := n.dial(ctx, node, 5*time.Second)
	if err != nil {
		return schemas.RepointResult{}, fmt.Errorf("repoint %s: %w", node.Name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var inRecovery bool
	var cur, slot string
	err = conn.QueryRow(ctx, `SELECT pg_is_in_recovery(), current_setting('primary_conninfo'), current_setting('primary_slot_name')`).
		Scan(&inRecovery, &cur, &slot)
	if err != nil {
		return schemas.RepointResult{}, fmt.Errorf("repoint %s: read its settings: %w", node.Name, err)
	}
	if !inRecovery {
		return schemas.RepointResult{}, activities.InvalidInput("node", fmt.Sprintf("%s is not a replica (not in recovery): rejoin it instead", node.Name))
	}
	want, err := n.standbyConninfo(cur, node, primary, false)
	if err != nil {
		return schemas.RepointResult{}, err
	}
	if slot != "" {
		if err := n.ensureSlotOn(ctx, primary, slot); err != nil {
			return schemas.RepointResult{}, fmt.Errorf("repoint %s: %w", node.Name, err)
		}
	}
	if sameConninfo(cur, want) {
		return schemas.RepointResult{Changed: false}, nil
	}
	if err := execAll(ctx, conn, node.Name, []string{"ALTER SYSTEM SET primary_conninfo = " + quoteLiteral(want)}); err != nil {
		return schemas.RepointResult{}, fmt.Errorf("repoint: %w", err)
	}
	n.logger().Warn("replica repointed", zap.String("cluster", in.Cluster), zap.String("node", node.Name), zap.String("primary", primary.Name))
	return schemas.RepointResult{Changed: true}, nil
}

// standbyConninfo is the primary_conninfo that makes node stream from
// primary: existing's parameters with the primary's host and port. The
// role comes from the topology's failover.replication when existing names
// none, or always when forceRole; application_name is the node's name, as
// synchronous_standby_names expects.
func (n *Nodes) standbyConninfo(existing string, node, primary schemas.PostgresNode, forceRole bool) (string, error) {
	params, err := conninfo.ParseKeywords(existing)
	if err != nil {
		params = map[string]string{}
	}
	host, port, err := nodeHostPort(primary)
	if err != nil {
		return "", err
	}
	delete(params, "hostaddr") // it would win over host
	params["host"], params["port"] = host, strconv.Itoa(int(port))
	if repl := n.Topology.Failover.Replication; repl != nil && (forceRole || params["user"] == "") {
		pw, err := n.Clients.Secrets.Value(repl.Password)
		if err != nil {
			return "", fmt.Errorf("replication password: %w", err)
		}
		params["user"] = repl.User
		delete(params, "password")
		if pw != "" {
			params["password"] = pw
		}
	}
	if params["user"] == "" {
		return "", activities.CannotRejoin(node.Name, "the topology sets no failover.replication role and the node's primary_conninfo names none to keep")
	}
	if forceRole || params["application_name"] == "" {
		params["application_name"] = node.Name
	}
	return conninfo.Format(params), nil
}

// sameConninfo reports whether two connection strings say the same.
func sameConninfo(a, b string) bool {
	pa, errA := conninfo.ParseKeywords(a)
	pb, errB := conninfo.ParseKeywords(b)
	return errA == nil && errB == nil && maps.Equal(pa, pb)
}
