// Package failbench measures automatic failover on the running local stack
// (make bench-failover): the time from a killed primary to the first write
// the new one acknowledges, and the acknowledged writes a failover loses.
package failbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/internal/pgctl"
	"github.com/runnerhub/lifeboat/internal/tclient"
	"github.com/runnerhub/lifeboat/schemas"
)

// Config says what to measure.
type Config struct {
	// Root is the checkout whose local stack runs (make dev).
	Root string
	// Rounds is how many failovers are measured.
	Rounds int
	// AsyncRounds are more failovers after those, each with the primary's
	// synchronous_standby_names emptied just before the kill: what a
	// cluster without a synchronous standby loses.
	AsyncRounds int
	// Idle is how long the monitor's history growth is watched on a quiet
	// cluster.
	Idle time.Duration
	// Fault is what happens to the primary: FaultKill (the default) or
	// FaultFreeze.
	Fault string
	// Logf receives progress messages.
	Logf func(format string, args ...any)
}

// The faults a round can inject into the primary.
const (
	// FaultKill SIGKILLs the postmaster: connections are refused at once.
	FaultKill = "kill"
	// FaultFreeze SIGSTOPs the postmaster and every backend, as a stalled
	// host or a hung disk would: connections hang instead of failing. The
	// processes are thawed once the round has its new primary.
	FaultFreeze = "freeze"
)

func (c Config) fault() string {
	if c.Fault == "" {
		return FaultKill
	}
	return c.Fault
}

// writeEvery is the writer's pace.
const writeEvery = 10 * time.Millisecond

// quietFor is how long the monitor's history must not grow before the idle
// window starts.
const quietFor = 20 * time.Second

// roundTimeout bounds one failover, from the kill to the first write the
// new primary acknowledges.
const roundTimeout = 2 * time.Minute

// settleTimeout bounds the wait for the cluster to be whole again after a
// round: the old primary restarted, rejoined and streaming.
const settleTimeout = 3 * time.Minute

type run struct {
	cfg     Config
	topo    *schemas.Topology
	env     map[string]string
	tc      client.Client
	rdb     *redis.Client
	pgPass  string
	writer  *writer
	cluster string
	stack   *devstack.Stack
}

// Result is what Measure found.
type Result struct {
	// Rounds holds the seconds from each kill to the first write the new
	// primary acknowledged, synchronous rounds first, then asynchronous.
	Rounds []float64
	// FirstEpoch and LastEpoch are the routing record's epochs before the
	// first round and after the switch back.
	FirstEpoch, LastEpoch int64
	// Lost counts the acknowledged writes missing after the rounds with a
	// synchronous standby, AsyncLost after those without one.
	Lost, AsyncLost int
	// Acked counts every acknowledged write.
	Acked int
	// Switched says whether a switchover put the usual primary back;
	// SwitchLost counts what it lost.
	Switched   bool
	SwitchLost int
	// IdlePerHour is the monitor's history growth on a quiet cluster, per
	// hour, over IdleWindow; zero when not measured.
	IdlePerHour float64
	IdleWindow  time.Duration
}

