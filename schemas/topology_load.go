package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"
)

// LoadTopology reads and parses the topology file at path. It is the only
// function of the package that does I/O.
func LoadTopology(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read topology: %w", err)
	}
	t, err := ParseTopology(data)
	if err != nil {
		return nil, fmt.Errorf("topology %s is invalid:\n%w", path, err)
	}
	return t, nil
}

// ParseTopology parses a topology written in YAML (or JSON), checks it against
// the embedded schema and the rules of Validate, and returns it. On failure the
// error is Problems, listing every problem found.
func ParseTopology(data []byte) (*Topology, error) {
	// Strict conversion rejects duplicate keys, which would otherwise let the
	// last one win silently.
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, Problems{rootPath.problem("not valid YAML: " + yamlErrorText(err))}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, Problems{rootPath.problem("not valid JSON: " + err.Error())}
	}
	problems, rejected, err := schemaProblems(doc)
	if err != nil {
		return nil, err
	}
	if len(problems) == 0 {
		t, err := decodeJSON(js)
		if err != nil {
			// The schema accepted what the Go types refuse: they have drifted.
			return nil, Problems{rootPath.problem(err.Error())}
		}
		if err := t.Validate(); err != nil {
			return nil, err
		}
		t.normalize()
		return t, nil
	}
	// Check what the schema accepted too, so one run reports every problem.
	if t := decodeAccepted(doc, rejected); t != nil {
		problems = append(problems, problemsOutside(t.problems(), problems)...)
	}
	return nil, problems.sorted()
}

// yamlErrorText puts the YAML library's error, which can span lines, on one.
func yamlErrorText(err error) string {
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:")
	msg = strings.TrimPrefix(msg, "yaml: ")
	var parts []string
	for line := range strings.Lines(msg) {
		if line = strings.TrimSpace(line); line != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, "; ")
}

func decodeJSON(js []byte) (*Topology, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var t Topology
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("decode topology: %w", err)
	}
	return &t, nil
}

// decodeAccepted decodes doc without the values the schema rejected, or
// returns nil when too little is left to check.
func decodeAccepted(doc any, rejected [][]string) *Topology {
	for _, loc := range rejected {
		if len(loc) == 0 {
			return nil
		}
		doc = removeValue(doc, loc)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil
	}
	t, err := decodeJSON(js)
	if err != nil {
		return nil
	}
	return t
}

// removeValue deletes the value at loc from doc: an object's key goes, a
// list's item becomes null so that later indexes keep their meaning.
func removeValue(doc any, loc []string) any {
	parent := doc
	for _, tok := range loc[:len(loc)-1] {
		parent = childValue(parent, tok)
	}
	last := loc[len(loc)-1]
	switch p := parent.(type) {
	case map[string]any:
		delete(p, last)
	case []any:
		if i, err := strconv.Atoi(last); err == nil && i >= 0 && i < len(p) {
			p[i] = nil
		}
	}
	return doc
}

func childValue(v any, tok string) any {
	switch v := v.(type) {
	case map[string]any:
		return v[tok]
	case []any:
		if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(v) {
			return v[i]
		}
	}
	return nil
}

// problemsOutside keeps the Go checks' problems that lie outside every value
// the schema already reported: one mistake, one line.
func problemsOutside(ps, reported Problems) Problems {
	var out Problems
	for _, p := range ps {
		if !slices.ContainsFunc(reported, func(r Problem) bool { return pathWithin(p.Path, r.Path) }) {
			out = append(out, p)
		}
	}
	return out
}

// pathWithin reports whether path p is q or lies inside it.
func pathWithin(p, q string) bool {
	rest, ok := strings.CutPrefix(p, q)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
}

// normalize makes empty lists nil: an empty list and an absent one mean the
// same, and this way a parsed topology survives a JSON round trip unchanged.
func (t *Topology) normalize() {
	if len(t.Files) == 0 {
		t.Files = nil
	}
	for i := range t.Regions {
		r := &t.Regions[i]
		if len(r.Postgres) == 0 {
			r.Postgres = nil
		}
		if len(r.Redis) == 0 {
			r.Redis = nil
		}
		if len(r.Sentinels) == 0 {
			r.Sentinels = nil
		}
	}
}
