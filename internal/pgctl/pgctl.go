// Package pgctl acts on a PostgreSQL data directory of this host, as the
// PostgreSQL OS user (its postmaster, control data, rewind and standby
// settings): the steps that fencing and rejoining a node are built from.
package pgctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/runnerhub/lifeboat/internal/pgos"
)

// Dir is a data directory and the PostgreSQL programs that work on it.
type Dir struct {
	// Path is the data directory.
	Path string
	// Bin is the directory of pg_ctl, pg_controldata, pg_rewind and postgres.
	Bin string
}

// Exists reports whether Path holds a data directory this process can read.
func (d Dir) Exists() bool {
	_, err := os.Stat(filepath.Join(d.Path, "PG_VERSION"))
	return err == nil
}

// env is the environment of PostgreSQL's programs: minimal, so no PG*
// variable of the worker leaks in, and in English, so output parses.
func (d Dir) env(extra ...string) []string {
	return append([]string{"PATH=" + d.Bin + ":/usr/local/bin:/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}, extra...)
}

// command prepares prog of Bin to run as the PostgreSQL user in Path.
func (d Dir) command(ctx context.Context, env []string, prog string, args ...string) (*exec.Cmd, error) {
	u, err := pgos.PostgresUser()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(d.Bin, prog), args...)
	cmd.Env = env
	cmd.Dir = d.Path // the worker's own directory may be closed to the postgres user
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.Cred}
	cmd.WaitDelay = 5 * time.Second
	return cmd, nil
}

// run runs prog and returns its combined output; a failure carries it.
func (d Dir) run(ctx context.Context, env []string, prog string, args ...string) (string, error) {
	cmd, err := d.command(ctx, env, prog, args...)
	if err != nil {
		return "", err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), &ExitError{Prog: prog, Err: err, Output: strings.TrimSpace(string(out))}
	}
	return string(out), nil
}

// ExitError is a PostgreSQL program that failed, with what it printed.
type ExitError struct {
	Prog   string
	Err    error
	Output string
}

func (e *ExitError) Error() string { return fmt.Sprintf("%s: %v: %s", e.Prog, e.Err, e.Output) }
func (e *ExitError) Unwrap() error { return e.Err }

// exitCode is the exit status of a failed program, or -1.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// Status reports whether a server runs on the directory, and its pid: a
// postmaster, or a single-user server (see Serving).
func (d Dir) Status(ctx context.Context) (running bool, pid int, err error) {
	st, err := d.status(ctx)
	return st.running, st.pid, err
}

// Serving reports whether a postmaster runs on the directory. A
// single-user server does not count: it takes no connections, so no
// writes, and it is what a rejoin runs to finish the crash recovery of a
// node that died (SingleUserRecovery).
func (d Dir) Serving(ctx context.Context) (bool, error) {
	st, err := d.status(ctx)
	return st.running && !st.singleUser, err
}

// serverStatus is what pg_ctl status says.
type serverStatus struct {
	running, singleUser bool
	pid                 int
}

func (d Dir) status(ctx context.Context) (serverStatus, error) {
	out, err := d.run(ctx, d.env(), "pg_ctl", "status", "-D", d.Path)
	switch code := exitCode(err); {
	case err == nil:
		return parseStatus(out), nil
	case code == 3:
		return serverStatus{}, nil
	default:
		return serverStatus{}, fmt.Errorf("status of %s: %w", d.Path, err)
	}
}

// parseStatus reads the first line pg_ctl status prints for a running
// server: "pg_ctl: server is running (PID: 1234)", or "pg_ctl: single-user
// server is running (PID: 1234)".
func parseStatus(out string) serverStatus {
	line, _, _ := strings.Cut(out, "\n")
	st := serverStatus{running: true, singleUser: strings.Contains(line, "single-user server")}
	if _, rest, ok := strings.Cut(line, "(PID: "); ok {
		st.pid, _ = strconv.Atoi(strings.TrimSpace(strings.SplitN(rest, ")", 2)[0]))
	}
	return st
}

// Stop modes of pg_ctl stop.
const (
	StopFast      = "fast"      // a shutdown checkpoint, sent to the standbys first
	StopImmediate = "immediate" // no checkpoint: crash recovery at the next start
)