// Run measures cfg.Rounds failovers and the idle history growth, and
// prints name=value lines to out.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	res, err := Measure(ctx, cfg)
	if err != nil {
		return err
	}
	sorted := slices.Sorted(slices.Values(res.Rounds))
	what := "SIGKILL of the primary's postmaster"
	if cfg.fault() == FaultFreeze {
		what = "SIGSTOP of the primary's postmaster and backends"
	}
	fmt.Fprintf(out, "# bench-failover: %d rounds of %s on the local stack, writer every %s through the routing record; %s\n",
		len(res.Rounds), what, writeEvery, time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(out, "# rounds_s=%s\n", joinFloats(res.Rounds))
	fmt.Fprintf(out, "# epochs: %d before, %d after (%d failovers, %d switchovers)\n", res.FirstEpoch, res.LastEpoch, len(res.Rounds), boolInt(res.Switched))
	fmt.Fprintf(out, "epoch_steps=%d\n", res.LastEpoch-res.FirstEpoch)
	fmt.Fprintf(out, "failover_p50_s=%.2f\n", median(sorted))
	fmt.Fprintf(out, "failover_max_s=%.2f\n", sorted[len(sorted)-1])
	fmt.Fprintf(out, "lost_acked_writes=%d\n", res.Lost)
	if cfg.AsyncRounds > 0 {
		fmt.Fprintf(out, "async_lost_acked_writes=%d\n", res.AsyncLost)
	}
	fmt.Fprintf(out, "acked_writes=%d\n", res.Acked)
	if res.Switched {
		fmt.Fprintf(out, "switchover_lost_acked_writes=%d\n", res.SwitchLost)
	}
	if cfg.Idle > 0 {
		fmt.Fprintf(out, "monitor_events_per_idle_hour=%.1f\n", res.IdlePerHour)
	}
	fmt.Fprintf(out, "# idle window %s; reference (defaults): Patroni 30 s leader key TTL, pg_auto_failover ~20 s to mark a node unhealthy, CloudNativePG CI budget 10 s\n", res.IdleWindow)
	return nil
}

// open reads the running stack's topology and secrets and connects to its
// routing store through the sentinels.
func open(cfg Config) (*run, error) {
	stack, err := devstack.New(devstack.DefaultConfig(cfg.Root))
	if err != nil {
		return nil, err
	}
	if len(stack.Running()) == 0 {
		return nil, errors.New("the local stack is not running: start it with `make dev`")
	}
	topo, err := schemas.LoadTopology(stack.TopologyPath())
	if err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, topo: topo, env: map[string]string{}, cluster: topo.Cluster, stack: stack}
	if r.cfg.Logf == nil {
		r.cfg.Logf = func(string, ...any) {}
	}
	for _, kv := range stack.Env() {
		k, v, _ := strings.Cut(kv, "=")
		r.env[k] = v
	}
	r.pgPass = r.env[devstack.EnvPGPassword]
	var sentinels []string
	for _, reg := range topo.Regions {
		for _, s := range reg.Sentinels {
			sentinels = append(sentinels, s.Addr)
		}
	}
	r.rdb = redis.NewFailoverClient(&redis.FailoverOptions{MasterName: topo.Redis.MasterName, SentinelAddrs: sentinels})
	return r, nil
}

// Measure runs cfg.Rounds failovers with a synchronous standby, then
// cfg.AsyncRounds without one, switches back to the usual primary and
// measures the idle history growth.
func Measure(ctx context.Context, cfg Config) (Result, error) {
	var res Result
	if cfg.Rounds < 1 {
		return res, fmt.Errorf("rounds (%d) must be at least 1", cfg.Rounds)
	}
	if f := cfg.fault(); f != FaultKill && f != FaultFreeze {
		return res, fmt.Errorf("fault %q: want %s or %s", f, FaultKill, FaultFreeze)
	}
	r, err := open(cfg)
	if err != nil {
		return res, err
	}
	defer r.rdb.Close()
	unlock, err := lockStack(ctx, filepath.Join(filepath.Dir(r.stack.TopologyPath()), "lock"))
	if err != nil {
		return res, err
	}
	defer unlock()
	opts, err := tclient.Options{Address: devstack.TemporalAddress, Namespace: devstack.Namespace, CodecKeys: r.stack.CodecKeys()}.ClientOptions()
	if err != nil {
		return res, err
	}
	opts.Logger = tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if r.tc, err = client.Dial(opts); err != nil {
		return res, fmt.Errorf("connect to temporal: %w", err)
	}
	defer r.tc.Close()

	if err := r.ensureMonitor(ctx); err != nil {
		return res, err
	}
	if err := r.prepareTable(ctx); err != nil {
		return res, err
	}
	first, err := r.routing(ctx)
	if err != nil {
		return res, err
	}
	res.FirstEpoch = first.Epoch
	wctx, stopWriter := context.WithCancel(ctx)
	r.writer = &writer{run: r}
	var wg sync.WaitGroup
	wg.Go(func() { r.writer.loop(wctx) })
	defer func() { stopWriter(); wg.Wait() }()

	for i := range cfg.Rounds + cfg.AsyncRounds {
		async := i >= cfg.Rounds
		secs, missing, err := r.round(ctx, i+1, async)
		if err != nil {
			return res, fmt.Errorf("round %d: %w", i+1, err)
		}
		res.Rounds = append(res.Rounds, secs)
		if async {
			res.AsyncLost += missing
		} else {
			res.Lost += missing
		}
		cfg.Logf("round %d%s: first write on the new primary %.2fs after the kill; %d acknowledged writes missing",
			i+1, map[bool]string{true: " (asynchronous)"}[async], secs, missing)
	}
	// A switchover back to the usual primary, with the writer still on:
	// a planned move must lose nothing either.
	if res.SwitchLost, res.Switched, err = r.switchBack(ctx, cfg.Rounds+cfg.AsyncRounds+1); err != nil {
		return res, err
	}
	stopWriter()
	wg.Wait()
	res.Acked = r.writer.total()

	if cfg.Idle > 0 {
		if res.IdlePerHour, res.IdleWindow, err = r.idleEvents(ctx); err != nil {
			return res, err
		}
	}
	last, err := r.routing(ctx)
	if err != nil {
		return res, err
	}
	res.LastEpoch = last.Epoch
	return res, nil
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func joinFloats(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 2, 64)
	}
	return strings.Join(parts, ",")
}

