package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/runnerhub/lifeboat/schemas"
)

// webUIScreenshot is the artifact TestWebUI_RestoreStartedFromTheFormCompletes
// leaves behind, relative to the checkout.
const webUIScreenshot = ".dev/artifacts/webui-restore.png"

// TestWebUI_RestoreStartedFromTheFormCompletes starts a restore the way
// docs/backups.md tells operators to from the Temporal Web UI: Workflows →
// Start Workflow, with the same one-line JSON as `temporal workflow start
// --type Restore`. It waits for the workflow with the SDK, then opens the finished
// workflow's page in a headless Chromium, checks it shows Completed and the
// result, and saves a full-page screenshot as .dev/artifacts/webui-restore.png.
func TestWebUI_RestoreStartedFromTheFormCompletes(t *testing.T) {
	browser := requireBrowser(t)
	backupNow(t) // so "latest" exists on a fresh stack

	dir := scratchDir(t, "webui")
	port := freePort(t, 15530)
	id := fmt.Sprintf("test-webui-restore/%d", time.Now().UnixNano())
	input := fmt.Sprintf(`{"cluster":"dev","backup":"latest","data_dir":%q,"port":%d}`, dir, port)
	shot := filepath.Join(root, webUIScreenshot)
	for _, f := range []string{shot, strings.TrimSuffix(shot, ".png") + "-start-failure.png", strings.TrimSuffix(shot, ".png") + "-check-failure.png"} {
		_ = os.Remove(f) // an artifact of an earlier run
	}
	env := []string{
		"WEBUI_URL=" + stack.WebUIURL(),
		"WEBUI_NAMESPACE=default",
		"WORKFLOW_ID=" + id,
		"SCREENSHOT=" + shot,
		"CHROMIUM=" + browser,
	}

	runE2E(t, "start", append(env,
		"TASK_QUEUE="+schemas.GlobalTaskQueue,
		"WORKFLOW_TYPE="+schemas.RestoreWorkflow,
		"WORKFLOW_INPUT="+input)...)

	c := temporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatalf("the Web UI's form did not start %s: %v", id, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetType().GetName() != schemas.RestoreWorkflow || info.GetTaskQueue() != schemas.GlobalTaskQueue {
		t.Fatalf("the form started %s on %s, want %s on %s",
			info.GetType().GetName(), info.GetTaskQueue(), schemas.RestoreWorkflow, schemas.GlobalTaskQueue)
	}
	runID := info.GetExecution().GetRunId()
	var res schemas.RestoreResult
	if err := c.GetWorkflow(ctx, id, runID).Get(ctx, &res); err != nil {
		t.Fatalf("Restore started from the Web UI: %v", err)
	}
	if res.BackupID == "" || res.Port != port || res.DataDir != dir {
		t.Fatalf("Restore result = %+v, want a backup ID, port %d and data dir %s", res, port, dir)
	}
	if got := strings.TrimSpace(psql(t, port, "SELECT 1")); got != "1" {
		t.Errorf("server restored from the Web UI answers %q", got)
	}
	if desc, err := c.DescribeWorkflowExecution(ctx, id, runID); err != nil ||
		desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Fatalf("workflow %s is not completed: %v", id, err)
	}

	runE2E(t, "check", append(env,
		"WORKFLOW_RUN_ID="+runID,
		fmt.Sprintf("EXPECT_TEXT=\"backup_id\": %q\n\"port\": %d", res.BackupID, port))...)
	if st, err := os.Stat(shot); err != nil || st.Size() == 0 {
		t.Fatalf("no screenshot at %s: %v", shot, err)
	}
	t.Logf("restore %s (backup %s, port %d) started from the Web UI form; screenshot %s", id, res.BackupID, port, webUIScreenshot)
}

// requireBrowser returns the Chromium the browser tests drive, and fails
// with how to install what is missing: these tests are never skipped.
func requireBrowser(t *testing.T) string {
	t.Helper()
	browser := os.Getenv("CHROMIUM")
	if browser == "" {
		browser = "/usr/bin/chromium"
	}
	var missing []string
	if _, err := exec.LookPath(browser); err != nil {
		missing = append(missing, fmt.Sprintf("Chromium (%s): apt-get install -y chromium (as root), or set CHROMIUM to a Chromium binary", browser))
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "Node.js 20 or newer: apt-get install -y nodejs npm")
	}
	if _, err := os.Stat(filepath.Join(root, "e2e", "node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "e2e/node_modules: npm ci --prefix e2e")
	}
	if len(missing) > 0 {
		t.Fatalf("the Web UI tests need a headless browser; `make deps` (as root) installs it, or by hand:\n  %s",
			strings.Join(missing, "\n  "))
	}
	return browser
}

// runE2E runs `node e2e/webui.mjs mode` with env added to the test's own.
func runE2E(t *testing.T, mode string, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("e2e", "webui.mjs"), mode)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("node e2e/webui.mjs %s:\n%s", mode, strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("node e2e/webui.mjs %s: %v", mode, err)
	}
}

// freePort returns the first port from first on that nothing listens on.
func freePort(t *testing.T, first int) int {
	t.Helper()
	for p := first; p < first+50; p++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			l.Close()
			return p
		}
	}
	t.Fatalf("no free port in %d-%d", first, first+49)
	return 0
}
