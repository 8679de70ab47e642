package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/schemas"
)

type bytesBuffer = bytes.Buffer

// checkNow runs CheckCluster against the stack and returns its report.
func checkNow(t *testing.T, c client.Client, id string) schemas.CheckClusterResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: schemas.GlobalTaskQueue},
		schemas.CheckClusterWorkflow, schemas.CheckClusterInput{Cluster: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	var res schemas.CheckClusterResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("CheckCluster: %v", err)
	}
	return res
}

// requireWholeStack asserts what `make demo` promises: one primary, two
// streaming replicas of which exactly one is synchronous, a Redis master and
// replica, three sentinels agreeing on the master, and a reachable bucket.
func requireWholeStack(t *testing.T, res schemas.CheckClusterResult) {
	t.Helper()
	if !res.Healthy {
		t.Errorf("cluster unhealthy: %v", res.Problems)
	}
	count := map[string]int{}
	sync, quorum := 0, 0
	for _, n := range res.Nodes {
		count[n.Kind+"/"+n.Role]++
		if !n.Healthy {
			t.Errorf("%s %s (%s) unhealthy: %s", n.Kind, n.Name, n.Region, n.Error)
		}
		if n.Kind == schemas.KindPostgres && n.Role == schemas.RoleReplica {
			if !n.Streaming || n.LagBytes == nil || n.LagSeconds == nil {
				t.Errorf("replica %s: streaming = %v, lag_bytes = %v, lag_seconds = %v; want streaming with both lags", n.Name, n.Streaming, n.LagBytes, n.LagSeconds)
			}
			if n.Synchronous {
				sync++
				if n.SyncState == schemas.SyncStateQuorum {
					quorum++
				}
			}
		}
		if n.Kind == schemas.KindSentinel && (!n.Agrees || n.SentinelMaster != "127.0.0.1:16379") {
			t.Errorf("sentinel %s names %s, agrees = %v; want 127.0.0.1:16379 agreed", n.Name, n.SentinelMaster, n.Agrees)
		}
	}
	want := map[string]int{
		"postgres/primary": 1, "postgres/replica": 2,
		"redis/master": 1, "redis/replica": 1,
		"sentinel/sentinel": 3, "store/store": 2, // the store as seen from each region
	}
	for k, v := range want {
		if count[k] != v {
			t.Errorf("%d nodes %s, want %d (all: %v)", count[k], k, v, count)
		}
	}
	// A fresh stack names pg-a2 alone (sync); after a failover or a
	// switchover the primary waits for ANY 1 of its standbys, which it
	// lists as quorum, each as synchronous as the other.
	if sync < 1 || (sync > 1 && quorum != sync) {
		t.Errorf("%d synchronous replicas, %d of them quorum; want one, or only quorum ones", sync, quorum)
	}
}

func TestCheckCluster_ReportsTheWholeStack(t *testing.T) {
	c := temporalClient(t)
	res := checkNow(t, c, fmt.Sprintf("test-check/%d", time.Now().UnixNano()))
	requireWholeStack(t, res)
	for _, n := range res.Nodes {
		if n.Name == "pg-a2" && !n.Synchronous {
			t.Errorf("pg-a2 is not the synchronous standby")
		}
	}
}

// TestCheckCluster_SeesLagAsItHappens writes on the primary and checks the
// replicas report the new position: the report reads live LSNs, not a cache.
func TestCheckCluster_SeesReplicasCatchUp(t *testing.T) {
	c := temporalClient(t)
	before := checkNow(t, c, fmt.Sprintf("test-lsn-before/%d", time.Now().UnixNano()))
	psql(t, devstack.PGA1Port, "CREATE TABLE IF NOT EXISTS lifeboat_probe_test(v text); INSERT INTO lifeboat_probe_test SELECT repeat('x', 1000) FROM generate_series(1, 2000);")
	after := checkNow(t, c, fmt.Sprintf("test-lsn-after/%d", time.Now().UnixNano()))

	lsn := func(res schemas.CheckClusterResult, name string) schemas.LSN {
		for _, n := range res.Nodes {
			if n.Name == name {
				s := n.CurrentLSN
				if s == "" {
					s = n.ReplayedLSN
				}
				l, err := schemas.ParseLSN(s)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				return l
			}
		}
		t.Fatalf("no node %s", name)
		return 0
	}
	if lsn(after, "pg-a1") <= lsn(before, "pg-a1") {
		t.Errorf("primary LSN did not advance: %v -> %v", lsn(before, "pg-a1"), lsn(after, "pg-a1"))
	}
	// The synchronous standby has the commit before the primary acknowledges it.
	if got, primary := lsn(after, "pg-a2"), lsn(after, "pg-a1"); got < lsn(before, "pg-a1")+2_000_000 || got > primary {
		t.Errorf("pg-a2 replayed %v, want past %v+2MB and at most the primary's %v", got, lsn(before, "pg-a1"), primary)
	}
}

