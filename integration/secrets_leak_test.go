package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	apiproxy "go.temporal.io/api/proxy"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/runnerhub/lifeboat/internal/codec"
	"github.com/runnerhub/lifeboat/schemas"
)

// minSecretLen is the shortest secret the leak test greps for: a shorter
// one would match by chance and make the test lie.
const minSecretLen = 8

// leakSecret is one value that must appear in no log and no history.
type leakSecret struct {
	name  string // what it is, printed in place of the value
	value []byte
}

// stackLeakSecrets reads every secret of the stack's secrets directory in
// the form a leak would show it: the passwords and S3 keys whole, the age
// identity's AGE-SECRET-KEY line, and each codec key (base64 as configured,
// and its raw bytes, which a binary history would hold).
func stackLeakSecrets(t *testing.T) []leakSecret {
	t.Helper()
	dir := filepath.Join(filepath.Dir(stack.TopologyPath()), "secrets")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("the stack's secret %s: %v (start the stack: make dev)", name, err)
		}
		return strings.TrimSpace(string(b))
	}
	var out []leakSecret
	for _, name := range []string{"pg-password", "pg-replicator-password", "pg-monitor-password", "s3-access-key", "s3-secret-key"} {
		out = append(out, leakSecret{name, []byte(read(name))})
	}
	ids := 0
	for _, line := range strings.Split(read("age-identity.txt"), "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "AGE-SECRET-KEY-") {
			ids++
			out = append(out, leakSecret{fmt.Sprintf("age identity %d", ids), []byte(line)})
		}
	}
	if ids == 0 {
		t.Fatal("the stack's age-identity.txt holds no AGE-SECRET-KEY line")
	}
	keys := read("codec-keys")
	if keys == "" {
		t.Fatal("the stack has no codec keys: restart it with the current lifeboat-dev (make dev) so it makes them")
	}
	for _, k := range strings.Split(keys, ",") {
		id, b64key, ok := strings.Cut(strings.TrimSpace(k), ":")
		raw, err := base64.StdEncoding.DecodeString(b64key)
		if !ok || err != nil {
			t.Fatalf("codec key %q of the stack does not parse as id:base64", id)
		}
		out = append(out, leakSecret{"codec key " + id, []byte(b64key)}, leakSecret{"codec key " + id + " (raw bytes)", raw})
	}
	for _, s := range out {
		if len(s.value) < minSecretLen {
			t.Fatalf("secret %s is %d bytes, shorter than %d: grepping for it would find it by chance", s.name, len(s.value), minSecretLen)
		}
	}
	return out
}

// findLeaks reports, for each secret found in data, its name and where:
// name of the place and the line number (counting '\n' in data).
func findLeaks(secrets []leakSecret, where string, data []byte) []string {
	var found []string
	for _, s := range secrets {
		if i := bytes.Index(data, s.value); i >= 0 {
			found = append(found, fmt.Sprintf("%s in %s (line %d)", s.name, where, bytes.Count(data[:i], []byte("\n"))+1))
		}
	}
	return found
}

