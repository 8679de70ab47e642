package conninfo

import (
	"maps"
	"testing"
)

func TestParse_ReadsURLsAndKeywordStrings(t *testing.T) {
	tests := []struct {
		dsn  string
		want map[string]string
	}{
		{"postgres://u@h:5432/db?sslmode=disable", map[string]string{"user": "u", "host": "h:5432", "dbname": "db", "sslmode": "disable"}},
		{"postgresql://", map[string]string{}},
		{"postgresql://h1:5432,h2:5433/db", map[string]string{"host": "h1:5432,h2:5433", "dbname": "db"}},
		{"postgres://u@[::1]:5432/my%20db", map[string]string{"user": "u", "host": "[::1]:5432", "dbname": "my db"}},
		{"postgres://u:@h/db", map[string]string{"user": "u", "password": "", "host": "h", "dbname": "db"}},
		{"host=h port=5432", map[string]string{"host": "h", "port": "5432"}},
		{"  host = h\tdbname='my db' ", map[string]string{"host": "h", "dbname": "my db"}},
		{`application_name='it\'s' options=a\ b`, map[string]string{"application_name": "it's", "options": "a b"}},
		{"host=", map[string]string{"host": ""}},
	}
	for _, tc := range tests {
		got, err := Parse(tc.dsn)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.dsn, err)
			continue
		}
		if !maps.Equal(got, tc.want) {
			t.Errorf("Parse(%q) = %v, want %v", tc.dsn, got, tc.want)
		}
	}
}

func TestParse_RejectsMalformedStrings(t *testing.T) {
	for _, dsn := range []string{
		"localhost",
		"   ",
		"=x",
		"host",
		"host h",
		"dbname='open",
		"postgres://h:port/db",
		"postgres://h:0/db",
		"postgres://[::1/db",
		"postgres://u%zz@h/db",
		"postgres://h/db?x=%zz",
	} {
		if got, err := Parse(dsn); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", dsn, got)
		}
	}
}