// EnsureMonitor starts cluster's HealthMonitor if it does not run, and
// waits until it knows a primary and reports the cluster healthy: a test
// that needs the monitor (and the routing record it creates) on a fresh
// stack starts it so.
func EnsureMonitor(ctx context.Context, tc client.Client, cluster string) error {
	return (&run{tc: tc, cluster: cluster}).ensureMonitor(ctx)
}

// ensureMonitor starts the cluster's HealthMonitor if it does not run, and
// waits until it knows a primary and reports the cluster healthy.
func (r *run) ensureMonitor(ctx context.Context) error {
	id := schemas.MonitorWorkflowID(r.cluster)
	if _, err := r.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: schemas.GlobalTaskQueue, WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, schemas.HealthMonitorWorkflow, schemas.MonitorInput{Cluster: r.cluster}); err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	_, err := r.waitStatus(ctx, time.Minute, "the monitor reports the cluster healthy", func(st schemas.MonitorState) bool {
		return st.Status == schemas.ClusterHealthy && st.Primary != ""
	})
	return err
}

func (r *run) status(ctx context.Context) (schemas.MonitorState, error) {
	var st schemas.MonitorState
	v, err := r.tc.QueryWorkflow(ctx, schemas.MonitorWorkflowID(r.cluster), "", schemas.QueryStatus)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}

func (r *run) waitStatus(ctx context.Context, timeout time.Duration, what string, ok func(schemas.MonitorState) bool) (schemas.MonitorState, error) {
	deadline := time.Now().Add(timeout)
	var last schemas.MonitorState
	var lastErr error
	for time.Now().Before(deadline) {
		st, err := r.status(ctx)
		if err == nil && ok(st) {
			return st, nil
		}
		last, lastErr = st, err
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return last, fmt.Errorf("waited %s for %s: status %q, problems %v, error %v", timeout, what, last.Status, last.Problems, lastErr)
}

// inject brings the round's fault onto the primary old and returns when,
// and how to undo what must be undone once the round has its answer.
func (r *run) inject(n int, old, dataDir string) (time.Time, func(), error) {
	pid, err := postmasterPID(dataDir)
	if err != nil {
		return time.Time{}, nil, err
	}
	if r.cfg.fault() == FaultKill {
		at := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return at, nil, fmt.Errorf("kill the postmaster of %s (pid %d): %w", old, pid, err)
		}
		r.cfg.Logf("round %d: killed %s (postmaster %d)", n, old, pid)
		return at, func() {}, nil
	}
	procs, err := pgctl.Processes(dataDir)
	if err != nil {
		return time.Time{}, nil, err
	}
	// The postmaster first, so it starts no backend meanwhile.
	at := time.Now()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return at, nil, fmt.Errorf("freeze the postmaster of %s (pid %d): %w", old, pid, err)
	}
	for _, p := range procs {
		_ = syscall.Kill(p.PID, syscall.SIGSTOP)
	}
	r.cfg.Logf("round %d: froze %s (postmaster %d and %d processes)", n, old, pid, len(procs))
	return at, func() {
		for _, p := range procs {
			_ = syscall.Kill(p.PID, syscall.SIGCONT)
		}
	}, nil
}

