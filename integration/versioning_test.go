package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/schemas"
)

// The versioning test runs its workers in a namespace of its own: there the
// task queues and Worker Deployments have the names the stack's have
// (lifeboat, lifeboat-<region>), yet promoting a build moves nothing of the
// stack's.
const (
	versioningNamespace = "lifeboat-versioning-test"
	// The two builds, as `make build` names a release (the ID is the
	// version). Fixed, so the test namespace's deployments keep two
	// versions however often the test runs.
	oldBuild = "versioning-test-old"
	newBuild = "versioning-test-new"
	// Regions of the test's own cluster: vt-a is upgraded, vt-b stays on
	// the old build and is the test's lever.
	vtA = "vt-a"
	vtB = "vt-b"
)

// TestVersioning_PinnedWorkflowFinishesOnItsBuildWhileNewOnesStartOnThePromotedOne
// runs two builds of the real worker side by side. A CheckCluster (pinned)
// starts on the old build and waits for the probe of region vt-b, whose
// worker the test keeps stopped; the new build is started and promoted with
// `lifeboat deploy promote`; a second CheckCluster starts on the new build;
// then vt-b's worker comes back and both finish — every workflow task of
// the first on the old build, of the second on the new. A FailoverSlots
// (auto-upgrade) started on the old build takes its next task on the new.
func TestVersioning_PinnedWorkflowFinishesOnItsBuildWhileNewOnesStartOnThePromotedOne(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	c, oldBin, newBin, topo := setUpVersioning(ctx, t)

	// vt-b's deployment gets a current build (the old one), then its worker
	// stops: from here on, region vt-b's activities wait for it.
	oldB := startVersionedWorker(t, oldBin, topo, vtB)
	promote(t, "--region", vtB, "--build", oldBuild)
	oldB.stop(t)
	oldA := startVersionedWorker(t, oldBin, topo, vtA)
	promote(t, "--region", vtA, "--build", oldBuild)

	slots := startWorkflow(ctx, t, c, "slots", schemas.FailoverSlotsWorkflow, schemas.FailoverSlotsInput{Limit: 1}, 0)
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), slots, "", "versioning test done") })
	pinned := startWorkflow(ctx, t, c, "pinned", schemas.CheckClusterWorkflow, schemas.CheckClusterInput{Cluster: "vtest"}, 2*time.Minute)
	requireOnBuild(ctx, t, c, slots, oldBuild)
	requireOnBuild(ctx, t, c, pinned, oldBuild)
	waitPendingProbe(ctx, t, c, pinned)

	newA := startVersionedWorker(t, newBin, topo, vtA)
	out := promote(t, "--region", vtA, "--build", newBuild)
	for _, want := range []string{
		"lifeboat-vt-a: build " + newBuild + " is current, was " + oldBuild,
		"lifeboat: build " + newBuild + " is current, was " + oldBuild,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy promote printed %q, want a line %q", out, want)
		}
	}

	fresh := startWorkflow(ctx, t, c, "fresh", schemas.CheckClusterWorkflow, schemas.CheckClusterInput{Cluster: "vtest"}, 2*time.Minute)
	requireOnBuild(ctx, t, c, fresh, newBuild)
	if status := describe(ctx, t, c, pinned).GetWorkflowExecutionInfo().GetStatus(); status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("the pinned check is %s before vt-b's worker is back, want running: the test no longer holds it", status)
	}
	// The auto-upgrading slots take their next task on the promoted build.
	if err := c.SignalWorkflow(ctx, slots, "", schemas.SignalAcquireSlot, schemas.SlotRequest{WorkflowID: "versioning-test/no-such-failover"}); err != nil {
		t.Fatal(err)
	}

	// Region vt-b's worker, still the old build, comes back: the probes run.
	oldB = startVersionedWorker(t, oldBin, topo, vtB)
	for _, id := range []string{pinned, fresh} {
		var res schemas.CheckClusterResult
		if err := c.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
			t.Fatalf("check %s: %v", id, err)
		}
		// Both regions' probes ran: vt-b's was held, not given up.
		probed := map[string]bool{}
		for _, n := range res.Nodes {
			if n.Kind == schemas.KindPostgres && !strings.HasPrefix(n.Error, "no probe from region") {
				probed[n.Name] = true
			}
		}
		if res.Cluster != "vtest" || !probed["pg-vt-a"] || !probed["pg-vt-b"] {
			t.Errorf("check %s reported %+v, want cluster vtest with pg-vt-a and pg-vt-b probed in their regions", id, res)
		}
	}

	oldPIDs := map[int]bool{oldA.pid(): true, oldB.pid(): true}
	for _, tc := range []struct {
		id    string
		build string
		pids  map[int]bool
	}{
		{pinned, oldBuild, oldPIDs},
		{fresh, newBuild, map[int]bool{newA.pid(): true}},
	} {
		tasks := workflowTasks(ctx, t, c, tc.id)
		if len(tasks) < 2 {
			t.Fatalf("%s: %d workflow tasks, want at least 2 (started, probes done)", tc.id, len(tasks))
		}
		for i, task := range tasks {
			if task.build != tc.build || !tc.pids[task.pid] {
				t.Errorf("%s: workflow task %d ran on build %q in pid %d, want build %q in one of %v", tc.id, i+1, task.build, task.pid, tc.build, tc.pids)
			}
		}
	}
	waitTaskOnBuild(ctx, t, c, slots, newBuild)

	status := lifeboatIn(t, versioningNamespace, "deploy", "status", "--region", vtA)
	for _, want := range []string{
		"deployment lifeboat: current " + newBuild,
		"deployment lifeboat-vt-a: current " + newBuild,
	} {
		if !strings.Contains(status, want) {
			t.Errorf("deploy status lacks %q:\n%s", want, status)
		}
	}
}