// Stop stops the postmaster and waits until it is gone; a postmaster that
// does not run is already stopped.
func (d Dir) Stop(ctx context.Context, mode string) error {
	running, _, err := d.Status(ctx)
	if err != nil || !running {
		return err
	}
	if _, err := d.run(ctx, d.env(), "pg_ctl", "stop", "-D", d.Path, "-m", mode, "-w", "-t", "60"); err != nil {
		if running, _, serr := d.Status(ctx); serr == nil && !running {
			return nil // it went away between the two calls
		}
		return fmt.Errorf("stop %s: %w", d.Path, err)
	}
	return nil
}

// Start starts the postmaster with pg_ctl, its output appended to logFile,
// with options (postgres command-line arguments) and extra environment. It
// does not wait for the server to accept connections.
func (d Dir) Start(ctx context.Context, logFile string, options, extraEnv []string) error {
	u, err := pgos.PostgresUser()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
		return fmt.Errorf("log directory of %s: %w", d.Path, err)
	}
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open log %s: %w", logFile, err)
	}
	fmt.Fprintf(f, "\n=== lifeboat: pg_ctl start at %s ===\n", time.Now().UTC().Format(time.RFC3339))
	f.Close()
	if err := u.Chown(logFile); err != nil {
		return err
	}
	args := []string{"start", "-D", d.Path, "-l", logFile, "-W"}
	if len(options) > 0 {
		quoted := make([]string, len(options))
		for i, o := range options {
			quoted[i] = shellQuote(o) // pg_ctl hands -o to /bin/sh
		}
		args = append(args, "-o", strings.Join(quoted, " "))
	}
	if _, err := d.run(ctx, d.env(extraEnv...), "pg_ctl", args...); err != nil {
		return fmt.Errorf("start %s: %w", d.Path, err)
	}
	return nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// SavedOptions returns the command-line options the postmaster last ran
