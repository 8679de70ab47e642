package pipeline

import (
	"fmt"
	"strings"

	"filippo.io/age"
)

// ParseRecipients parses age X25519 public keys (age1…), one per string.
func ParseRecipients(keys []string) ([]age.Recipient, error) {
	if len(keys) == 0 {
		return nil, ErrNoRecipients
	}
	out := make([]age.Recipient, 0, len(keys))
	for i, k := range keys {
		k = strings.TrimSpace(k)
		r, err := age.ParseX25519Recipient(k)
		if err != nil {
			// Name the key only if it looks public: a secret key pasted in
			// the wrong place must not end up in logs.
			what := "it does not start with age1"
			if strings.HasPrefix(k, "age1") {
				what = fmt.Sprintf("%q: %v", k, err)
			}
			return nil, fmt.Errorf("recipient %d is not an age X25519 public key (%s); give public keys as printed by age-keygen -y (age1…)", i+1, what)
		}
		out = append(out, r)
	}
	return out, nil
}

// ParseIdentities parses the text of an age identity file: AGE-SECRET-KEY-1… lines, comments (#) and blank lines.
func ParseIdentities(text string) ([]age.Identity, error) {
	// Indented lines and CRLF endings are common in files pasted into
	// configuration; age's parser wants neither.
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	// age's own parser never echoes key material in its errors.
	ids, err := age.ParseIdentities(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		return nil, fmt.Errorf("age identity file: %w; it must hold AGE-SECRET-KEY-1… lines as written by age-keygen", err)
	}
	return ids, nil
}
