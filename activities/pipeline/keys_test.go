package pipeline

import (
	"strings"
	"testing"
)

func TestParseRecipients(t *testing.T) {
	_, r1 := keyPair(t)
	_, r2 := keyPair(t)
	tests := []struct {
		name    string
		keys    []string
		want    int
		wantErr string
	}{
		{"two keys", []string{r1.String(), " " + r2.String() + "\n"}, 2, ""},
		{"none", nil, 0, "at least one recipient"},
		{"not a key", []string{r1.String(), "age1nope"}, 0, "recipient 2"},
		{"a secret key by mistake", []string{"AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"}, 0, "not an age X25519 public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRecipients(tt.keys)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "AGE-SECRET-KEY") {
					t.Fatalf("error %q echoes a secret key", err)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("got %d recipients, err %v; want %d", len(got), err, tt.want)
			}
		})
	}
}

func TestParseIdentities(t *testing.T) {
	id1, _ := keyPair(t)
	id2, _ := keyPair(t)
	tests := []struct {
		name    string
		text    string
		want    int
		wantErr bool
	}{
		{"age-keygen output", "# created: 2025-01-01T00:00:00Z\n# public key: age1…\n" + id1.String() + "\n", 1, false},
		{"two, blank lines, CRLF, indented", "\r\n" + id1.String() + "\r\n\r\n   " + id2.String() + "  \r\n", 2, false},
		{"empty", "# nothing here\n\n", 0, true},
		{"a public key by mistake", id1.Recipient().String() + "\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIdentities(tt.text)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				if strings.Contains(err.Error(), "AGE-SECRET-KEY-1") && strings.Contains(err.Error(), id1.String()[20:]) {
					t.Fatalf("error %q echoes key material", err)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("got %d identities, err %v; want %d", len(got), err, tt.want)
			}
		})
	}
}

func TestParseIdentities_ErrorNeverEchoesASecret(t *testing.T) {
	id, _ := keyPair(t)
	broken := id.String()[:40] + "x" + id.String()[41:] // bad checksum
	_, err := ParseIdentities(broken + "\n")
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), broken[16:40]) {
		t.Fatalf("error %q echoes key material", err)
	}
}