// explain says what the monitor and the failover of its epoch were doing,
// for a round that timed out.
func (r *run) explain(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	st, err := r.status(ctx)
	if err != nil {
		return fmt.Sprintf("monitor status: %v", err)
	}
	out := fmt.Sprintf("monitor: status %q, primary %s (%s: %s), epoch %d, paused %v, retry after %s, problems %v",
		st.Status, st.Primary, st.Components[st.Primary].State, st.Components[st.Primary].Error, st.Epoch, st.Paused,
		st.RetryAfter.Format(time.RFC3339), st.Problems)
	if rec, err := r.routing(ctx); err == nil {
		out += fmt.Sprintf("; routing record: epoch %d, primary %s", rec.Epoch, rec.Primary)
	}
	id := schemas.FailoverWorkflowID(r.cluster, st.Epoch)
	if st.Failover != nil {
		id = st.Failover.WorkflowID
	}
	if d, err := r.tc.DescribeWorkflowExecution(ctx, id, ""); err != nil {
		out += fmt.Sprintf("; %s: %v", id, err)
	} else {
		info := d.GetWorkflowExecutionInfo()
		out += fmt.Sprintf("; %s: %s, started %s, %d events", id, info.GetStatus(), info.GetStartTime().AsTime().Format(time.RFC3339), info.GetHistoryLength())
	}
	return out
}

func (r *run) routing(ctx context.Context) (schemas.RoutingRecord, error) {
	var rec schemas.RoutingRecord
	b, err := r.rdb.Get(ctx, schemas.RoutingKey(r.cluster)).Bytes()
	if err != nil {
		return rec, err
	}
	return rec, json.Unmarshal(b, &rec)
}

func (r *run) connect(ctx context.Context, addr string) (*pgx.Conn, error) {
	host, port, _ := strings.Cut(addr, ":")
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%s user=%s dbname=postgres sslmode=disable connect_timeout=1", host, port, devstack.PGUser))
	if err != nil {
		return nil, err
	}
	cfg.Password = r.pgPass
	return pgx.ConnectConfig(ctx, cfg)
}

