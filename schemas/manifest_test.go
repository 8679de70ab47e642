package schemas

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func validManifest() Manifest {
	start := time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC)
	return Manifest{
		FormatVersion: ManifestFormatVersion, ID: NewBackupID(start, BackupDatabase), Cluster: "dev",
		Kind: BackupDatabase, Source: "pg-a2", Object: BackupDataKey("dev", NewBackupID(start, BackupDatabase)),
		StartTime: start, EndTime: start.Add(time.Minute), StartLSN: "0/6000028", StopLSN: "0/6000100", Timeline: 1,
		PostgresVersion: "15.18", PlainSize: 100, StoredSize: 40,
		PlainSHA256: strings.Repeat("a", 64), StoredSHA256: strings.Repeat("b", 64),
		Recipients:  []string{"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"},
		Compression: "zstd", CompressionLevel: 3,
	}
}

// validFilesManifest is a files backup of two regions: no LSNs, two parts,
// the first repeated at the top.
func validFilesManifest() Manifest {
	m := validManifest()
	m.Kind, m.ID, m.Source = BackupFiles, NewBackupID(m.StartTime, BackupFiles), "uploads,media"
	m.StartLSN, m.StopLSN, m.Timeline, m.PostgresVersion = "", "", 0, ""
	m.Parts = []BackupPart{
		{Key: BackupPartKey("dev", m.ID, BackupFiles, "region-a"), Region: "region-a", Source: "uploads",
			PlainSize: 100, StoredSize: 40, PlainSHA256: strings.Repeat("a", 64), StoredSHA256: strings.Repeat("b", 64)},
		{Key: BackupPartKey("dev", m.ID, BackupFiles, "region-b"), Region: "region-b", Source: "media",
			PlainSize: 7, StoredSize: 5, PlainSHA256: strings.Repeat("c", 64), StoredSHA256: strings.Repeat("d", 64)},
	}
	m.Object = m.Parts[0].Key
	return m
}

func TestParseManifest_RoundTrips(t *testing.T) {
	for _, want := range []Manifest{validManifest(), validFilesManifest()} {
		data, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseManifest(data)
		if err != nil {
			t.Fatalf("ParseManifest(%s): %v", want.Kind, err)
		}
		again, _ := json.Marshal(got)
		if string(again) != string(data) {
			t.Errorf("round trip changed the manifest:\n got %s\nwant %s", again, data)
		}
	}
}

func TestParseManifest_HoldsPartsToTheKind(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Manifest)
		want   string
	}{
		{"files without parts", func(m *Manifest) { m.Parts = nil }, "parts: a files backup lists its parts"},
		{"first part not at the top", func(m *Manifest) { m.Object = m.Parts[1].Key }, "parts[0]:"},
		{"part sums not at the top", func(m *Manifest) { m.StoredSize = 41 }, "parts[0]:"},
		{"part listed twice", func(m *Manifest) { m.Parts[1].Key = m.Parts[0].Key }, "parts[1].key:"},
		{"part without checksum", func(m *Manifest) { m.Parts[1].StoredSHA256 = "" }, "parts[1].stored_sha256:"},
		{"database with parts", func(m *Manifest) { m.Kind, m.ID = BackupDatabase, NewBackupID(m.StartTime, BackupDatabase) }, "start_lsn"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := validFilesManifest()
			tc.change(&m)
			data, _ := json.Marshal(m)
			_, err := ParseManifest(data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	db := validManifest()
	db.Parts = validFilesManifest().Parts
	data, _ := json.Marshal(db)
	if _, err := ParseManifest(data); err == nil || !strings.Contains(err.Error(), "has no parts") {
		t.Errorf("database manifest with parts: err = %v, want one saying it has no parts", err)
	}
}

func TestParseManifest_ReportsWhatIsWrong(t *testing.T) {
	tests := []struct {
		name   string
		change func(map[string]any)
		raw    string
		want   string
	}{
		{"not json", nil, `{"id": `, "(root): not JSON"},
		{"missing checksum", func(m map[string]any) { delete(m, "stored_sha256") }, "", "stored_sha256: required"},
		{"bad checksum", func(m map[string]any) { m["plain_sha256"] = "xyz" }, "", "plain_sha256:"},
		{"newer format", func(m map[string]any) { m["format_version"] = 2 }, "", "format_version:"},
		{"unknown field", func(m map[string]any) { m["extra"] = 1 }, "", "extra: unknown field"},
		{"database without LSNs", func(m map[string]any) { delete(m, "start_lsn") }, "", "start_lsn, stop_lsn and timeline"},
		{"ends before it starts", func(m map[string]any) { m["end_time"] = "2020-01-01T00:00:00Z" }, "", "end_time:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.raw)
			if tc.change != nil {
				b, _ := json.Marshal(validManifest())
				var m map[string]any
				_ = json.Unmarshal(b, &m)
				tc.change(m)
				data, _ = json.Marshal(m)
			}
			_, err := ParseManifest(data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestManifestSchema_CoversEveryField(t *testing.T) {
	var sch struct {
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(ManifestSchema(), &sch); err != nil {
		t.Fatal(err)
	}
	// Between them the two kinds set every field.
	fields := map[string]any{}
	for _, m := range []Manifest{validManifest(), validFilesManifest()} {
		b, _ := json.Marshal(m)
		_ = json.Unmarshal(b, &fields)
	}
	for k := range fields {
		if _, ok := sch.Properties[k]; !ok {
			t.Errorf("manifest field %q is not in the schema", k)
		}
	}
	for k := range sch.Properties {
		if _, ok := fields[k]; !ok {
			t.Errorf("schema property %q is not a manifest field", k)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	b, _ := json.Marshal(validManifest())
	f.Add(b)
	b, _ = json.Marshal(validFilesManifest())
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"format_version": 1, "id": []}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error message")
			}
			return
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseManifest(again); err != nil {
			t.Fatalf("accepted manifest does not survive a round trip: %v\n%s", err, again)
		}
	})
}
