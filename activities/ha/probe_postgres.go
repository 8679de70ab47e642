package ha

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/runnerhub/lifeboat/schemas"
)

// probePostgres reads a node's role and replication position. A primary also
// reports its standbys as pg_stat_replication sees them, which is the only
// place that knows which standby is synchronous. It reads as the monitor
// login: everything it reads is open to pg_monitor.
func (p *Probe) probePostgres(ctx context.Context, n schemas.PostgresNode) schemas.NodeHealth {
	h := schemas.NodeHealth{Name: n.Name, Kind: schemas.KindPostgres, Role: schemas.RoleUnknown}
	pool, err := p.Clients.PostgresMonitor(ctx, n)
	if err != nil {
		h.Error = err.Error()
		return h
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		h.Error = fmt.Sprintf("connect: %v", err)
		return h
	}
	defer conn.Release()

	var inRecovery bool
	if err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err != nil {
		h.Error = fmt.Sprintf("query role: %v", err)
		return h
	}
	if inRecovery {
		err = probeStandby(ctx, conn.Conn(), &h)
	} else {
		err = probePrimary(ctx, conn.Conn(), &h)
	}
	if err != nil {
		h.Error = err.Error()
		return h
	}
	h.Healthy = h.Role == schemas.RolePrimary || h.Streaming
	if !h.Healthy {
		h.Error = "not streaming from a primary"
	}
	return h
}

func probePrimary(ctx context.Context, conn *pgx.Conn, h *schemas.NodeHealth) error {
	h.Role = schemas.RolePrimary
	err := conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text, (SELECT timeline_id FROM pg_control_checkpoint())`).
		Scan(&h.CurrentLSN, &h.Timeline)
	if err != nil {
		return fmt.Errorf("query wal position: %w", err)
	}
	rows, err := conn.Query(ctx, `
		SELECT application_name, coalesce(state, ''), coalesce(sync_state, ''),
		       coalesce(sent_lsn::text, ''), coalesce(replay_lsn::text, ''),
		       coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint
		FROM pg_stat_replication ORDER BY application_name`)
	if err != nil {
		return fmt.Errorf("query pg_stat_replication: %w", err)
	}
	h.Standbys, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (schemas.StandbyStat, error) {
		var s schemas.StandbyStat
		err := r.Scan(&s.ApplicationName, &s.State, &s.SyncState, &s.SentLSN, &s.ReplayLSN, &s.ReplayLagBytes)
		return s, err
	})
	if err != nil {
		return fmt.Errorf("read pg_stat_replication: %w", err)
	}
	h.WALArchive = walArchiveStatus(ctx, conn)
	return nil
}

// walArchiveStatus reads the WAL segments waiting in archive_status (a
// .ready file is written when a segment is finished, and renamed .done once
// archive_command succeeds). It needs superuser or pg_monitor (the monitor
// login's role); failing to read it is reported beside the node's health,
// not as its failure.
func walArchiveStatus(ctx context.Context, conn *pgx.Conn) *schemas.WALArchiveStatus {
	var s schemas.WALArchiveStatus
	err := conn.QueryRow(ctx, `
		SELECT count(*)::bigint, coalesce(extract(epoch FROM now() - min(modification)), 0)::float8
		FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'`).Scan(&s.Pending, &s.OldestSeconds)
	if err != nil {
		return &schemas.WALArchiveStatus{Error: fmt.Sprintf("read archive_status: %v", err)}
	}
	return &s
}

func probeStandby(ctx context.Context, conn *pgx.Conn, h *schemas.NodeHealth) error {
	h.Role = schemas.RoleReplica
	var lagSeconds float64
	// Lag in time is the age of the last replayed transaction, but only while
	// there is WAL left to replay: an idle primary must not look like lag.
	err := conn.QueryRow(ctx, `
		SELECT coalesce(pg_last_wal_receive_lsn()::text, ''), coalesce(pg_last_wal_replay_lsn()::text, ''),
		       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
		            ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8`).
		Scan(&h.ReceivedLSN, &h.ReplayedLSN, &lagSeconds)
	if err != nil {
		return fmt.Errorf("query replay position: %w", err)
	}
	h.LagSeconds = &lagSeconds

	var status, host string
	var port, tli int64
	err = conn.QueryRow(ctx, `
		SELECT coalesce(status, ''), coalesce(sender_host, ''), coalesce(sender_port, 0), coalesce(received_tli, 0)
		FROM pg_stat_wal_receiver`).Scan(&status, &host, &port, &tli)
	switch {
	case err == pgx.ErrNoRows:
		return nil // no WAL receiver: not streaming
	case err != nil:
		return fmt.Errorf("query pg_stat_wal_receiver: %w", err)
	}
	h.Streaming = status == "streaming"
	h.Timeline = tli
	if host != "" {
		h.Upstream = fmt.Sprintf("%s:%d", host, port)
	}
	return nil
}
