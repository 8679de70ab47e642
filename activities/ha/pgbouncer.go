package ha

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/internal/conninfo"
	"github.com/runnerhub/lifeboat/schemas"
)

// pgbouncerTimeout bounds the talk with one pgbouncer's admin console.
const pgbouncerTimeout = 5 * time.Second

// repointPgBouncer points a pgbouncer's database entry at the primary: it
// rewrites the entry in the databases file, keeping every other line, tells
// pgbouncer to RELOAD, and checks that SHOW DATABASES names the primary.
func repointPgBouncer(ctx context.Context, b schemas.PgBouncer, secrets activities.Secrets, primary schemas.PostgresNode, addr string) error {
	host, port, err := nodeHostPort(primary)
	if err != nil {
		return err
	}
	dbname := ""
	if cfg, err := pgx.ParseConfig(primary.DSN); err == nil {
		dbname = cfg.Database
	}
	if err := rewriteDatabasesFile(b.DatabasesFile, b.Database, host, port, dbname); err != nil {
		return fmt.Errorf("pgbouncer %s: %w", b.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, pgbouncerTimeout)
	defer cancel()
	cfg, err := pgx.ParseConfig(b.AdminDSN)
	if err != nil {
		return activities.InvalidInput("failover.pgbouncer.admin_dsn", fmt.Sprintf("of %s: %v", b.Name, err))
	}
	pw, err := secrets.Value(b.Password)
	if err != nil {
		return fmt.Errorf("password of pgbouncer %s: %w", b.Name, err)
	}
	if pw != "" {
		cfg.Password = pw
	}
	// The admin console speaks the simple query protocol only.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	cfg.ConnectTimeout = 2 * time.Second
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("pgbouncer %s: connect to the admin console: %w", b.Name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "RELOAD"); err != nil {
		return fmt.Errorf("pgbouncer %s: RELOAD: %w", b.Name, err)
	}
	got, err := pgbouncerTarget(ctx, conn, b.Database)
	if err != nil {
		return fmt.Errorf("pgbouncer %s: %w", b.Name, err)
	}
	if want := host + ":" + strconv.Itoa(int(port)); got != want {
		return fmt.Errorf("pgbouncer %s: after RELOAD database %s points at %s, not at the primary %s (%s)", b.Name, b.Database, got, primary.Name, want)
	}
	return nil
}

// pgbouncerTarget returns host:port of a database as SHOW DATABASES says.
func pgbouncerTarget(ctx context.Context, conn *pgx.Conn, database string) (string, error) {
	rows, err := conn.Query(ctx, "SHOW DATABASES")
	if err != nil {
		return "", fmt.Errorf("SHOW DATABASES: %w", err)
	}
	defer rows.Close()
	col := map[string]int{}
	for i, f := range rows.FieldDescriptions() {
		col[f.Name] = i
	}
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			return "", err
		}
		if fmt.Sprint(v[col["name"]]) == database {
			return fmt.Sprintf("%v:%v", v[col["host"]], v[col["port"]]), nil
		}
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("SHOW DATABASES does not list %s after RELOAD", database)
}

// rewriteDatabasesFile sets host and port of database's entry in the
// [databases] section of an ini file, adding the entry (and the section)
// when missing. The file is replaced atomically with its mode and owner.
func rewriteDatabasesFile(path, database, host string, port uint16, dbname string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	text, err := setDatabaseEntry(string(old), database, host, port, dbname)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if text == string(old) {
		return nil
	}
	mode := os.FileMode(0o644)
	uid, gid := -1, -1
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return err
	}
	if uid >= 0 && os.Geteuid() == 0 {
		if err := os.Chown(tmp.Name(), uid, gid); err != nil {
			return err
		}
	}
	return os.Rename(tmp.Name(), path)
}

// setDatabaseEntry returns the ini text with database's connection string
// pointing at host:port; its other parameters are kept.
func setDatabaseEntry(text, database, host string, port uint16, dbname string) (string, error) {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if text == "" {
		lines = nil
	}
	section, insertAt := "", -1
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "[") && strings.HasSuffix(trimmed, "]") {
			section = strings.ToLower(strings.TrimSpace(trimmed[1 : len(trimmed)-1]))
			if section == "databases" {
				insertAt = i + 1
			}
			continue
		}
		key, value, ok := strings.Cut(trimmed, "=")
		if section != "databases" || !ok || strings.HasPrefix(trimmed, ";") || strings.HasPrefix(trimmed, "#") ||
			strings.TrimSpace(key) != database {
			continue
		}
		params, err := conninfo.ParseKeywords(strings.TrimSpace(value))
		if err != nil {
			return "", fmt.Errorf("entry of %s: %w", database, err)
		}
		params["host"], params["port"] = host, strconv.Itoa(int(port))
		lines[i] = database + " = " + conninfo.Format(params)
		return strings.Join(lines, "\n") + "\n", nil
	}
	params := map[string]string{"host": host, "port": strconv.Itoa(int(port))}
	if dbname != "" {
		params["dbname"] = dbname
	}
	entry := database + " = " + conninfo.Format(params)
	if insertAt < 0 {
		lines = append([]string{"[databases]", entry}, lines...)
	} else {
		lines = append(lines[:insertAt], append([]string{entry}, lines[insertAt:]...)...)
	}
	return strings.Join(lines, "\n") + "\n", nil
}