// historyOf returns every event of a workflow's history and of the child
// workflows it started, as the server stores them (the client has no codec).
func historyOf(ctx context.Context, t *testing.T, c client.Client, id string) []*historypb.HistoryEvent {
	t.Helper()
	var events []*historypb.HistoryEvent
	pending := []string{id}
	for len(pending) > 0 {
		wid := pending[0]
		pending = pending[1:]
		iter := c.GetWorkflowHistory(ctx, wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		n := 0
		for iter.HasNext() {
			ev, err := iter.Next()
			if err != nil {
				t.Fatalf("history of %s: %v", wid, err)
			}
			n++
			events = append(events, ev)
			if a := ev.GetChildWorkflowExecutionStartedEventAttributes(); a != nil {
				pending = append(pending, a.GetWorkflowExecution().GetWorkflowId())
			}
		}
		if n == 0 {
			t.Fatalf("history of %s is empty", wid)
		}
	}
	return events
}

// TestSecrets_NeverInLogsOrHistories runs a database backup, a restore of
// it and a check on the stack, then greps both workers' logs and the full
// histories of those workflows, raw as stored and with their payloads opened
// by the stack's codec keys, for every secret of the stack.
func TestSecrets_NeverInLogsOrHistories(t *testing.T) {
	(&haStack{t: t}).lockStack() // no chaos test moves the primary under the backup
	secrets := stackLeakSecrets(t)

	stamp := time.Now().UnixNano()
	backupID := fmt.Sprintf("test-secrets-backup/%d", stamp)
	b, err := runWorkflow[schemas.BackupInput, schemas.BackupResult](t, schemas.BackupWorkflow, backupID,
		schemas.BackupInput{Cluster: "dev", Kind: schemas.BackupDatabase})
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	restoreID := fmt.Sprintf("test-secrets-restore/%d", stamp)
	if _, err := runWorkflow[schemas.RestoreInput, schemas.RestoreResult](t, schemas.RestoreWorkflow, restoreID,
		schemas.RestoreInput{Cluster: "dev", Backup: b.Manifest.ID, DataDir: scratchDir(t, "secrets"), Port: 15550}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	checkID := fmt.Sprintf("test-secrets-check/%d", stamp)
	if _, err := runWorkflow[schemas.CheckClusterInput, schemas.CheckClusterResult](t, schemas.CheckClusterWorkflow, checkID,
		schemas.CheckClusterInput{Cluster: "dev"}); err != nil {
		t.Fatalf("CheckCluster: %v", err)
	}

	var leaks []string
	// (a) The workers' logs, whole: every run they have logged so far.
	logs := 0
	for _, w := range []string{"worker-region-a", "worker-region-b"} {
		path := filepath.Join(filepath.Dir(stack.TopologyPath()), "logs", w+".log")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("worker log: %v", err)
		}
		if !bytes.Contains(data, []byte("Started Worker")) {
			t.Fatalf("%s.log does not show a worker starting: not the worker's log", w)
		}
		logs += len(data)
		leaks = append(leaks, findLeaks(secrets, w+".log", data)...)
	}

	// (b) The histories: raw, then with every sealed payload opened.
	cd, err := codec.New(stack.CodecKeys())
	if err != nil {
		t.Fatal(err)
	}
	plain := codecClient(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	events, sealed, opened := 0, 0, 0
	decodedOf := map[string][]byte{}
	for _, id := range []string{backupID, restoreID, checkID} {
		var raw, decoded bytes.Buffer
		for _, ev := range historyOf(ctx, t, plain, id) {
			events++
			b, err := proto.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			raw.Write(b)
			raw.WriteByte('\n')
			ev = proto.Clone(ev).(*historypb.HistoryEvent)
			err = apiproxy.VisitPayloads(ctx, ev, apiproxy.VisitPayloadsOptions{
				Visitor: func(_ *apiproxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
					for _, p := range ps {
						if string(p.GetMetadata()[converter.MetadataEncoding]) == codec.Encoding {
							sealed++
						}
					}
					out, err := cd.Decode(ps)
					if err != nil {
						return nil, err
					}
					for _, p := range out {
						opened++
						decoded.Write(p.GetData())
						decoded.WriteByte('\n')
					}
					return out, nil
				},
			})
			if err != nil {
				t.Fatalf("open the payloads of %s with the stack's codec keys: %v", id, err)
			}
			b, err = proto.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			decoded.Write(b)
			decoded.WriteByte('\n')
		}
		leaks = append(leaks, findLeaks(secrets, "history of "+id+" as stored", raw.Bytes())...)
		leaks = append(leaks, findLeaks(secrets, "history of "+id+" decoded", decoded.Bytes())...)
		decodedOf[id] = decoded.Bytes()
	}
	if sealed == 0 {
		t.Fatal("no sealed payload in the histories: the workers do not use the stack's codec, so the decoded check checks nothing new")
	}
	// The decoded payloads must hold what the workflows carried: the
	// backup's ID is in its result.
	if !bytes.Contains(decodedOf[backupID], []byte(`"`+b.Manifest.ID+`"`)) {
		t.Fatalf("the decoded history of %s does not show its backup %s: the payloads were not opened", backupID, b.Manifest.ID)
	}
	for _, l := range leaks {
		t.Errorf("secret found: %s", l)
	}
	t.Logf("%d secrets checked against %d bytes of worker logs and %d history events (%d sealed payloads, %d opened)",
		len(secrets), logs, events, sealed, opened)
}
