package activities

import (
	"fmt"
	"os"
	"strings"

	"filippo.io/age"

	"github.com/runnerhub/lifeboat/activities/pipeline"
	"github.com/runnerhub/lifeboat/schemas"
)

// Secrets reads the values that a topology only names. It reads the worker's
// environment and files, so secrets never travel through workflow history.
type Secrets struct {
	// LookupEnv defaults to os.LookupEnv; tests replace it.
	LookupEnv func(string) (string, bool)
}

// Value returns the secret s names, or "" when s is nil.
func (r Secrets) Value(s *schemas.Secret) (string, error) {
	if s == nil || s.IsZero() {
		return "", nil
	}
	if s.Env != "" {
		lookup := r.LookupEnv
		if lookup == nil {
			lookup = os.LookupEnv
		}
		v, ok := lookup(s.Env)
		if !ok {
			return "", fmt.Errorf("secret: environment variable %s is not set on this worker", s.Env)
		}
		return v, nil
	}
	b, err := os.ReadFile(s.File)
	if err != nil {
		return "", fmt.Errorf("secret: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// StoreEnv is the backup stores' credentials as NAME=value lines, for a
// server whose archive_command or restore_command reaches them.
func StoreEnv(t *schemas.Topology, secrets Secrets) ([]string, error) {
	list := []*schemas.Secret{t.Backup.Store.AccessKey, t.Backup.Store.SecretKey}
	if rs := t.Backup.Replica; rs != nil {
		list = append(list, rs.AccessKey, rs.SecretKey)
	}
	var env []string
	seen := map[string]bool{}
	for _, s := range list {
		if s == nil || s.Env == "" || seen[s.Env] {
			continue
		}
		seen[s.Env] = true
		v, err := secrets.Value(s)
		if err != nil {
			return nil, err
		}
		env = append(env, s.Env+"="+v)
	}
	return env, nil
}

// IdentitiesOf reads the age identity a topology names, with the worker's
// secrets; a missing or bad one is the topology's fault, not retryable.
func IdentitiesOf(c *Clients, topo *schemas.Topology) ([]age.Identity, error) {
	text, err := c.Secrets.Value(topo.Backup.Identity)
	if err != nil {
		return nil, InvalidInput("backup.identity", err.Error())
	}
	ids, err := pipeline.ParseIdentities(text)
	if err != nil {
		return nil, InvalidInput("backup.identity", err.Error())
	}
	return ids, nil
}