func (r *run) prepareTable(ctx context.Context) error {
	rec, err := r.routing(ctx)
	if err != nil {
		return fmt.Errorf("read the routing record: %w", err)
	}
	conn, err := r.connect(ctx, rec.Addr)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS lifeboat_bench;
		DROP TABLE IF EXISTS lifeboat_bench.failover_writes;
		CREATE TABLE lifeboat_bench.failover_writes (round int, seq int, node text, epoch bigint, PRIMARY KEY (round, seq))`)
	return err
}

// round kills the primary and measures until the new one acknowledges a
// write; then it restarts the old primary (as systemd would), waits for the
// cluster to be whole, and counts the round's acknowledged writes missing
// on the new primary. An async round first empties the primary's
// synchronous_standby_names, so its commits wait for no standby.
func (r *run) round(ctx context.Context, n int, async bool) (float64, int, error) {
	st, err := r.waitStatus(ctx, settleTimeout, "a healthy cluster before the round", func(st schemas.MonitorState) bool {
		return st.Status == schemas.ClusterHealthy && st.Primary != "" && len(st.Rejoining) == 0
	})
	if err != nil {
		return 0, 0, err
	}
	old := st.Primary
	node, ok := r.topo.PostgresNode(old)
	if !ok || node.DataDir == "" {
		return 0, 0, fmt.Errorf("primary %s has no data_dir in the topology", old)
	}
	if async {
		if err := r.asynchronous(ctx, st.Epoch); err != nil {
			return 0, 0, err
		}
	}
	r.writer.setRound(n)
	if err := r.writer.waitAck(ctx, n, "", 10*time.Second); err != nil {
		return 0, 0, fmt.Errorf("the writer does not write before the kill: %w", err)
	}
	killed, thaw, err := r.inject(n, old, node.DataDir)
	if err != nil {
		return 0, 0, err
	}
	first, err := r.writer.firstAckAfter(ctx, n, old, killed, roundTimeout)
	thaw()
	if err != nil {
		return 0, 0, fmt.Errorf("%w; %s", err, r.explain(ctx))
	}
	secs := first.Sub(killed).Seconds()
	// A frozen primary that was thawed before its fence could kill it is
	// stopped here, as its host's restart would.
	if err := (pgctl.Dir{Path: node.DataDir, Bin: r.topo.Failover.PGBin}).Stop(ctx, pgctl.StopImmediate); err != nil {
		return 0, 0, fmt.Errorf("stop %s after the round: %w", old, err)
	}

	// The old primary's host restarts it; it comes back as a standby (the
	// fence marked it) and the monitor rejoins it.
	d := pgctl.Dir{Path: node.DataDir, Bin: r.topo.Failover.PGBin}
	opts, _ := d.SavedOptions()
	logFile := node.LogFile
	if logFile == "" {
		logFile = filepath.Join(filepath.Dir(node.DataDir), old+".log")
	}
	// Its restore_command fetches from the store with the stack's keys.
	env := []string{devstack.EnvS3AccessKey + "=" + r.env[devstack.EnvS3AccessKey], devstack.EnvS3SecretKey + "=" + r.env[devstack.EnvS3SecretKey]}
	if err := d.Start(ctx, logFile, opts, env); err != nil {
		return 0, 0, fmt.Errorf("restart %s: %w", old, err)
	}
	if _, err := r.waitStatus(ctx, settleTimeout, old+" rejoined and the cluster healthy", func(st schemas.MonitorState) bool {
		c := st.Components[old]
		return st.Status == schemas.ClusterHealthy && st.Primary != old && c.Role == schemas.RoleReplica && c.Error == "" && len(st.Rejoining) == 0
	}); err != nil {
		return secs, 0, err
	}
	missing, err := r.missing(ctx, n)
	return secs, missing, err
}

// asynchronous empties the synchronous_standby_names of the primary the
// routing record names (the next promotion sets them again).
func (r *run) asynchronous(ctx context.Context, epoch int64) error {
	rec, err := r.routing(ctx)
	if err != nil {
		return err
	}
	if rec.Epoch != epoch {
		return fmt.Errorf("the routing record is at epoch %d, the monitor at %d", rec.Epoch, epoch)
	}
	conn, err := r.connect(ctx, rec.Addr)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, q := range []string{"ALTER SYSTEM SET synchronous_standby_names = ''", "SELECT pg_reload_conf()"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s on %s: %w", q, rec.Primary, err)
		}
	}
	return nil
}

// missing counts the round's acknowledged writes absent from the primary.
func (r *run) missing(ctx context.Context, round int) (int, error) {
	// The writer goes on: only what was acknowledged before the query counts.
	acked := r.writer.acksOf(round)
	rec, err := r.routing(ctx)
	if err != nil {
		return 0, err
	}
	conn, err := r.connect(ctx, rec.Addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT seq FROM lifeboat_bench.failover_writes WHERE round = $1`, round)
	if err != nil {
		return 0, err
	}
	present := map[int]bool{}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return 0, err
	}
	for _, s := range seqs {
		present[s] = true
	}
	lost := 0
	for _, a := range acked {
		if !present[a.seq] {
			lost++
			r.cfg.Logf("round %d: write %d acknowledged by %s at epoch %d is missing on %s", round, a.seq, a.node, a.epoch, rec.Primary)
		}
	}
	return lost, nil
}

