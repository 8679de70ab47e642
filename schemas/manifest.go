package schemas

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed manifest.schema.json
var manifestSchema []byte

const manifestSchemaURL = "https://lifeboat.runnerhub.dev/schemas/manifest.schema.json"

var compiledManifestSchema = compiledSchema(manifestSchemaURL, manifestSchema)

// ManifestSchema returns the embedded JSON Schema of a backup manifest.
func ManifestSchema() []byte { return bytes.Clone(manifestSchema) }

// ParseManifest reads a stored manifest and checks it against its schema,
// reporting every problem at once. A manifest that does not parse describes
// no usable backup, so callers treat the error as corruption.
func ParseManifest(data []byte) (Manifest, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return Manifest{}, Problems{{Path: "(root)", Message: "not JSON: " + err.Error()}}
	}
	ps, _, err := validateAgainst(compiledManifestSchema, doc)
	if err != nil {
		return Manifest{}, err
	}
	if len(ps) > 0 {
		return Manifest{}, ps.sorted()
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, Problems{{Path: "(root)", Message: err.Error()}}
	}
	if m.Kind == BackupDatabase && (m.StartLSN == "" || m.StopLSN == "" || m.Timeline == 0) {
		return Manifest{}, Problems{{Path: "(root)", Message: "a database backup needs start_lsn, stop_lsn and timeline"}}
	}
	if ps := checkParts(m); len(ps) > 0 {
		return Manifest{}, ps
	}
	if m.EndTime.Before(m.StartTime) {
		return Manifest{}, Problems{{Path: "end_time", Message: fmt.Sprintf("%s is before start_time %s", m.EndTime, m.StartTime)}}
	}
	return m, nil
}

// checkParts holds a manifest's parts to its kind: a database backup is one
// object; a files or config backup lists its parts, the first repeated at
// the top so that readers knowing one object still check a real one.
func checkParts(m Manifest) Problems {
	if m.Kind == BackupDatabase {
		if len(m.Parts) > 0 {
			return Problems{{Path: "parts", Message: "a database backup is one object and has no parts"}}
		}
		return nil
	}
	if len(m.Parts) == 0 {
		return Problems{{Path: "parts", Message: "a " + m.Kind + " backup lists its parts"}}
	}
	p := m.Parts[0]
	if p.Key != m.Object || p.PlainSize != m.PlainSize || p.StoredSize != m.StoredSize ||
		p.PlainSHA256 != m.PlainSHA256 || p.StoredSHA256 != m.StoredSHA256 {
		return Problems{{Path: "parts[0]", Message: "the first part must repeat object, sizes and sums"}}
	}
	seen := map[string]bool{}
	for i, p := range m.Parts {
		if seen[p.Key] {
			return Problems{{Path: fmt.Sprintf("parts[%d].key", i), Message: p.Key + " is listed twice"}}
		}
		seen[p.Key] = true
	}
	return nil
}
