package conninfo

import (
	"maps"
	"slices"
	"strings"
)

// ParseKeywords reads a libpq keyword=value string, such as a standby's
// primary_conninfo, into its keywords.
func ParseKeywords(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return map[string]string{}, nil
	}
	return parseDSNKeywords(s)
}

// Format writes keywords as a libpq keyword=value string, sorted by
// keyword, quoting the values that need it.
func Format(params map[string]string) string {
	keys := slices.Sorted(maps.Keys(params))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := params[k]
		if v == "" || strings.ContainsAny(v, " \t\n\r\f\v'\\") {
			v = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}