// idleEvents measures how fast the monitor's history grows on a quiet
// cluster, per hour.
func (r *run) idleEvents(ctx context.Context) (float64, time.Duration, error) {
	if _, err := r.waitStatus(ctx, settleTimeout, "a healthy cluster before the idle window", func(st schemas.MonitorState) bool {
		return st.Status == schemas.ClusterHealthy
	}); err != nil {
		return 0, 0, err
	}
	length := func() (int64, string, error) {
		d, err := r.tc.DescribeWorkflowExecution(ctx, schemas.MonitorWorkflowID(r.cluster), "")
		if err != nil {
			return 0, "", err
		}
		info := d.GetWorkflowExecutionInfo()
		return info.GetHistoryLength(), info.GetExecution().GetRunId(), nil
	}
	// Quiet means no event for a while: the rejoins and recoveries after the
	// last round are over.
	before, run1, err := length()
	for quiet := time.Now(); time.Since(quiet) < quietFor; {
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(time.Second):
		}
		n, run, lerr := length()
		if lerr != nil {
			return 0, 0, lerr
		}
		if n != before || run != run1 {
			before, run1, quiet = n, run, time.Now()
		}
	}
	if err != nil {
		return 0, 0, err
	}
	r.cfg.Logf("watching the monitor's history for %s on a quiet cluster", r.cfg.Idle)
	start := time.Now()
	select {
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	case <-time.After(r.cfg.Idle):
	}
	after, run2, err := length()
	if err != nil {
		return 0, 0, err
	}
	if run1 != run2 {
		return 0, 0, errors.New("the monitor continued as new during the idle window; run the benchmark again")
	}
	window := time.Since(start)
	return float64(after-before) * float64(time.Hour) / float64(window), window.Round(time.Second), nil
}

// switchBack puts the primary role back on the node that had it in the
// stack's usual layout, by a switchover, with the writer on as round n, and
// counts the acknowledged writes it lost. switched is false when the usual
// primary had the role already.
func (r *run) switchBack(ctx context.Context, n int) (lost int, switched bool, err error) {
	usual := r.topo.Regions[0].Postgres[0].Name
	st, err := r.waitStatus(ctx, settleTimeout, "a healthy cluster before switching back", func(st schemas.MonitorState) bool {
		return st.Status == schemas.ClusterHealthy && len(st.Rejoining) == 0
	})
	if err != nil || st.Primary == usual {
		return 0, false, err
	}
	r.writer.setRound(n)
	if err := r.writer.waitAck(ctx, n, "", 10*time.Second); err != nil {
		return 0, false, err
	}
	r.cfg.Logf("switching the primary back to %s", usual)
	run, err := r.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: schemas.SwitchoverWorkflowID(r.cluster), TaskQueue: schemas.GlobalTaskQueue,
	}, schemas.SwitchoverWorkflow, schemas.SwitchoverInput{Cluster: r.cluster, Candidate: usual})
	if err != nil {
		return 0, false, err
	}
	var res schemas.SwitchoverResult
	if err := run.Get(ctx, &res); err != nil {
		return 0, false, fmt.Errorf("switch back to %s: %w", usual, err)
	}
	r.cfg.Logf("switched back to %s in %s", usual, res.Took.Round(time.Millisecond))
	if _, err := r.waitStatus(ctx, settleTimeout, "the monitor to see "+usual+" primary again", func(st schemas.MonitorState) bool {
		return st.Primary == usual && !st.Paused && st.Status == schemas.ClusterHealthy
	}); err != nil {
		return 0, true, err
	}
	if _, err := r.writer.firstAckAfter(ctx, n, st.Primary, time.Now(), 30*time.Second); err != nil {
		return 0, true, err
	}
	lost, err = r.missing(ctx, n)
	return lost, true, err
}

func postmasterPID(dataDir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("read the postmaster's pid: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// lockStack takes the stack's lock, which the integration tests that
// change PostgreSQL roles take too, so the two never kill nodes at once.
func lockStack(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(5 * time.Minute)
	for syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("the stack's lock %s is held by someone else for over 5 minutes", path)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return func() { f.Close() }, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