// TestVersioning_APromotingWorkerAdoptsWorkflowsPinnedToAGoneBuild: where
// one build runs at a time (LIFEBOAT_PROMOTE, as in the local stack), a
// worker of a new build that replaces the old one makes its build current
// and moves the old build's pinned workflows onto it, which then finish
// there instead of waiting for ever for workers that will not come back.
func TestVersioning_APromotingWorkerAdoptsWorkflowsPinnedToAGoneBuild(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, oldBin, newBin, topo := setUpVersioning(ctx, t)
	promoting := devstack.EnvPromote + "=true"

	oldB := startVersionedWorker(t, oldBin, topo, vtB, promoting)
	oldB.stop(t)
	oldA := startVersionedWorker(t, oldBin, topo, vtA, promoting)
	held := startWorkflow(ctx, t, c, "adopted", schemas.CheckClusterWorkflow, schemas.CheckClusterInput{Cluster: "vtest"}, 2*time.Minute)
	requireOnBuild(ctx, t, c, held, oldBuild)
	waitPendingProbe(ctx, t, c, held)

	oldA.stop(t)
	newA := startVersionedWorker(t, newBin, topo, vtA, promoting)
	override := describe(ctx, t, c, held).GetWorkflowExecutionInfo().GetVersioningInfo().GetVersioningOverride()
	if got := override.GetPinned().GetVersion().GetBuildId(); got != newBuild {
		t.Fatalf("%s: override after the new build started is %v, want pinned to %s", held, override, newBuild)
	}

	startVersionedWorker(t, oldBin, topo, vtB) // releases the probe
	var res schemas.CheckClusterResult
	if err := c.GetWorkflow(ctx, held, "").Get(ctx, &res); err != nil {
		t.Fatalf("check %s: %v", held, err)
	}
	tasks := workflowTasks(ctx, t, c, held)
	if last := tasks[len(tasks)-1]; last.build != newBuild || last.pid != newA.pid() {
		t.Errorf("%s: last workflow task ran on build %q in pid %d, want %s in pid %d", held, last.build, last.pid, newBuild, newA.pid())
	}
	if first := tasks[0]; first.build != oldBuild {
		t.Errorf("%s: first workflow task ran on build %q, want %s", held, first.build, oldBuild)
	}
}

