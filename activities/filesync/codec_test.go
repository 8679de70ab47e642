package filesync

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/schemas"
)

func codecManifest() schemas.FileManifest {
	sum := strings.Repeat("0123456789abcdef", 4)
	return schemas.FileManifest{
		FormatVersion: schemas.FileManifestFormatVersion, Cluster: "dev", Tree: "uploads",
		Taken:    time.Date(2026, 11, 29, 7, 0, 0, 123, time.UTC),
		Scrubbed: time.Date(2026, 11, 28, 7, 0, 0, 0, time.UTC),
		Entries: []schemas.FileEntry{
			{Path: "a", Type: schemas.EntryDir, Mode: 0o755, MTime: 1764400000123456789, Ino: 7, CTime: 1764400000123456790},
			{Path: "a/b.txt", Type: schemas.EntryFile, Mode: 0o4644, MTime: -5, Size: 1 << 40, SHA256: sum, Ino: 1 << 60, CTime: 3},
			{Path: "a/bé-ünïcode.txt", Type: schemas.EntryFile, Mode: 0o600, SHA256: sum},
			{Path: "a/busy", Type: schemas.EntryFile, Mode: 0o644, Size: 9}, // not hashed: it kept changing
			{Path: "latest", Type: schemas.EntryLink, Mode: 0o777, Link: "a/b.txt"},
		},
		Objects: []schemas.StoredObject{{SHA256: sum, Size: 42}},
	}
}

func TestFileManifestCodec_RoundTrips(t *testing.T) {
	for _, m := range []schemas.FileManifest{codecManifest(), {FormatVersion: 1, Cluster: "dev", Tree: "empty", Entries: []schemas.FileEntry{}}} {
		b, err := EncodeFileManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeFileManifest(b)
		if err != nil {
			t.Fatal(err)
		}
		got.Taken, m.Taken = got.Taken.UTC(), m.Taken.UTC()
		got.Scrubbed, m.Scrubbed = got.Scrubbed.UTC(), m.Scrubbed.UTC()
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip:\ngot  %+v\nwant %+v", got, m)
		}
	}
}

func TestFileManifestCodec_RefusesWhatItDidNotWrite(t *testing.T) {
	good, err := EncodeFileManifest(codecManifest())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "bad magic"},
		{"JSON", []byte(`{"entries":[]}`), "bad magic"},
		{"a newer encoding", append([]byte("LBFM\x02"), good[5:]...), "encoding 2"},
		{"cut short", good[:len(good)-10], "file manifest at byte"},
		{"trailing bytes", append(append([]byte(nil), good...), 0), "1 bytes after the end"},
	}
	for _, tc := range tests {
		if _, err := DecodeFileManifest(tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	bad := codecManifest()
	bad.Entries[1].SHA256 = "not hex"
	if _, err := EncodeFileManifest(bad); err == nil || !strings.Contains(err.Error(), "a/b.txt") {
		t.Errorf("encode a bad hash: %v", err)
	}
}

func FuzzDecodeFileManifest(f *testing.F) {
	good, err := EncodeFileManifest(codecManifest())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("LBFM\x01\x02{}\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeFileManifest(b)
		if err != nil {
			return
		}
		again, err := EncodeFileManifest(m)
		if err != nil {
			t.Fatalf("a decoded manifest does not encode: %v", err)
		}
		if m2, err := DecodeFileManifest(again); err != nil || !reflect.DeepEqual(m2.Entries, m.Entries) {
			t.Fatalf("re-encoded manifest reads back differently: %v", err)
		}
	})
}
