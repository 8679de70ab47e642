package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/runnerhub/lifeboat/schemas"
)

// temporalArgs returns the command line of the Temporal dev server; a
// codecEndpoint, when not empty, is where its Web UI decodes payloads.
func temporalArgs(dbFile, codecEndpoint string) []string {
	args := []string{"server", "start-dev",
		"--ip", Host,
		"--port", fmt.Sprint(TemporalPort),
		"--ui-port", fmt.Sprint(TemporalUIPort),
		"--http-port", fmt.Sprint(TemporalHTTPPort),
		"--metrics-port", fmt.Sprint(TemporalMetricsPort),
		"--db-filename", dbFile,
		"--namespace", Namespace,
	}
	for _, sa := range schemas.SearchAttributes {
		args = append(args, "--search-attribute", sa+"=Keyword")
	}
	if codecEndpoint != "" {
		args = append(args, "--ui-codec-endpoint", codecEndpoint)
	}
	return args
}

// withoutPrefix returns env without the entries whose name starts with prefix.
func withoutPrefix(env []string, prefix string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}

// quietLogger discards the Temporal SDK's own log lines.
var quietLogger = tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))

// upTemporal starts the Temporal dev server, waits for its frontend and UI,
// and makes sure the search attributes exist.
func (s *Stack) upTemporal(ctx context.Context) error {
	exe := filepath.Join(s.cfg.BinDir, "temporal")
	logPath := s.logPath("temporal")
	dbFile := filepath.Join(s.devDir, "temporal", "temporal.db")
	pid, err := s.ensure(procSpec{
		name:  "temporal",
		path:  exe,
		args:  temporalArgs(dbFile, s.uiCodecEndpoint()),
		env:   withoutPrefix(os.Environ(), "TEMPORAL_"), // the env file sets TEMPORAL_ADDRESS for the CLI
		dir:   s.devDir,
		log:   logPath,
		ports: []int{TemporalPort, TemporalUIPort, TemporalHTTPPort, TemporalMetricsPort},
	})
	if err != nil {
		return err
	}
	var c client.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	err = waitReady(ctx, "temporal", pid, exe, logPath, 90*time.Second, func(ctx context.Context) error {
		if c == nil {
			cl, err := client.DialContext(ctx, client.Options{HostPort: TemporalAddress, Namespace: Namespace, Logger: quietLogger})
			if err != nil {
				return err
			}
			c = cl
		}
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			return err
		}
		d := net.Dialer{Timeout: time.Second}
		conn, err := d.DialContext(ctx, "tcp", addr(TemporalUIPort))
		if err != nil {
			return fmt.Errorf("web UI: %w", err)
		}
		conn.Close()
		return ensureSearchAttributes(ctx, c, Namespace)
	})
	if err != nil {
		return err
	}
	s.ready("temporal", TemporalAddress, "Temporal frontend, namespace "+Namespace+", db "+dbFile)
	s.ready("temporal-ui", addr(TemporalUIPort), "Temporal Web UI "+s.WebUIURL())
	return nil
}

// ensureSearchAttributes registers every missing search attribute of
// schemas.SearchAttributes in namespace ns as Keyword; present ones are left
// alone.
func ensureSearchAttributes(ctx context.Context, c client.Client, ns string) error {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, name := range schemas.SearchAttributes {
		t, ok := resp.GetCustomAttributes()[name]
		if !ok {
			missing[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
			continue
		}
		if t != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			return fmt.Errorf("search attribute %s exists with type %s, not Keyword: delete %s to start afresh", name, t, "the Temporal database")
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: ns, SearchAttributes: missing})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		names := make([]string, 0, len(missing))
		for n := range missing {
			names = append(names, n)
		}
		sort.Strings(names)
		return fmt.Errorf("add search attributes %v: %w", names, err)
	}
	return nil
}

// EnsureNamespace registers namespace ns on the stack's Temporal server with
// the search attributes the workflows set, as the stack's own has them, and
// waits until the frontend serves it: a test or benchmark runs workers of
// its own there, whose task queues and Worker Deployments do not meet the
// stack's. c is a client of any namespace.
func EnsureNamespace(ctx context.Context, c client.Client, ns, description string) error {
	_, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: ns, Description: description,
		WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register namespace %s: %w", ns, err)
	}
	// A new namespace reaches the frontend's cache within seconds.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		err := ensureSearchAttributes(ctx, c, ns)
		if err == nil {
			_, err = c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
				Namespace: ns, TaskQueue: &taskqueuepb.TaskQueue{Name: schemas.GlobalTaskQueue}, TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW,
			})
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s not usable after a minute: %w", ns, err)
		case <-time.After(time.Second):
		}
	}
}
