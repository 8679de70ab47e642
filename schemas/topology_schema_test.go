package schemas

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// schemaNode is the part of a JSON Schema the drift test compares.
type schemaNode struct {
	Ref                  string                 `json:"$ref"`
	Type                 string                 `json:"type"`
	Enum                 []any                  `json:"enum"`
	Description          string                 `json:"description"`
	Pattern              string                 `json:"pattern"`
	Properties           map[string]*schemaNode `json:"properties"`
	Required             []string               `json:"required"`
	AdditionalProperties *bool                  `json:"additionalProperties"`
	Items                *schemaNode            `json:"items"`
	Defs                 map[string]*schemaNode `json:"$defs"`
}

func parsedTopologySchema(t *testing.T) *schemaNode {
	t.Helper()
	var root schemaNode
	if err := json.Unmarshal(TopologySchema(), &root); err != nil {
		t.Fatalf("parse topology schema: %v", err)
	}
	return &root
}

func TestTopologySchema_Compiles(t *testing.T) {
	if _, err := compiledTopologySchema(); err != nil {
		t.Fatal(err)
	}
}

// TestTopologySchema_MatchesGoTypes walks the Go types from Topology and the
// schema side by side, so that neither can gain, lose or rename a field alone.
func TestTopologySchema_MatchesGoTypes(t *testing.T) {
	root := parsedTopologySchema(t)
	compareStruct(t, root, "(root)", reflect.TypeFor[Topology](), root)
}

var durationType = reflect.TypeFor[Duration]()

// resolve follows a local $ref into $defs.
func resolve(t *testing.T, root, n *schemaNode, at string) *schemaNode {
	t.Helper()
	if n.Ref == "" {
		return n
	}
	name, ok := strings.CutPrefix(n.Ref, "#/$defs/")
	def := root.Defs[name]
	if !ok || def == nil {
		t.Fatalf("%s: unresolvable $ref %q", at, n.Ref)
	}
	return resolve(t, root, def, at)
}

func compareStruct(t *testing.T, root *schemaNode, at string, typ reflect.Type, n *schemaNode) {
	t.Helper()
	n = resolve(t, root, n, at)
	if n.Type != "object" {
		t.Errorf("%s: schema type %q, want object for %s", at, n.Type, typ)
	}
	if n.AdditionalProperties == nil || *n.AdditionalProperties {
		t.Errorf("%s: schema must set additionalProperties: false", at)
	}
	var tags, required []string
	for f := range typ.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			t.Errorf("%s: field %s.%s has no JSON name", at, typ, f.Name)
			continue
		}
		tags = append(tags, name)
		// A field the Go side may omit is optional in the schema, and the
		// other way round.
		if !strings.Contains(","+opts+",", ",omitempty,") {
			required = append(required, name)
		}
		prop := n.Properties[name]
		if prop == nil {
			t.Errorf("%s: schema lacks property %q of %s.%s", at, name, typ, f.Name)
			continue
		}
		compareValue(t, root, joinAt(at, name), f.Type, prop)
	}
	for name := range n.Properties {
		if !slices.Contains(tags, name) {
			t.Errorf("%s: schema property %q has no field in %s", at, name, typ)
		}
	}
	slices.Sort(required)
	gotRequired := slices.Sorted(slices.Values(n.Required))
	if !slices.Equal(gotRequired, required) {
		t.Errorf("%s: schema requires %v, Go types %v (fields without omitempty)", at, gotRequired, required)
	}
}

func compareValue(t *testing.T, root *schemaNode, at string, typ reflect.Type, n *schemaNode) {
	t.Helper()
	// Items are described by their list.
	if !strings.HasSuffix(at, "[]") && n.Description == "" && resolve(t, root, n, at).Description == "" {
		t.Errorf("%s: schema has no description", at)
	}
	n = resolve(t, root, n, at)
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch {
	case typ == durationType:
		wantType(t, at, n, "string")
	case typ.Kind() == reflect.Struct:
		compareStruct(t, root, at, typ, n)
	case typ.Kind() == reflect.Slice:
		wantType(t, at, n, "array")
		if n.Items == nil {
			t.Fatalf("%s: schema array has no items", at)
		}
		compareValue(t, root, at+"[]", typ.Elem(), n.Items)
	case typ.Kind() == reflect.String:
		if n.Enum != nil {
			for _, v := range n.Enum {
				if _, ok := v.(string); !ok {
					t.Errorf("%s: enum value %v is not a string", at, v)
				}
			}
			return
		}
		wantType(t, at, n, "string")
	case typ.Kind() == reflect.Bool:
		wantType(t, at, n, "boolean")
	case typ.Kind() == reflect.Int || typ.Kind() == reflect.Int64:
		wantType(t, at, n, "integer")
	default:
		t.Errorf("%s: no schema mapping for Go type %s", at, typ)
	}
}

func wantType(t *testing.T, at string, n *schemaNode, want string) {
	t.Helper()
	if n.Type != want {
		t.Errorf("%s: schema type %q, want %q", at, n.Type, want)
	}
}

func joinAt(at, name string) string {
	if at == "(root)" {
		return name
	}
	return at + "." + name
}

func TestTopologySchema_StoreTypesMatchGoConstants(t *testing.T) {
	root := parsedTopologySchema(t)
	got := root.Defs["store"].Properties["type"].Enum
	want := []any{StoreS3, StoreLocal}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("store type enum = %v, want %v", got, want)
	}
}

func TestTopologySchema_PatternsMatchGoChecks(t *testing.T) {
	root := parsedTopologySchema(t)
	for _, tc := range []struct {
		got  *schemaNode
		want string
	}{
		{root.Defs["name"], namePattern},
		{root.Defs["duration"], durationPattern},
		{root.Defs["redisGroup"].Properties["master_name"], masterNamePattern},
	} {
		if tc.got.Pattern != tc.want {
			t.Errorf("pattern %q, want %q as in the Go checks", tc.got.Pattern, tc.want)
		}
	}
}
