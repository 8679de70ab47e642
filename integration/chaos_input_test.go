package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/schemas"
	"github.com/runnerhub/lifeboat/workflows"
)

// registeredNames lists the workflow types the workers register.
type registeredNames []string

func (r *registeredNames) RegisterWorkflowWithOptions(_ any, o workflow.RegisterOptions) {
	*r = append(*r, o.Name)
}

// badInput is one input a workflow must refuse at once.
type badInput struct {
	workflow, what string
	// json is the input; viaCLI sends it with `temporal workflow start`,
	// otherwise the Go client sends it as a raw json/plain payload (the
	// CLI refuses to send what is not JSON).
	json   string
	viaCLI bool
	// field is what the error must name; types are the error types allowed.
	field string
	types []string
}

// wrongType is, per workflow, an input with one field of the wrong JSON
// type and that field; the others get {"cluster": 5}.
var wrongType = map[string][2]string{
	schemas.RestoreWorkflow:       {`{"cluster":"dev","backup":"latest","data_dir":"/nonexistent/lifeboat","port":"5433"}`, "port"},
	schemas.FailoverWorkflow:      {`{"cluster":"dev","failed":"pg-a1","epoch":"7"}`, "epoch"},
	schemas.FailoverSlotsWorkflow: {`{"limit":"two"}`, "limit"},
	schemas.BackupWorkflow:        {`{"cluster":"dev","kind":["database"]}`, "kind"},
	schemas.RetentionWorkflow:     {`{"cluster":"dev","dry_run":"yes"}`, "dry_run"},
}

// wrongNames are inputs that parse but name what does not exist: an
// unknown cluster, node, region, tree or kind. A workflow not listed gets
// {"cluster": "no-such-cluster"}.
var wrongNames = map[string][]badInput{
	schemas.BackupWorkflow: {
		{json: `{"cluster":"no-such-cluster","kind":"database"}`, field: "no-such-cluster", types: []string{schemas.ErrUnknownCluster}},
		{json: `{"cluster":"dev","kind":"database","source":"pg-zz"}`, field: "source", types: []string{schemas.ErrInvalidInput}},
		{json: `{"cluster":"dev","kind":"everything"}`, field: "kind", types: []string{schemas.ErrInvalidInput}},
	},
	schemas.RestoreWorkflow: {
		{json: `{"cluster":"no-such-cluster","backup":"latest","data_dir":"/nonexistent/lifeboat","port":15599}`, field: "no-such-cluster", types: []string{schemas.ErrUnknownCluster}},
		{json: `{"cluster":"dev","backup":"latest","data_dir":"/nonexistent/lifeboat","port":15599,"region":"region-zz"}`, field: "region", types: []string{schemas.ErrInvalidInput}},
		{json: `{"cluster":"dev","backup":"20000101T000000Z-database","data_dir":"/nonexistent/lifeboat","port":15599}`, field: "20000101T000000Z-database", types: []string{schemas.ErrNoSuchBackup}},
	},
	schemas.FileSyncWorkflow: {
		{json: `{"cluster":"no-such-cluster"}`, field: "no-such-cluster", types: []string{schemas.ErrUnknownCluster}},
		{json: `{"cluster":"dev","tree":"no-such-tree"}`, field: "tree", types: []string{schemas.ErrInvalidInput}},
	},
	schemas.VerifyFilesWorkflow: {
		{json: `{"cluster":"no-such-cluster"}`, field: "no-such-cluster", types: []string{schemas.ErrUnknownCluster}},
		{json: `{"cluster":"dev","tree":"no-such-tree"}`, field: "tree", types: []string{schemas.ErrInvalidInput}},
	},
	schemas.SwitchoverWorkflow: {
		{json: `{"cluster":"no-such-cluster","candidate":"pg-a2"}`, field: "no-such-cluster", types: []string{schemas.ErrUnknownCluster}},
		{json: `{"cluster":"dev","candidate":"pg-zz"}`, field: "candidate", types: []string{schemas.ErrInvalidInput}},
	},
	schemas.RejoinWorkflow: {
		{json: `{"cluster":"no-such-cluster","node":"pg-a1"}`, field: "no-such-cluster", types: []string{schemas.ErrUnknownCluster}},
		{json: `{"cluster":"dev","node":"pg-zz"}`, field: "node", types: []string{schemas.ErrInvalidInput}},
	},
	schemas.FailoverWorkflow: {
		{json: `{"cluster":"no-such-cluster","failed":"pg-a1","epoch":1}`, field: "no-such-cluster", types: []string{schemas.ErrUnknownCluster}},
		{json: `{"cluster":"dev","failed":"pg-a1","epoch":0}`, field: "epoch", types: []string{schemas.ErrInvalidInput}},
	},
	schemas.FailoverSlotsWorkflow: {
		{json: `{"limit":0}`, field: "limit", types: []string{schemas.ErrInvalidInput}},
	},
	"DRDrill": {
		{json: `{"cluster":"no-such-cluster","kind":"restore"}`, field: "no-such-cluster", types: []string{schemas.ErrUnknownCluster}},
		{json: `{"cluster":"dev","kind":"rehearsal"}`, field: "kind", types: []string{schemas.ErrInvalidInput}},
	},
}

