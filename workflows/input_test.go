package workflows

import (
	"errors"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/runnerhub/lifeboat/schemas"
)

// namesRegistry keeps the names Register registers.
type namesRegistry struct{ names []string }

func (r *namesRegistry) RegisterWorkflowWithOptions(_ any, o workflow.RegisterOptions) {
	r.names = append(r.names, o.Name)
}

func jsonPayload(s string) converter.RawValue {
	return converter.NewRawValue(&commonpb.Payload{
		Metadata: map[string][]byte{converter.MetadataEncoding: []byte(converter.MetadataEncodingJSON)},
		Data:     []byte(s),
	})
}

func TestDecodeInput_NamesTheFieldOfEveryBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		field      string // the field the error must name
		problem    string
	}{
		{"malformed", `{"cluster": "dev"`, "input", "ends early"},
		{"not JSON", `cluster=dev`, "input", "not valid JSON"},
		{"wrong type", `{"cluster": 5}`, "cluster", "got a JSON number, want a string"},
		{"wrong nested type", `{"cluster": "dev", "state": {"components": 3}}`, "state.components", "want an object"},
		{"fraction for an integer", `{"cluster": "dev", "continue_after": 1.5}`, "continue_after", "want an integer"},
		{"array for the input", `["dev"]`, "input", "got a JSON array, want an object"},
		{"string for the input", `"dev"`, "input", "got a JSON string, want an object"},
		{"unknown field", `{"cluster": "dev", "clustr": "x"}`, "clustr", "no such field"},
		{"two values", `{"cluster": "dev"} {}`, "input", "more than one JSON value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in schemas.MonitorInput
			err := DecodeInput(jsonPayload(tc.json), &in)
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != schemas.ErrInvalidInput || !appErr.NonRetryable() {
				t.Fatalf("err = %v, want a non-retryable InvalidInput error", err)
			}
			if want := "invalid input: " + tc.field + ": "; !strings.HasPrefix(appErr.Message(), want) || !strings.Contains(appErr.Message(), tc.problem) {
				t.Errorf("got %q, want it to start with %q and say %q", appErr.Message(), want, tc.problem)
			}
		})
	}
}

func TestDecodeInput_GoodInputAndNoInput(t *testing.T) {
	var in schemas.RestoreInput
	if err := DecodeInput(jsonPayload(`{"cluster":"dev","backup":"latest","data_dir":"/x","port":5433}`), &in); err != nil {
		t.Fatal(err)
	}
	if want := (schemas.RestoreInput{Cluster: "dev", Backup: "latest", DataDir: "/x", Port: 5433}); in != want {
		t.Errorf("got %+v, want %+v", in, want)
	}
	var none schemas.RestoreInput
	if err := DecodeInput(converter.RawValue{}, &none); err != nil || none != (schemas.RestoreInput{}) {
		t.Errorf("no input: %+v, %v; want the zero input for the workflow to refuse", none, err)
	}
	null, err := converter.GetDefaultDataConverter().ToPayload(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := DecodeInput(converter.NewRawValue(null), &none); err != nil {
		t.Errorf("null input: %v", err)
	}
}

// TestRegister_EveryWorkflowFailsBadInputWithInvalidInput runs each
// registered workflow, as the worker registers it, on input of the wrong
// type: it fails at once with InvalidInput naming the field, before any
// activity (none is mocked).
func TestRegister_EveryWorkflowFailsBadInputWithInvalidInput(t *testing.T) {
	var reg namesRegistry
	Register(&reg)
	if len(reg.names) == 0 {
		t.Fatal("Register registered nothing")
	}
	for _, name := range reg.names {
		for _, bad := range []struct{ name, json, field string }{
			{"malformed", `{"cluster": ["dev"]`, "input"},
			{"array", `[1, 2]`, "input"},
			{"unknown field", `{"no_such_field": true}`, "no_such_field"},
		} {
			t.Run(name+"/"+bad.name, func(t *testing.T) {
				var suite testsuite.WorkflowTestSuite
				env := suite.NewTestWorkflowEnvironment()
				Register(env)
				env.ExecuteWorkflow(name, jsonPayload(bad.json))
				err := env.GetWorkflowError()
				var appErr *temporal.ApplicationError
				if !errors.As(err, &appErr) || appErr.Type() != schemas.ErrInvalidInput || !appErr.NonRetryable() {
					t.Fatalf("%s: err = %v, want a non-retryable InvalidInput error", bad.json, err)
				}
				if !strings.Contains(appErr.Message(), "invalid input: "+bad.field+": ") {
					t.Errorf("%s: %q does not name %s", bad.json, appErr.Message(), bad.field)
				}
			})
		}
	}
}

// FuzzDecodeInput: any payload decodes or fails with InvalidInput, never
// panics, for an input with nested and typed fields.
func FuzzDecodeInput(f *testing.F) {
	f.Add([]byte(`{"cluster":"dev","state":{"components":{}},"continue_after":3}`))
	f.Add([]byte(`{"cluster": 5}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var in schemas.MonitorInput
		err := DecodeInput(jsonPayload(string(b)), &in)
		var appErr *temporal.ApplicationError
		if err != nil && (!errors.As(err, &appErr) || appErr.Type() != schemas.ErrInvalidInput || !appErr.NonRetryable()) {
			t.Fatalf("%q: %v is not a non-retryable InvalidInput error", b, err)
		}
	})
}
