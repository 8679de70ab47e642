package conninfo

import (
	"maps"
	"testing"
)

func TestFormat_ParseKeywordsReadsBackTheSameKeywords(t *testing.T) {
	tests := []map[string]string{
		{"host": "127.0.0.1", "port": "15432", "user": "replicator", "application_name": "pg-a2"},
		{"password": `it's a \ secret`, "options": "-c x=1", "sslmode": ""},
		{},
	}
	for _, want := range tests {
		text := Format(want)
		got, err := ParseKeywords(text)
		if err != nil {
			t.Errorf("ParseKeywords(%q): %v", text, err)
			continue
		}
		if !maps.Equal(got, want) {
			t.Errorf("ParseKeywords(Format(%v)) = %v (text %q)", want, got, text)
		}
	}
}