// badInputs are the cases of every registered workflow.
func badInputs(names []string) []badInput {
	var cases []badInput
	for _, name := range names {
		wt, ok := wrongType[name]
		if !ok {
			wt = [2]string{`{"cluster": 5}`, "cluster"}
		}
		cases = append(cases,
			badInput{what: "malformed JSON", json: `{"cluster": "dev", `, field: "input"},
			badInput{what: "an array for the input", json: `["dev"]`, viaCLI: true, field: "input"},
			badInput{what: "a wrong type", json: wt[0], viaCLI: true, field: wt[1]},
			badInput{what: "a misspelt field", json: `{"untill": "2026-01-01T00:00:00Z", "cluster": "dev"}`, viaCLI: true, field: "untill"},
		)
		named, ok := wrongNames[name]
		if !ok {
			named = []badInput{{json: `{"cluster":"no-such-cluster"}`, field: "", types: []string{schemas.ErrUnknownCluster, schemas.ErrInvalidInput}}}
		}
		for _, b := range named {
			b.viaCLI = true
			b.what = "an unknown name: " + b.json
			cases = append(cases, b)
		}
		for i := range cases {
			if cases[i].workflow == "" {
				cases[i].workflow = name
			}
			if cases[i].types == nil {
				cases[i].types = []string{schemas.ErrInvalidInput}
			}
		}
	}
	return cases
}

