package ha

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/schemas"
)

// The tools a rejoin runs against the primary (pg_rewind, pg_basebackup)
// check its certificate as the primary's DSN asks.
func TestRejoinSources_KeepTheDSNsTLSSettings(t *testing.T) {
	ca := writeTestCA(t) // the worker's DSN parser reads it
	primary := schemas.PostgresNode{
		Name:     "pg-1",
		DSN:      "postgres://lifeboat@db1.example:5433/postgres?sslmode=verify-full&sslrootcert=" + ca,
		Password: &schemas.Secret{Env: "PG_PW"},
	}
	topo := &schemas.Topology{Failover: schemas.Failover{Replication: &schemas.ReplicationAuth{User: "replicator", Password: &schemas.Secret{Env: "REPL_PW"}}}}
	env := map[string]string{"PG_PW": "p1", "REPL_PW": "p2"}
	n := &Nodes{Topology: topo, Clients: &activities.Clients{Topology: topo, Secrets: activities.Secrets{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}}}

	rewind, pw, err := n.rewindSource(primary)
	if err != nil || pw != "p1" {
		t.Fatalf("rewindSource: %q, %q, %v", rewind, pw, err)
	}
	rebuild, pw, err := n.replicationSource(primary)
	if err != nil || pw != "p2" {
		t.Fatalf("replicationSource: %q, %q, %v", rebuild, pw, err)
	}
	for _, conninfo := range []string{rewind, rebuild} {
		for _, want := range []string{"sslmode=verify-full", "sslrootcert=" + ca, "host=db1.example", "port=5433"} {
			if !strings.Contains(conninfo, want) {
				t.Errorf("%q lacks %s", conninfo, want)
			}
		}
		if strings.Contains(conninfo, "p1") || strings.Contains(conninfo, "p2") {
			t.Errorf("%q holds a password: it goes in PGPASSWORD", conninfo)
		}
	}
}

// writeTestCA writes a self-signed CA certificate and returns its path.
func writeTestCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