// setUpVersioning prepares what every versioning test starts from: the
// test namespace and a client of it, the old and the new build of the
// worker, and the path of the test's topology.
func setUpVersioning(ctx context.Context, t *testing.T) (c client.Client, oldBin, newBin, topology string) {
	t.Helper()
	if err := devstack.EnsureNamespace(ctx, temporalClient(t), versioningNamespace, "lifeboat versioning test: two builds side by side"); err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: devstack.TemporalAddress, Namespace: versioningNamespace, Logger: testLogger{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	dir := t.TempDir()
	return c, buildWorker(t, dir, oldBuild), buildWorker(t, dir, newBuild), versioningTopology(t, dir)
}

// buildWorker builds the worker as version into dir, as `make build` does.
func buildWorker(t *testing.T, dir, version string) string {
	t.Helper()
	out := filepath.Join(dir, "lifeboat-worker-"+version)
	cmd := exec.Command("go", "build", "-ldflags", "-X main.version="+version, "-o", out, "./worker")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build worker %s: %v\n%s", version, err, b)
	}
	return out
}

// versioningTopology writes the test's cluster: two regions, each with a
// PostgreSQL node nobody listens for (the probes report it down at once),
// and a local store. Nothing of the stack's is in it.
func versioningTopology(t *testing.T, dir string) string {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	y := fmt.Sprintf(`cluster: vtest
backup:
  store: {type: local, path: %q}
  recipients: [%s]
targets: {rto: 15m, rpo: 5m}
regions:
- name: %s
  postgres: [{name: pg-vt-a, dsn: "postgres://nobody@127.0.0.1:1/postgres?sslmode=disable"}]
- name: %s
  postgres: [{name: pg-vt-b, dsn: "postgres://nobody@127.0.0.1:1/postgres?sslmode=disable"}]
`, filepath.Join(dir, "store"), id.Recipient(), vtA, vtB)
	p := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// versionedWorker is a lifeboat-worker process of the test.
type versionedWorker struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func (w *versionedWorker) pid() int { return w.cmd.Process.Pid }

// stop ends the worker as an operator would (SIGTERM) and waits for it.
func (w *versionedWorker) stop(t *testing.T) {
	t.Helper()
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-time.After(time.Minute):
		_ = w.cmd.Process.Kill()
		t.Fatalf("worker pid %d did not stop within a minute of SIGTERM", w.pid())
	}
}

// startVersionedWorker starts bin for region in the test namespace, without
// the stack's environment (so it does not promote itself unless env says
// so), and waits until it polls.
func startVersionedWorker(t *testing.T, bin, topology, region string, env ...string) *versionedWorker {
	t.Helper()
	ln, err := net.Listen("tcp", devstack.Host+":0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	logPath := filepath.Join(t.TempDir(), "worker.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--topology", topology, "--region", region, "--guard=false",
		"--temporal-address", devstack.TemporalAddress, "--namespace", versioningNamespace,
		"--listen", listen, "--log-format", "console")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LIFEBOAT_") && !strings.HasPrefix(kv, "TEMPORAL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &versionedWorker{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(w.exited) }()
	t.Cleanup(func() {
		w.stop(t)
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("log of worker %s (pid %d):\n%s", region, w.pid(), b)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get("http://" + listen + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return w
			}
		}
		select {
		case <-w.exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("worker %s exited while starting:\n%s", region, b)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker %s not healthy after 30s", region)
		}
	}
}