func TestCheckCluster_UnknownClusterFailsWithoutRetrying(t *testing.T) {
	c := temporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: schemas.GlobalTaskQueue},
		schemas.CheckClusterWorkflow, schemas.CheckClusterInput{Cluster: "no-such-cluster"})
	if err != nil {
		t.Fatal(err)
	}
	err = run.Get(ctx, nil)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != schemas.ErrUnknownCluster {
		t.Fatalf("error = %v, want an UnknownCluster application error", err)
	}
	if !strings.Contains(err.Error(), "no-such-cluster") {
		t.Errorf("error %q does not name the cluster", err)
	}
	desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	if s := desc.WorkflowExecutionInfo.Status; s != enums.WORKFLOW_EXECUTION_STATUS_FAILED {
		t.Errorf("workflow status %v, want FAILED", s)
	}
}

func TestCLI_CheckJSON(t *testing.T) {
	out, stderr, err := lifeboat(t, "check", "dev", "--json")
	if err != nil {
		t.Fatalf("lifeboat check dev --json: %v\n%s", err, stderr)
	}
	var report struct {
		Nodes []map[string]any `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if len(report.Nodes) == 0 {
		t.Fatal("no nodes in the report")
	}
	for _, n := range report.Nodes {
		for _, k := range []string{"name", "kind", "region", "role", "healthy"} {
			if _, ok := n[k]; !ok {
				t.Errorf("node %v lacks %q", n["name"], k)
			}
		}
		if n["kind"] == "postgres" && n["role"] == "replica" {
			if _, ok := n["lag_bytes"].(float64); !ok {
				t.Errorf("replica %v lacks a numeric lag_bytes", n["name"])
			}
		}
	}
	var typed schemas.CheckClusterResult
	if err := json.Unmarshal([]byte(out), &typed); err != nil {
		t.Fatal(err)
	}
	requireWholeStack(t, typed)
	if l := typed.Level; l == nil || !slices.Contains(schemas.Levels, l.Level) || len(l.Met) == 0 {
		t.Errorf("level = %+v, want one of %v with the requirements met", l, schemas.Levels)
	}
}

// TestCheckCluster_LevelFromTheStacksEvidence takes a database backup and
// checks the availability level the stack's real evidence proves:
//   - the nodes' requirements are met with exactly the stack's nodes (pg-a1
//     primary; pg-a2 and pg-b1 streaming; pg-a2 synchronous; pg-b1 outside
//     region-a);
//   - both backup requirements are met, naming the backup just taken or a
//     newer one, whose manifest this test reads from both stores;
//   - automatic failover is met exactly when this test sees monitor/dev
//     running unpaused, and the drill exactly when the newest passed report
//     this test reads from the store ended within the drill period;
//   - the level is the highest those allow: basic without the monitor,
//     standard without the drill, enterprise with both.
func TestCheckCluster_LevelFromTheStacksEvidence(t *testing.T) {
	c := temporalClient(t)
	topo := stackTopology(t)
	taken := backupNow(t)

	before := outsideEvidence(t, c, topo)
	res := checkNow(t, c, fmt.Sprintf("test-level/%d", time.Now().UnixNano()))
	after := outsideEvidence(t, c, topo)
	requireWholeStack(t, res)
	l := res.Level
	if l == nil {
		t.Fatal("the check reports no availability level")
	}
	if len(l.Errors) > 0 {
		t.Errorf("evidence not read: %v", l.Errors)
	}
	met := map[string]string{}
	for _, m := range l.Met {
		met[m.Requirement] = m.Evidence
	}
	for req, want := range map[string]string{
		"a PostgreSQL primary":        "pg-a1 (region-a)",
		"a streaming replica":         "pg-a2 (region-a), pg-b1 (region-b) streaming",
		"a replica in another region": "pg-b1 (region-b), outside the primary's region-a",
	} {
		if met[req] != want {
			t.Errorf("%s: met with %q, want %q", req, met[req], want)
		}
	}
	if ev := met["a synchronous standby"]; !strings.HasPrefix(ev, "pg-a2 (region-a)") || !strings.Contains(ev, "synchronous (") {
		t.Errorf("a synchronous standby: met with %q, want pg-a2 first, with its sync state", ev)
	}
	for req, prefix := range map[string]string{"a recent database backup": "", "backups replicated": "in the replica store, "} {
		ev, ok := met[req]
		id, _, _ := strings.Cut(strings.TrimPrefix(ev, prefix), " ")
		if !ok || id < taken.ID || !strings.Contains(ev, " ended ") {
			t.Errorf("%s: met = %v with %q, want met naming %s or a newer backup", req, ok, ev, taken.ID)
			continue
		}
		for _, store := range []objstore.Store{storeOf(t, topo), replicaStoreOf(t, topo)} {
			if m, err := schemas.ParseManifest(getAll(t, store, schemas.ManifestKey("dev", id))); err != nil || m.Kind != schemas.BackupDatabase {
				t.Errorf("%s names %s, whose manifest in %s is %+v, %v", req, id, store, m, err)
			}
		}
	}

	_, monitorMet := met["automatic failover"]
	_, drillMet := met["a drill passed within its period"]
	got := outside{monitor: monitorMet, drill: drillMet}
	if got != before && got != after {
		t.Errorf("check saw monitor running unpaused = %v, drill passed in its period = %v; the test saw %+v before and %+v after",
			got.monitor, got.drill, before, after)
	}
	want := schemas.LevelEnterprise
	switch {
	case !got.monitor:
		want = schemas.LevelBasic
	case !got.drill:
		want = schemas.LevelStandard
	}
	if l.Level != want {
		t.Errorf("level %s, want %s (monitor %v, drill %v); missing %v", l.Level, want, got.monitor, got.drill, l.Missing)
	}
	t.Logf("availability level %s; missing for %s: %v", l.Level, l.Next, l.Missing)
}

// outside is the evidence a check cannot see in the nodes, as this test
// reads it on its own.
type outside struct{ monitor, drill bool }

func outsideEvidence(t *testing.T, c client.Client, topo *schemas.Topology) outside {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var o outside
	id := schemas.MonitorWorkflowID("dev")
	if desc, err := c.DescribeWorkflowExecution(ctx, id, ""); err == nil &&
		desc.WorkflowExecutionInfo.GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		v, err := c.QueryWorkflow(ctx, id, "", schemas.QueryStatus)
		if err != nil {
			t.Fatalf("query %s: %v", id, err)
		}
		var st schemas.MonitorState
		if err := v.Get(&st); err != nil {
			t.Fatal(err)
		}
		o.monitor = !st.Paused
	}

	// The drill: any report that passed within the period, newest first.
	store := storeOf(t, topo)
	objs, err := store.List(ctx, schemas.DrillsPrefix("dev"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, obj := range objs {
		if id, ok := strings.CutSuffix(strings.TrimPrefix(obj.Key, schemas.DrillsPrefix("dev")), "/report.json"); ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	every := schemas.DefaultDrillEvery
	if topo.Drill != nil {
		every = topo.Drill.EveryOrDefault()
	}
	for _, id := range slices.Backward(ids) {
		var rep schemas.DrillReport
		if err := json.Unmarshal(getAll(t, store, schemas.DrillReportKeys("dev", id).JSON), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Passed {
			o.drill = time.Since(rep.EndedAt) <= every
			break
		}
	}
	return o
}

func TestCLI_CheckTable(t *testing.T) {
	out, stderr, err := lifeboat(t, "check", "dev")
	if err != nil {
		t.Fatalf("lifeboat check dev: %v\n%s", err, stderr)
	}
	for _, want := range []string{"cluster dev: healthy", "pg-a1", "primary", "synchronous (", "sentinel-b2", "agrees", "bucket lifeboat-dev",
		"\navailability level: ", "\nproven:\n  basic ", "a PostgreSQL primary  "} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// TestWorker_ServesMetricsAndHealth checks each region's worker exposes
// /healthz and Prometheus metrics, the SDK's and Lifeboat's own.
func TestWorker_ServesMetricsAndHealth(t *testing.T) {
	lifeboat(t, "check", "dev") // so the probe metrics exist
	for _, port := range []int{devstack.WorkerAPort, devstack.WorkerBPort} {
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		if body := httpGet(t, base+"/healthz"); !strings.Contains(body, "ok") {
			t.Errorf("%s/healthz = %q", base, body)
		}
		metrics := httpGet(t, base+"/metrics")
		for _, want := range []string{"lifeboat_node_up", "lifeboat_probe_latency_seconds", "temporal_"} {
			if !strings.Contains(metrics, want) {
				t.Errorf("%s/metrics lacks %s", base, want)
			}
		}
	}
}

// TestStack_DownStopsEverythingAndUpKeepsWorkflows runs last (file order):
// `make down` must leave no process of the stack, nor anything listening on
// its ports, and `make dev` afterwards must bring back the same state.
func TestStack_DownStopsEverythingAndUpKeepsWorkflows(t *testing.T) {
	c := temporalClient(t)
	id := fmt.Sprintf("test-restart/%d", time.Now().UnixNano())
	checkNow(t, c, id)
	c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := stack.Down(ctx); err != nil {
		t.Fatalf("down: %v", err)
	}
	if left := stack.Running(); len(left) > 0 {
		t.Errorf("processes left after down: %v", left)
	}
	for _, port := range stackPorts {
		if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond); err == nil {
			conn.Close()
			t.Errorf("port %d still answers after down", port)
		}
	}
	if _, err := stack.Up(ctx, devstack.Options{Workers: true}); err != nil {
		t.Fatalf("up after down: %v", err)
	}
	c = temporalClient(t)
	if _, err := c.DescribeWorkflowExecution(ctx, id, ""); err != nil {
		t.Errorf("workflow %s from before the restart is gone: %v", id, err)
	}
	requireWholeStack(t, checkNow(t, c, id+"-after"))
}

// psql runs SQL on a node of the stack as the lifeboat role.
func psql(t *testing.T, port int, sql string) string {
	t.Helper()
	return psqlDB(t, port, "postgres", sql)
}

// psqlDB is psql in database db.
func psqlDB(t *testing.T, port int, db, sql string) string {
	t.Helper()
	cmd := exec.Command("psql", "-X", "-q", "-t", "-v", "ON_ERROR_STOP=1",
		fmt.Sprintf("postgres://lifeboat@127.0.0.1:%d/%s?sslmode=disable", port, db), "-c", sql)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+envValue(stack.Env(), "LIFEBOAT_PG_PASSWORD"), "PGOPTIONS=-c client_min_messages=warning")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	return string(out)
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// stackPorts are every port the stack listens on.
var stackPorts = []int{
	devstack.TemporalPort, devstack.TemporalUIPort, devstack.TemporalHTTPPort, devstack.TemporalMetricsPort,
	devstack.PGA1Port, devstack.PGA2Port, devstack.PGB1Port,
	devstack.RedisA1Port, devstack.RedisB1Port, devstack.SentinelA1Port, devstack.SentinelB1Port, devstack.SentinelB2Port,
	devstack.S3Port, devstack.S3BPort, devstack.WorkerAPort, devstack.WorkerBPort, devstack.CodecServerPort,
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	hc := http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return string(b)
}