// with (postmaster.opts, without the program and its -D), so a restart keeps
// settings given there, such as archiving. A missing file means none.
func (d Dir) SavedOptions() ([]string, error) {
	b, err := os.ReadFile(filepath.Join(d.Path, "postmaster.opts"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseOpts(string(b)), nil
}

// parseOpts reads postmaster.opts: the program, then every argument in
// double quotes, which PostgreSQL writes without escaping.
func parseOpts(text string) []string {
	text = strings.TrimSpace(text)
	var args []string
	for {
		i := strings.Index(text, ` "`)
		if i < 0 {
			break
		}
		rest := text[i+2:]
		end := strings.Index(rest, `" "`)
		if end < 0 {
			end = strings.LastIndex(rest, `"`)
			if end < 0 {
				break
			}
		}
		args = append(args, rest[:end])
		text = rest[end+1:]
	}
	var opts []string
	for i := 0; i < len(args); i++ {
		if args[i] == "-D" && i+1 < len(args) {
			i++
			continue
		}
		opts = append(opts, args[i])
	}
	return opts
}

// LogOf returns the file a running postmaster writes its output to, or ""
// when it writes none (a pipe, /dev/null) or cannot be seen.
func LogOf(pid int) string {
	target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/2", pid))
	if err != nil || !filepath.IsAbs(target) || strings.HasPrefix(target, "/dev/") {
		return ""
	}
	return target
}

// Control data fields.
const (
	FieldState           = "Database cluster state"
	FieldCheckpoint      = "Latest checkpoint location"
	FieldCheckpointTLI   = "Latest checkpoint's TimeLineID"
	StateShutDown        = "shut down"
	StateShutDownRecover = "shut down in recovery"
	StateArchiveRecovery = "in archive recovery"
)

// ControlData returns pg_controldata's fields.
func (d Dir) ControlData(ctx context.Context) (map[string]string, error) {
	out, err := d.run(ctx, d.env(), "pg_controldata", "-D", d.Path)
	if err != nil {
		return nil, fmt.Errorf("control data of %s: %w", d.Path, err)
	}
	fields := map[string]string{}
	for line := range strings.Lines(out) {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return fields, nil
}

// CleanlyStopped reports whether the control data says the last stop wrote
// a shutdown checkpoint, as pg_rewind requires of its target.
func CleanlyStopped(control map[string]string) bool {
	s := control[FieldState]
	return s == StateShutDown || s == StateShutDownRecover
}

// SingleUserRecovery runs crash recovery on a directory whose postmaster
// died, in single-user mode, so it ends with a shutdown checkpoint; what it
// printed goes to log. A standby.signal must not be present: single-user
// mode refuses standby mode.
func (d Dir) SingleUserRecovery(ctx context.Context, log io.Writer) error {
	cmd, err := d.command(ctx, d.env(), "postgres", "--single", "-F", "-D", d.Path, "-c", "archive_mode=off", "template1")
	if err != nil {
		return err
	}
	var out bytes.Buffer
	cmd.Stdin = strings.NewReader("")
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, log), io.MultiWriter(&out, log)
	if err := cmd.Run(); err != nil {
		return &ExitError{Prog: "postgres --single", Err: err, Output: strings.TrimSpace(out.String())}
	}
	return nil
}

// RewindResult is what pg_rewind did.
type RewindResult struct {
	// Rewound is false when pg_rewind found no divergence.
	Rewound bool
	Output  string
}

// Rewind runs pg_rewind against the source server (a libpq keyword string
// without the password, which is passed in the environment). The target
// must be cleanly stopped.
func (d Dir) Rewind(ctx context.Context, source, password string) (RewindResult, error) {
	var extra []string
	if password != "" {
		extra = append(extra, "PGPASSWORD="+password)
	}
	out, err := d.run(ctx, d.env(extra...), "pg_rewind", "--target-pgdata="+d.Path, "--source-server="+source)
	res := RewindResult{Output: strings.TrimSpace(out), Rewound: !strings.Contains(out, "no rewind required")}
	return res, err
}

// Signal files of a data directory.
const (
	StandbySignal  = "standby.signal"
	RecoverySignal = "recovery.signal"
)

// WriteStandbySignal makes the next start come back as a standby: read-only.
func (d Dir) WriteStandbySignal() error {
	return d.writeFile(StandbySignal, nil, 0o600)
}

// RemoveSignals removes standby.signal and recovery.signal.
func (d Dir) RemoveSignals() error {
	for _, name := range []string{StandbySignal, RecoverySignal} {
		if err := os.Remove(filepath.Join(d.Path, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// writeFile writes a file of the directory, atomically, owned by the
// PostgreSQL user.
func (d Dir) writeFile(name string, data []byte, mode os.FileMode) error {
	u, err := pgos.PostgresUser()
	if err != nil {
		return err
	}
	path := filepath.Join(d.Path, name)
	tmp := path + ".lifeboat-tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := u.Chown(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// SaveFiles reads files of the directory that exist, so they can be put
// back after pg_rewind, which copies the source's.
func (d Dir) SaveFiles(names ...string) (map[string][]byte, error) {
	saved := map[string][]byte{}
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(d.Path, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		saved[name] = b
	}
	return saved, nil
}

// RestoreFiles writes back what SaveFiles read.
func (d Dir) RestoreFiles(saved map[string][]byte) error {
	for name, b := range saved {
		if err := d.writeFile(name, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// Rebuild replaces the data directory with a fresh copy of the source
// server, taken with pg_basebackup over a replication connection, when
// pg_rewind cannot make it follow (its WAL is gone, for one). The copy is
// made beside it and swapped in only when complete; the files in keep
// (the node's own configuration) are carried over. The diverged directory
// is removed: what it held beyond the fork was never on the new primary.
func (d Dir) Rebuild(ctx context.Context, source, password string, keep map[string][]byte) (string, error) {
	tmp := d.Path + ".rebuild"
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	var extra []string
	if password != "" {
		extra = append(extra, "PGPASSWORD="+password)
	}
	parent := Dir{Path: filepath.Dir(d.Path), Bin: d.Bin}
	out, err := parent.run(ctx, d.env(extra...), "pg_basebackup", "--pgdata="+tmp, "--dbname="+source,
		"--wal-method=stream", "--checkpoint=fast", "--no-password")
	if err != nil {
		_ = os.RemoveAll(tmp)
		return out, fmt.Errorf("pg_basebackup into %s: %w", tmp, err)
	}
	fresh := Dir{Path: tmp, Bin: d.Bin}
	if err := fresh.RestoreFiles(keep); err != nil {
		return out, err
	}
	old := d.Path + ".diverged"
	if err := os.RemoveAll(old); err != nil {
		return out, err
	}
	if err := os.Rename(d.Path, old); err != nil {
		return out, err
	}
	if err := os.Rename(tmp, d.Path); err != nil {
		return out, err
	}
	return out, os.RemoveAll(old)
}

// DefaultBinDir is where Debian installs PostgreSQL 15's programs.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"
