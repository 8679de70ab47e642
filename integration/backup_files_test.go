package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/runnerhub/lifeboat/activities/pipeline"
	"github.com/runnerhub/lifeboat/schemas"
)

// runBackup runs the Backup workflow of kind on the stack and checks that
// the manifest it stored parses and lists the parts of the result.
func runBackup(t *testing.T, kind string) (schemas.BackupResult, *schemas.Topology) {
	t.Helper()
	c := temporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: fmt.Sprintf("test-backup-%s/%d", kind, time.Now().UnixNano()), TaskQueue: schemas.GlobalTaskQueue,
	}, schemas.BackupWorkflow, schemas.BackupInput{Cluster: "dev", Kind: kind})
	if err != nil {
		t.Fatal(err)
	}
	var res schemas.BackupResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("Backup %s: %v", kind, err)
	}
	topo, err := schemas.LoadTopology(stack.TopologyPath())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := storeOf(t, topo).Get(ctx, schemas.ManifestKey("dev", res.Manifest.ID))
	if err != nil {
		t.Fatalf("manifest not stored: %v", err)
	}
	body, _ := io.ReadAll(raw)
	raw.Close()
	stored, err := schemas.ParseManifest(body)
	if err != nil {
		t.Fatalf("stored manifest does not parse: %v\n%s", err, body)
	}
	if stored.Kind != kind || len(stored.Parts) != len(res.Manifest.Parts) || stored.StartLSN != "" {
		t.Fatalf("stored manifest %+v does not match the result %+v", stored, res.Manifest)
	}
	t.Logf("backup %s: %d parts, %d plain bytes in the first, %.1fs", stored.ID, len(stored.Parts), stored.PlainSize, res.Seconds)
	return res, topo
}

// readPart downloads one part, decrypts it with the stack's identity and
// returns its tar entries by name; reading to the end checks both sums.
func readPart(t *testing.T, topo *schemas.Topology, p schemas.BackupPart) map[string]*tar.Header {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plain := openSealed(ctx, t, topo, p.Key, pipeline.Sums{
		PlainSize: p.PlainSize, PlainSHA256: p.PlainSHA256, StoredSize: p.StoredSize, StoredSHA256: p.StoredSHA256,
	})
	out := map[string]*tar.Header{}
	tr := tar.NewReader(plain)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s is not a tar stream: %v", p.Key, err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		// The body travels in PAXRecords under a key no header uses.
		h.PAXRecords = map[string]string{"lifeboat.test.body": string(body)}
		out[h.Name] = h
	}
	if _, err := io.Copy(io.Discard, plain); err != nil {
		t.Fatalf("checksums of %s: %v", p.Key, err)
	}
	return out
}

func bodyOf(h *tar.Header) string { return h.PAXRecords["lifeboat.test.body"] }