// TestChaosBadInput gives every workflow the workers register input that
// does not parse, has wrong types or misspelt fields, or names a cluster,
// node, region or tree that does not exist, through `temporal workflow
// start` and the Go client: each run fails at once with a non-retryable
// application error that names the field, and none is left running. Then
// the worker is started on every invalid example topology and must refuse
// each with the problems listed in it.
func TestChaosBadInput(t *testing.T) {
	row := chaosRow{Scenario: "bad input", LostWrites: -1}
	recordChaos(t, &row)
	var names registeredNames
	workflows.Register(&names)
	cases := badInputs(names)
	c := temporalClient(t)

	start := time.Now()
	var (
		mu      sync.Mutex
		slowest time.Duration
		wg      sync.WaitGroup
	)
	sem := make(chan struct{}, 6)
	for i, b := range cases {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			took, err := refused(c, b, fmt.Sprintf("chaos-input/%s/%d/%d", b.workflow, i, time.Now().UnixNano()))
			mu.Lock()
			defer mu.Unlock()
			slowest = max(slowest, took)
			if err != nil {
				t.Errorf("%s with %s (%s): %v", b.workflow, b.what, b.json, err)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d bad inputs to %d workflows refused in %s, the slowest in %s", len(cases), len(names), time.Since(start).Round(time.Millisecond), slowest.Round(time.Millisecond))

	topologies := invalidTopologiesRefused(t)
	row.Detail = fmt.Sprintf("%d bad inputs to all %d workflows: non-retryable, naming the field, failed within %s, none left running; %d invalid topologies refused by the worker",
		len(cases), len(names), slowest.Round(100*time.Millisecond), topologies)
}

// refused starts one bad input and checks how its run ends.
func refused(c client.Client, b badInput, id string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	if b.viaCLI {
		cmd := exec.CommandContext(ctx, filepath.Join(root, "bin", "temporal"), "--env-file", filepath.Join(root, "temporal-dev.yaml"),
			"workflow", "start", "--type", b.workflow, "--task-queue", schemas.GlobalTaskQueue, "--workflow-id", id, "--input", b.json)
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("temporal workflow start: %v: %s", err, out)
		}
	} else {
		raw := converter.NewRawValue(&commonpb.Payload{
			Metadata: map[string][]byte{converter.MetadataEncoding: []byte(converter.MetadataEncodingJSON)},
			Data:     []byte(b.json),
		})
		if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: schemas.GlobalTaskQueue}, b.workflow, raw); err != nil {
			return 0, fmt.Errorf("start: %w", err)
		}
	}
	// Left running, a run would be terminated at the end rather than
	// linger on the stack.
	defer func() {
		d, err := c.DescribeWorkflowExecution(context.Background(), id, "")
		if err == nil && d.WorkflowExecutionInfo.Status == enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
			_ = c.TerminateWorkflow(context.Background(), id, "", "chaos bad-input test: left running")
		}
	}()
	err := c.GetWorkflow(ctx, id, "").Get(ctx, nil)
	took := time.Since(start)
	if err == nil {
		return took, errors.New("the workflow succeeded")
	}
	if ctx.Err() != nil {
		return took, fmt.Errorf("still running after %s: %v", time.Since(start).Round(time.Second), err)
	}
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return took, fmt.Errorf("failed with %v, not an application error", err)
	}
	if !slices.Contains(b.types, appErr.Type()) || !appErr.NonRetryable() {
		return took, fmt.Errorf("failed with %s (non-retryable %v): %v; want a non-retryable %v", appErr.Type(), appErr.NonRetryable(), err, b.types)
	}
	named := b.field
	if appErr.Type() == schemas.ErrInvalidInput && named != "" {
		named = "invalid input: " + b.field + ": "
	}
	if !strings.Contains(err.Error(), named) {
		return took, fmt.Errorf("the error does not name %q: %v", b.field, err)
	}
	return took, nil
}

// invalidTopologiesRefused starts the worker on each invalid example
// topology; it must exit with every problem the example lists, before it
// connects anywhere (its Temporal address is a closed port).
func invalidTopologiesRefused(t *testing.T) int {
	files, err := filepath.Glob(filepath.Join(root, "testdata", "topologies", "invalid", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid example topologies: %v", err)
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, filepath.Join(root, "bin", "lifeboat-worker"), "--topology", f, "--region", "region-a",
			"--temporal-address", "127.0.0.1:1", "--listen", "127.0.0.1:0", "--guard=false")
		out, err := cmd.CombinedOutput()
		timedOut := ctx.Err() != nil
		cancel()
		if err == nil || timedOut {
			t.Errorf("%s: the worker did not refuse it (%v): %s", filepath.Base(f), err, out)
			continue
		}
		for line := range strings.SplitSeq(string(body), "\n") {
			if want, ok := strings.CutPrefix(strings.TrimSpace(line), "# want: "); ok && !strings.Contains(string(out), want) {
				t.Errorf("%s: the worker's refusal does not say %q:\n%s", filepath.Base(f), want, out)
			}
		}
	}
	return len(files)
}
