package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/runnerhub/lifeboat/internal/codec"
	"github.com/runnerhub/lifeboat/internal/devstack"
	"github.com/runnerhub/lifeboat/internal/tclient"
)

// codecEcho is a workflow that hands its input to an activity and returns
// what the activity made of it: input, activity input, activity result and
// workflow result all pass through Temporal's history.
func codecEcho(ctx workflow.Context, secret string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second})
	var out string
	err := workflow.ExecuteActivity(ctx, codecEchoActivity, secret).Get(ctx, &out)
	return out, err
}

func codecEchoActivity(_ context.Context, secret string) (string, error) {
	return "echo " + secret, nil
}

// TestCodec_HistoryWithoutTheKeyShowsOnlyCiphertext runs a workflow through
// the stack's real Temporal server with clients that seal payloads, then
// reads its history as anyone without the key would: the secret it carried
// is nowhere in it, every payload is sealed, and only the key opens them.
func TestCodec_HistoryWithoutTheKeyShowsOnlyCiphertext(t *testing.T) {
	keys := stack.CodecKeys()
	if keys == "" {
		// A stack may run without codec keys: the test then makes its own,
		// and it brings its own worker, so it does not depend on the stack's.
		k, err := codec.NewKey("test")
		if err != nil {
			t.Fatal(err)
		}
		keys = k
	}
	sealed := codecClient(t, keys)
	queue := fmt.Sprintf("test-codec-%d", time.Now().UnixNano())
	w := worker.New(sealed, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(codecEcho, workflow.RegisterOptions{Name: "TestCodecEcho"})
	w.RegisterActivityWithOptions(codecEchoActivity, activity.RegisterOptions{Name: "TestCodecEchoActivity"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	secret := fmt.Sprintf("lifeboat-codec-secret-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := sealed.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: queue, TaskQueue: queue}, "TestCodecEcho", secret)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got != "echo "+secret {
		t.Fatalf("result through the codec = %q, want %q", got, "echo "+secret)
	}

	// Without the key.
	plain := codecClient(t, "")
	iter := plain.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var dump bytes.Buffer
	events := 0
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		events++
		b, err := protojson.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		dump.Write(b)
		dump.WriteByte('\n')
	}
	if events == 0 {
		t.Fatal("empty history")
	}
	// The secret in the clear, or as the base64 that protojson gives the
	// data of a plain JSON payload.
	for _, form := range []string{secret, b64(`"` + secret + `"`), b64(`"echo ` + secret + `"`)} {
		if strings.Contains(dump.String(), form) {
			t.Errorf("the history read without the key shows %q", form)
		}
	}
	if n := strings.Count(dump.String(), `"encoding":"`+b64(codec.Encoding)+`"`); n < 4 {
		t.Errorf("%d sealed payloads in the history, want at least 4 (workflow input and result, activity input and result):\n%s", n, dump.String())
	}

	desc, err := plain.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	if desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Fatalf("status %s", desc.GetWorkflowExecutionInfo().GetStatus())
	}
	var without string
	err = plain.GetWorkflow(ctx, run.GetID(), run.GetRunID()).Get(ctx, &without)
	if err == nil || !strings.Contains(err.Error(), codec.Encoding) {
		t.Errorf("a client without the key read the result: %q, %v", without, err)
	}
	t.Logf("%d events; %d sealed payloads; a client without the key gets: %v", events,
		strings.Count(dump.String(), b64(codec.Encoding)), err)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// codecClient connects to the stack's Temporal with keys ("" for none).
func codecClient(t *testing.T, keys string) client.Client {
	t.Helper()
	opts, err := tclient.Options{Address: devstack.TemporalAddress, Namespace: devstack.Namespace, CodecKeys: keys}.ClientOptions()
	if err != nil {
		t.Fatal(err)
	}
	if keys == "" {
		opts.DataConverter = converter.GetDefaultDataConverter()
	}
	opts.Logger = testLogger{t}
	c, err := client.Dial(opts)
	if err != nil {
		t.Fatalf("connect to temporal: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}
