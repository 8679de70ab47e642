package devstack

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
)

// Secret files under .dev/secrets, each generated at the first start.
const (
	secretPGPassword   = "pg-password"
	secretReplPassword = "pg-replicator-password"
	secretS3AccessKey  = "s3-access-key"
	secretS3SecretKey  = "s3-secret-key"
	secretAgeIdentity  = "age-identity.txt"
)

// secretMonitorPassword is the file of the monitor role's password. The
// primary is given it at every up, so it takes no part in ownerStamp.
const secretMonitorPassword = "pg-monitor-password"

const (
	alnum      = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)

// randomString returns n characters drawn uniformly from alphabet. The
// alphabets are alphanumeric so values need no quoting in URLs, libpq
// strings, configuration files or shells.
func randomString(n int, alphabet string) string {
	out := make([]byte, n)
	buf := make([]byte, 1)
	limit := 256 - 256%len(alphabet) // rejection sampling: no modulo bias
	for i := 0; i < n; {
		if _, err := rand.Read(buf); err != nil {
			panic(err) // crypto/rand does not fail on Linux
		}
		if int(buf[0]) >= limit {
			continue
		}
		out[i] = alphabet[int(buf[0])%len(alphabet)]
		i++
	}
	return string(out)
}

func (s *Stack) secretPath(name string) string {
	return filepath.Join(s.devDir, "secrets", name)
}

// readSecret returns the value of a secret file, trailing newline trimmed, or
// "" when it does not exist.
func (s *Stack) readSecret(name string) string {
	b, err := os.ReadFile(s.secretPath(name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// ensureSecrets creates every missing secret file (mode 0600).
func (s *Stack) ensureSecrets() error {
	dir := filepath.Join(s.devDir, "secrets")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	gen := map[string]func() (string, error){
		secretPGPassword:   func() (string, error) { return randomString(32, alnum), nil },
		secretReplPassword: func() (string, error) { return randomString(32, alnum), nil },
		secretS3AccessKey:  func() (string, error) { return "LB" + randomString(18, upperAlnum), nil },
		secretS3SecretKey:  func() (string, error) { return randomString(40, alnum), nil },
		secretAgeIdentity:  newAgeIdentityFile,
	}
	gen[secretMonitorPassword] = gen[secretReplPassword] // a password of the same kind
	for name, g := range gen {
		path := s.secretPath(name)
		if _, err := os.Stat(path); err == nil {
			continue
		} else if !os.IsNotExist(err) {
			return err
		}
		v, err := g()
		if err != nil {
			return fmt.Errorf("generate %s: %w", name, err)
		}
		if err := writeFileAtomic(path, []byte(v+"\n"), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		if name == secretPGPassword {
			s.newPGSecret = true
		}
	}
	return nil
}

// newAgeIdentityFile returns a new age X25519 identity in age-keygen's format.
func newAgeIdentityFile() (string, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("# created: %s\n# public key: %s\n%s",
		time.Now().UTC().Format(time.RFC3339), id.Recipient(), id), nil
}

// ageRecipient returns the public key of the stack's age identity.
func (s *Stack) ageRecipient() (string, error) {
	f, err := os.Open(s.secretPath(secretAgeIdentity))
	if err != nil {
		return "", err
	}
	defer f.Close()
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", f.Name(), err)
	}
	for _, id := range ids {
		if x, ok := id.(*age.X25519Identity); ok {
			return x.Recipient().String(), nil
		}
	}
	return "", fmt.Errorf("%s holds no X25519 identity", f.Name())
}
