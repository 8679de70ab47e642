package schemas

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

//go:embed topology.schema.json
var topologySchema []byte

// topologySchemaURL is the schema's $id; the compiler resolves it from memory.
const topologySchemaURL = "https://github.com/runnerhub/lifeboat/schemas/topology.schema.json"

// TopologySchema returns the JSON Schema (draft 2020-12) of a topology file.
func TopologySchema() []byte { return bytes.Clone(topologySchema) }

// Patterns of the schema; the Go checks use the same ones so that a topology
// built in Go and one read from a file are held to one rule.
const (
	namePattern       = `^[a-z][a-z0-9-]{0,62}$`
	durationPattern   = `^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`
	masterNamePattern = `^\S+$`
)

var (
	nameRE       = regexp.MustCompile(namePattern)
	durationRE   = regexp.MustCompile(durationPattern)
	masterNameRE = regexp.MustCompile(masterNamePattern)
)

// Messages shared by the schema's problems and the Go checks, so that one
// mistake reads the same whichever finds it.
const (
	msgRequired     = "required"
	msgUnknownField = "unknown field"
	msgNotEmpty     = "must not be empty"
	msgName         = "must be 1 to 63 lowercase letters, digits or dashes, starting with a letter"
	msgDuration     = `must be a duration such as "90s" or "15m"`
	msgDurationOver = "duration out of range"
	msgMasterName   = "must not be empty or contain spaces"
	msgStoreType    = "must be one of s3, local"
)

// patternMessages says in words what each pattern of the schema means.
var patternMessages = map[string]string{
	namePattern:       msgName,
	durationPattern:   msgDuration,
	masterNamePattern: msgMasterName,
}

// goDuration is the schema's "go-duration" format. The pattern already checks
// the syntax; this catches what it cannot: values too large for a Duration.
var goDuration = &jsonschema.Format{
	Name: "go-duration",
	Validate: func(v any) error {
		s, ok := v.(string)
		if !ok || !durationRE.MatchString(s) {
			return nil // the type or the pattern reports it
		}
		if _, err := time.ParseDuration(s); err != nil {
			return errors.New(msgDurationOver)
		}
		return nil
	},
}

// compiledTopologySchema compiles the embedded schema once.
var compiledTopologySchema = compiledSchema(topologySchemaURL, topologySchema)

// compiledSchema returns a function compiling an embedded schema once.
func compiledSchema(url string, src []byte) func() (*jsonschema.Schema, error) {
	return sync.OnceValues(func() (*jsonschema.Schema, error) {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(src))
		if err != nil {
			return nil, fmt.Errorf("parse schema %s: %w", url, err)
		}
		c := jsonschema.NewCompiler()
		c.RegisterFormat(goDuration)
		c.AssertFormat()
		if err := c.AddResource(url, doc); err != nil {
			return nil, fmt.Errorf("add schema %s: %w", url, err)
		}
		sch, err := c.Compile(url)
		if err != nil {
			return nil, fmt.Errorf("compile schema %s: %w", url, err)
		}
		return sch, nil
	})
}

// schemaProblems validates doc (as from jsonschema.UnmarshalJSON) against the
// topology schema. It returns one Problem per failed leaf, and the locations
// of the values the schema rejected, so that the Go checks can skip them.
func schemaProblems(doc any) (Problems, [][]string, error) {
	return validateAgainst(compiledTopologySchema, doc)
}

// validateAgainst validates doc against a compiled schema, as schemaProblems.
func validateAgainst(compiled func() (*jsonschema.Schema, error), doc any) (Problems, [][]string, error) {
	sch, err := compiled()
	if err != nil {
		return nil, nil, err
	}
	err = sch.Validate(doc)
	if err == nil {
		return nil, nil, nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return nil, nil, fmt.Errorf("validate: %w", err)
	}
	var ps Problems
	var rejected [][]string
	collectLeaves(verr, func(leaf *jsonschema.ValidationError) {
		ps = append(ps, leafProblems(doc, leaf)...)
		rejected = append(rejected, rejectedValues(leaf)...)
	})
	return ps, rejected, nil
}

// rejectedValues returns the locations of the values a failed leaf refuses: a
// missing property refuses nothing, an unknown one refuses itself.
func rejectedValues(e *jsonschema.ValidationError) [][]string {
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		return nil
	case *kind.AdditionalProperties:
		out := make([][]string, len(k.Properties))
		for i, p := range k.Properties {
			out[i] = append(slices.Clone(e.InstanceLocation), p)
		}
		return out
	default:
		return [][]string{e.InstanceLocation}
	}
}