// TestBackupFiles_StoresTheTreeAsItIs puts files in the stack's uploads
// tree, backs the files up through the workflow and compares what the
// stored tar holds with the disk.
func TestBackupFiles_StoresTheTreeAsItIs(t *testing.T) {
	topo, err := schemas.LoadTopology(stack.TopologyPath())
	if err != nil {
		t.Fatal(err)
	}
	var uploads string
	for _, tr := range topo.Files {
		if tr.Name == "uploads" {
			uploads = tr.Path
		}
	}
	if uploads == "" {
		t.Fatal("the stack's topology has no uploads tree")
	}
	sub := fmt.Sprintf("it-%d", time.Now().UnixNano())
	dir := filepath.Join(uploads, sub)
	t.Cleanup(func() { os.RemoveAll(dir) })
	files := map[string]struct {
		body string
		mode os.FileMode
	}{
		"a.txt":           {"hello from the integration test\n", 0o644},
		"deep/er/b.bin":   {string(bytes.Repeat([]byte{0, 1, 2, 3}, 100000)), 0o600},
		"deep/script.sh":  {"#!/bin/sh\necho hi\n", 0o755},
		"empty-file.json": {"", 0o640},
	}
	for name, f := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.body), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil { // the umask may have taken bits off
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}

	res, topo := runBackup(t, schemas.BackupFiles)
	m := res.Manifest
	if len(m.Parts) != 1 || m.Parts[0].Region != "region-a" || m.Parts[0].Key != schemas.BackupPartKey("dev", m.ID, schemas.BackupFiles, "region-a") {
		t.Fatalf("parts %+v, want one from region-a", m.Parts)
	}
	entries := readPart(t, topo, m.Parts[0])
	for name, f := range files {
		h, ok := entries["uploads/"+sub+"/"+name]
		if !ok {
			t.Errorf("%s is not in the backup", name)
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if bodyOf(h) != f.body || os.FileMode(h.Mode).Perm() != f.mode || !h.ModTime.Equal(fi.ModTime()) {
			t.Errorf("%s: %d bytes mode %o mtime %s; want %d bytes mode %o mtime %s",
				name, len(bodyOf(h)), h.Mode, h.ModTime, len(f.body), f.mode, fi.ModTime())
		}
	}
	if h, ok := entries["uploads/"+sub+"/link"]; !ok || h.Typeflag != tar.TypeSymlink || h.Linkname != "a.txt" {
		t.Errorf("link: %+v, want a symlink to a.txt", h)
	}
	if h, ok := entries["uploads/"+sub+"/deep/er/"]; !ok || h.Typeflag != tar.TypeDir {
		t.Errorf("deep/er/: %+v, want a directory", h)
	}
}

// TestBackupConfig_StoresEveryRegionsSettingsWithoutPasswords backs the
// configuration up through the workflow and reads it back: every region's
// part holds the topology and its nodes' settings, and no secret of the
// stack appears anywhere in it.
func TestBackupConfig_StoresEveryRegionsSettingsWithoutPasswords(t *testing.T) {
	res, topo := runBackup(t, schemas.BackupConfig)
	m := res.Manifest
	if len(m.Parts) != 2 || m.Parts[0].Region != "region-a" || m.Parts[1].Region != "region-b" {
		t.Fatalf("parts %+v, want region-a then region-b", m.Parts)
	}
	all := map[string]string{}
	for _, p := range m.Parts {
		entries := readPart(t, topo, p)
		if _, ok := entries["topology.json"]; !ok {
			t.Errorf("part of %s lacks topology.json", p.Region)
		}
		for name, h := range entries {
			all[name] = bodyOf(h)
		}
	}
	contains := []struct{ file, text string }{
		{"postgres/pg-a1/settings.json", `"synchronous_standby_names"`},
		{"postgres/pg-a1/pg_hba.json", `"auth_method"`},
		{"postgres/pg-a2/settings.json", `password=********`}, // primary_conninfo, masked
		{"postgres/pg-b1/settings.json", `"primary_conninfo"`},
		{"redis/redis-a1/config.json", `"maxmemory"`},
		{"redis/redis-b1/config.json", `"maxmemory"`},
		{"sentinel/sentinel-a1/master.json", `"num-slaves"`},
		{"sentinel/sentinel-b2/master.json", `"quorum"`},
	}
	for _, c := range contains {
		if body, ok := all[c.file]; !ok {
			t.Errorf("%s is not in the backup", c.file)
		} else if !strings.Contains(body, c.text) {
			t.Errorf("%s does not contain %s:\n%.2000s", c.file, c.text, body)
		}
	}

	secretsDir := filepath.Join(filepath.Dir(stack.TopologyPath()), "secrets")
	secrets, err := os.ReadDir(secretsDir)
	if err != nil || len(secrets) == 0 {
		t.Fatalf("read the stack's secrets in %s: %v", secretsDir, err)
	}
	for _, s := range secrets {
		b, err := os.ReadFile(filepath.Join(secretsDir, s.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			// The identity file also holds comments and the public key.
			value := strings.TrimSpace(line)
			if len(value) < 8 || strings.HasPrefix(value, "#") {
				continue
			}
			for name, body := range all {
				if strings.Contains(body, value) {
					t.Errorf("%s holds the value of secret %s", name, s.Name())
				}
			}
		}
	}
}
