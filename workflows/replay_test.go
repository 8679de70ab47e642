package workflows

import (
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/schemas"
)

// recordedIDs are the workflow IDs of recorded runs whose workflow reads
// its own ID (a FileSync not run as filesync/<cluster> hands over, a
// DRDrill names its children after it): they
// are replayed under it. The others replay under the replayer's default.
var recordedIDs = map[string]string{
	"filesync.json": schemas.FileSyncWorkflowID("dev"),
	// A drill names its children after its own ID.
	"drill-full.json": "test-drill-full/1795949515367172645",
	// A monitor names itself in the failovers it starts; a switchover
	// pauses the monitor under its own ID.
	"monitor.json":    schemas.MonitorWorkflowID("dev"),
	"switchover.json": schemas.SwitchoverWorkflowID("dev"),
}

// TestReplay_RecordedHistories replays every history recorded from the real
// stack (testdata/histories, made with `temporal workflow show -o json`), so a
// change that would break running workflows fails here first.
func TestReplay_RecordedHistories(t *testing.T) {
	files, err := filepath.Glob("../testdata/histories/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata/histories")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			Register(r)
			id, ok := recordedIDs[filepath.Base(file)]
			if !ok {
				if err := r.ReplayWorkflowHistoryFromJSONFile(nil, file); err != nil {
					t.Fatalf("replay %s: %v", file, err)
				}
				return
			}
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatalf("read %s: %v", file, err)
			}
			err = r.ReplayWorkflowHistoryWithOptions(nil, h, worker.ReplayWorkflowHistoryOptions{
				OriginalExecution: workflow.Execution{ID: id, RunID: "recorded"},
			})
			if err != nil {
				t.Fatalf("replay %s as %s: %v", file, id, err)
			}
		})
	}
}