// collectLeaves calls f on every error of the tree that has no causes: the
// inner nodes only group them ($ref, the schema itself).
func collectLeaves(e *jsonschema.ValidationError, f func(*jsonschema.ValidationError)) {
	if len(e.Causes) == 0 {
		f(e)
		return
	}
	for _, c := range e.Causes {
		collectLeaves(c, f)
	}
}

// leafProblems turns one failed keyword into Problems. Required and
// additionalProperties point at the property concerned, not at its parent.
func leafProblems(doc any, e *jsonschema.ValidationError) Problems {
	at := instancePath(doc, e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		ps := make(Problems, len(k.Missing))
		for i, m := range k.Missing {
			ps[i] = at.field(m).problem(msgRequired)
		}
		return ps
	case *kind.AdditionalProperties:
		ps := make(Problems, len(k.Properties))
		for i, p := range k.Properties {
			ps[i] = at.field(p).problem(msgUnknownField)
		}
		return ps
	default:
		return Problems{at.problem(kindMessage(e.ErrorKind))}
	}
}

// kindMessage words a failed keyword briefly, for someone editing YAML.
func kindMessage(ek jsonschema.ErrorKind) string {
	switch k := ek.(type) {
	case *kind.Type:
		return "must be " + typeNames(k.Want)
	case *kind.Pattern:
		if msg, ok := patternMessages[k.Want]; ok {
			return msg
		}
		return "must match " + k.Want
	case *kind.Enum:
		return "must be one of " + joinValues(k.Want)
	case *kind.Const:
		return fmt.Sprintf("must be %v", k.Want)
	case *kind.Format:
		if k.Err != nil {
			return k.Err.Error()
		}
		return "must be a " + k.Want
	case *kind.MinItems:
		if k.Want == 1 {
			return msgNotEmpty
		}
		return fmt.Sprintf("must have at least %d items", k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("must have at most %d items", k.Want)
	case *kind.MinLength:
		if k.Want == 1 {
			return msgNotEmpty
		}
		return fmt.Sprintf("must be at least %d characters", k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("must be at most %d characters", k.Want)
	case *kind.Minimum:
		return "must be at least " + ratString(k.Want)
	case *kind.Maximum:
		return "must be at most " + ratString(k.Want)
	case *kind.ExclusiveMinimum:
		return "must be greater than " + ratString(k.Want)
	case *kind.ExclusiveMaximum:
		return "must be less than " + ratString(k.Want)
	case *kind.FalseSchema:
		return "not allowed"
	default:
		return "fails " + strings.Join(ek.KeywordPath(), "/")
	}
}

// typeNames words JSON Schema types as YAML users know them.
func typeNames(types []string) string {
	words := map[string]string{
		"string":  "a string",
		"integer": "an integer",
		"number":  "a number",
		"boolean": "true or false",
		"object":  "a mapping",
		"array":   "a list",
		"null":    "null",
	}
	out := make([]string, len(types))
	for i, t := range types {
		out[i] = words[t]
		if out[i] == "" {
			out[i] = t
		}
	}
	return strings.Join(out, " or ")
}

func joinValues(vs []any) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprint(v)
	}
	return strings.Join(out, ", ")
}

func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	return r.FloatString(6)
}

// instancePath turns a JSON pointer's tokens into a Problem path. It walks doc
// because only the value tells an array index from an object key that looks
// like a number.
func instancePath(doc any, tokens []string) problemPath {
	var p problemPath
	cur := doc
	for _, tok := range tokens {
		switch v := cur.(type) {
		case []any:
			i, err := parseIndex(tok, len(v))
			if err != nil {
				return p.field(tok)
			}
			p, cur = p.index(i), v[i]
		case map[string]any:
			p, cur = p.field(tok), v[tok]
		default:
			p, cur = p.field(tok), nil
		}
	}
	return p
}

func parseIndex(tok string, n int) (int, error) {
	i, err := strconv.Atoi(tok)
	if err != nil {
		return 0, err
	}
	if i < 0 || i >= n {
		return 0, fmt.Errorf("index %d out of range", i)
	}
	return i, nil
}
