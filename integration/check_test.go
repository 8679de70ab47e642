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
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

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
	sync := 0
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
	if sync != 1 {
		t.Errorf("%d synchronous replicas, want 1", sync)
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
}

func TestCLI_CheckTable(t *testing.T) {
	out, stderr, err := lifeboat(t, "check", "dev")
	if err != nil {
		t.Fatalf("lifeboat check dev: %v\n%s", err, stderr)
	}
	for _, want := range []string{"cluster dev: healthy", "pg-a1", "primary", "synchronous", "asynchronous", "sentinel-b2", "agrees", "bucket lifeboat-dev"} {
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
	cmd := exec.Command("psql", "-X", "-q", "-t", "-v", "ON_ERROR_STOP=1",
		fmt.Sprintf("postgres://lifeboat@127.0.0.1:%d/postgres?sslmode=disable", port), "-c", sql)
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
