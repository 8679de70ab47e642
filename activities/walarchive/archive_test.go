package walarchive

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/activities/pipeline"
	"github.com/runnerhub/lifeboat/schemas"
)

const segment = "000000010000000000000003"

func newArchive(t *testing.T) (*Archive, *objstore.Local) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	store := objstore.NewLocal(t.TempDir())
	return &Archive{
		Cluster: "dev", Store: store,
		Recipients: []age.Recipient{id.Recipient()}, Identities: []age.Identity{id},
	}, store
}

// walFile writes a WAL-sized file of random data under a pg_wal directory.
func walFile(t *testing.T, name string, size int) (path string, content []byte) {
	t.Helper()
	content = make([]byte, size)
	_, _ = rand.Read(content[:size/4]) // partly random, partly zeros, like real WAL
	path = filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, content
}

func TestArchive_PushThenFetchGivesTheSameBytes(t *testing.T) {
	a, _ := newArchive(t)
	ctx := context.Background()
	path, content := walFile(t, segment, 16<<20)
	if up, err := a.Push(ctx, path); err != nil || !up {
		t.Fatalf("push: uploaded = %v, err = %v", up, err)
	}
	dest := filepath.Join(t.TempDir(), "RECOVERYXLOG")
	if err := a.Fetch(ctx, segment, dest); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	got, err := os.ReadFile(dest)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("fetched %d bytes (err %v), want the %d pushed", len(got), err, len(content))
	}
}

func TestArchive_PushingTheSameFileTwiceSucceeds(t *testing.T) {
	a, _ := newArchive(t)
	path, _ := walFile(t, segment, 1<<20)
	if _, err := a.Push(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	up, err := a.Push(context.Background(), path)
	if err != nil || up {
		t.Fatalf("second push: uploaded = %v, err = %v; want success without upload", up, err)
	}
}

func TestArchive_PushingOtherContentUnderTheSameNameFailsLoudly(t *testing.T) {
	a, _ := newArchive(t)
	first, _ := walFile(t, segment, 1<<20)
	if _, err := a.Push(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	second, _ := walFile(t, segment, 1<<20)
	_, err := a.Push(context.Background(), second)
	var conflict *ConflictError
	if !errors.As(err, &conflict) || !strings.Contains(err.Error(), "two servers are archiving") {
		t.Fatalf("err = %v, want a ConflictError", err)
	}
}

func TestArchive_FetchOfAMissingFileIsNotArchived(t *testing.T) {
	a, _ := newArchive(t)
	dest := filepath.Join(t.TempDir(), "RECOVERYXLOG")
	if err := a.Fetch(context.Background(), segment, dest); !errors.Is(err, ErrNotArchived) {
		t.Fatalf("err = %v, want ErrNotArchived", err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("dest exists after a failed fetch")
	}
}

func TestArchive_CorruptSegmentNeverReachesTheDestination(t *testing.T) {
	a, store := newArchive(t)
	ctx := context.Background()
	path, _ := walFile(t, segment, 4<<20)
	if _, err := a.Push(ctx, path); err != nil {
		t.Fatal(err)
	}
	key := schemas.WALKey("dev", segment)
	r, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(r)
	r.Close()
	data := buf.Bytes()
	data[len(data)/2] ^= 0x40
	if err := store.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "RECOVERYXLOG")
	err = a.Fetch(ctx, segment, dest)
	var corrupt *pipeline.CorruptError
	if !errors.As(err, &corrupt) {
		t.Fatalf("err = %v, want a CorruptError", err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("dest exists after a corrupt fetch")
	}
}

func TestArchive_RefusesNamesThatAreNotWAL(t *testing.T) {
	a, _ := newArchive(t)
	path, _ := walFile(t, "postgresql.conf", 10)
	if _, err := a.Push(context.Background(), path); err == nil {
		t.Fatal("pushed a file that is not WAL")
	}
	if err := a.Fetch(context.Background(), "../../etc/passwd", filepath.Join(t.TempDir(), "x")); err == nil {
		t.Fatal("fetched a name that is not WAL")
	}
}