// lifeboatIn runs the CLI against the test namespace and returns its output.
func lifeboatIn(t *testing.T, namespace string, args ...string) string {
	t.Helper()
	args = append(args, "--temporal-address", devstack.TemporalAddress, "--namespace", namespace)
	cmd := exec.Command(filepath.Join(root, "bin", "lifeboat"), args...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LIFEBOAT_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lifeboat %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// promote runs `lifeboat deploy promote` in the test namespace.
func promote(t *testing.T, args ...string) string {
	t.Helper()
	return lifeboatIn(t, versioningNamespace, append([]string{"deploy", "promote"}, args...)...)
}

// startWorkflow starts typ on the global queue under a fresh ID and returns it.
func startWorkflow(ctx context.Context, t *testing.T, c client.Client, name, typ string, in any, timeout time.Duration) string {
	t.Helper()
	id := fmt.Sprintf("versioning-test/%s/%d", name, time.Now().UnixNano())
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: schemas.GlobalTaskQueue, WorkflowExecutionTimeout: timeout,
	}, typ, in); err != nil {
		t.Fatalf("start %s: %v", typ, err)
	}
	return id
}

func describe(ctx context.Context, t *testing.T, c client.Client, id string) *workflowservice.DescribeWorkflowExecutionResponse {
	t.Helper()
	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// requireOnBuild waits until id's first workflow task is done and checks
// the server pinned or placed it on build.
func requireOnBuild(ctx context.Context, t *testing.T, c client.Client, id, build string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v := describe(ctx, t, c, id).GetWorkflowExecutionInfo().GetVersioningInfo()
		if got := v.GetDeploymentVersion(); got != nil {
			if got.GetDeploymentName() != schemas.WorkflowDeployment || got.GetBuildId() != build {
				t.Fatalf("%s runs on %s:%s, want %s:%s", id, got.GetDeploymentName(), got.GetBuildId(), schemas.WorkflowDeployment, build)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no deployment version after 30s (versioning info %v)", id, v)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitPendingProbe waits until id's probe of region vt-b is scheduled: the
// check now waits for that region's worker.
func waitPendingProbe(ctx context.Context, t *testing.T, c client.Client, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, a := range describe(ctx, t, c, id).GetPendingActivities() {
			if a.GetActivityType().GetName() == "ProbeRegion" && a.GetState() == enumspb.PENDING_ACTIVITY_STATE_SCHEDULED {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no probe waiting for region %s after 20s", id, vtB)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// workflowTask is who completed one workflow task.
type workflowTask struct {
	build string
	pid   int
}

// workflowTasks returns, for each completed workflow task of id, the build
// the server recorded and the pid in the identity of the worker that took it
// (the SDK's default identity is pid@host).
func workflowTasks(ctx context.Context, t *testing.T, c client.Client, id string) []workflowTask {
	t.Helper()
	var tasks []workflowTask
	identity := map[int64]string{} // WorkflowTaskStarted event ID -> identity
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			identity[e.GetEventId()] = e.GetWorkflowTaskStartedEventAttributes().GetIdentity()
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			tasks = append(tasks, completedTask(e, identity))
		}
	}
	return tasks
}

func completedTask(e *historypb.HistoryEvent, identity map[int64]string) workflowTask {
	a := e.GetWorkflowTaskCompletedEventAttributes()
	who := identity[a.GetStartedEventId()]
	if who == "" {
		who = a.GetIdentity()
	}
	pid, _ := strconv.Atoi(strings.SplitN(who, "@", 2)[0])
	return workflowTask{build: a.GetDeploymentVersion().GetBuildId(), pid: pid}
}

// waitTaskOnBuild waits until id's latest completed workflow task ran on build.
func waitTaskOnBuild(ctx context.Context, t *testing.T, c client.Client, id, build string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		tasks := workflowTasks(ctx, t, c, id)
		if len(tasks) > 0 && tasks[len(tasks)-1].build == build {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: latest workflow task not on build %s after 30s: %+v", id, build, tasks)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
