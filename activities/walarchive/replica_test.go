package walarchive

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/schemas"
)

// brokenStore is a store that cannot be reached while down is set.
type brokenStore struct {
	objstore.Store
	down bool
}

var errDown = errors.New("connection refused")

func (b *brokenStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if b.down {
		return errDown
	}
	return b.Store.Put(ctx, key, r, size)
}

func (b *brokenStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if b.down {
		return nil, errDown
	}
	return b.Store.Get(ctx, key)
}

// newReplicatedArchive is an archive over two local stores, the replica
// one that can be taken down.
func newReplicatedArchive(t *testing.T) (a *Archive, primary *brokenStore, replica *brokenStore) {
	t.Helper()
	a, _ = newArchive(t)
	primary = &brokenStore{Store: a.Store}
	replica = &brokenStore{Store: objstore.NewLocal(t.TempDir())}
	a.Store, a.Replica = primary, replica
	return a, primary, replica
}

func readAll(t *testing.T, s objstore.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestArchive_PushWritesTheSameObjectToBothStores(t *testing.T) {
	a, primary, replica := newReplicatedArchive(t)
	path, _ := walFile(t, segment, 1<<20)
	if up, err := a.Push(context.Background(), path); err != nil || !up {
		t.Fatalf("push: uploaded = %v, err = %v", up, err)
	}
	key := schemas.WALKey("dev", segment)
	if got, want := readAll(t, replica, key), readAll(t, primary, key); !bytes.Equal(got, want) {
		t.Errorf("%s: replica holds %d bytes, primary %d; want the same object, sealed once", key, len(got), len(want))
	}
	if _, err := record(context.Background(), replica, "dev", segment); err != nil {
		t.Errorf("replica has no record: %v", err)
	}
}

func TestArchive_PushFailsWhenTheReplicaFailsAndTheRetryCompletesIt(t *testing.T) {
	a, primary, replica := newReplicatedArchive(t)
	path, content := walFile(t, segment, 1<<20)
	replica.down = true
	if _, err := a.Push(context.Background(), path); !errors.Is(err, errDown) {
		t.Fatalf("push with the replica down: err = %v, want it to fail with the replica's error", err)
	}
	if _, err := primary.Stat(context.Background(), schemas.WALRecordKey("dev", segment)); err != nil {
		t.Fatalf("the primary was not written first: %v", err)
	}

	// PostgreSQL retries the archive_command: the retry fills the replica.
	replica.down = false
	if up, err := a.Push(context.Background(), path); err != nil || !up {
		t.Fatalf("retried push: uploaded = %v, err = %v; want the replica written", up, err)
	}
	primary.down = true
	dest := filepath.Join(t.TempDir(), "RECOVERYXLOG")
	if err := a.Fetch(context.Background(), segment, dest); err != nil {
		t.Fatalf("fetch from the replica: %v", err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, content) {
		t.Fatal("the replica's copy differs from the pushed file")
	}
}

func TestArchive_PushFailsWhenThePrimaryFailsWithoutTouchingTheReplica(t *testing.T) {
	a, primary, replica := newReplicatedArchive(t)
	path, _ := walFile(t, segment, 1<<20)
	primary.down = true
	if _, err := a.Push(context.Background(), path); !errors.Is(err, errDown) {
		t.Fatalf("err = %v, want the primary's error", err)
	}
	if _, err := replica.Stat(context.Background(), schemas.WALKey("dev", segment)); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("replica written before the primary: stat err = %v", err)
	}
}

func TestArchive_PushConflictingWithTheReplicaFailsLoudly(t *testing.T) {
	a, _, replica := newReplicatedArchive(t)
	other, _ := walFile(t, segment, 1<<20)
	solo := &Archive{Cluster: "dev", Store: replica, Recipients: a.Recipients}
	if _, err := solo.Push(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	path, _ := walFile(t, segment, 1<<20)
	var conflict *ConflictError
	if _, err := a.Push(context.Background(), path); !errors.As(err, &conflict) || conflict.Store != replica.String() {
		t.Fatalf("err = %v, want a ConflictError naming the replica store", err)
	}
}

func TestArchive_FetchFallsBackToTheReplica(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, primary *brokenStore)
	}{
		{"primary unreachable", func(t *testing.T, p *brokenStore) { p.down = true }},
		{"primary lost the file", func(t *testing.T, p *brokenStore) {
			for _, k := range []string{schemas.WALKey("dev", segment), schemas.WALRecordKey("dev", segment)} {
				if err := p.Delete(context.Background(), k); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"primary copy damaged", func(t *testing.T, p *brokenStore) {
			key := schemas.WALKey("dev", segment)
			b := readAll(t, p, key)
			b[len(b)/2] ^= 0xff
			if err := p.Put(context.Background(), key, bytes.NewReader(b), int64(len(b))); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, primary, _ := newReplicatedArchive(t)
			path, content := walFile(t, segment, 1<<20)
			if _, err := a.Push(context.Background(), path); err != nil {
				t.Fatal(err)
			}
			tc.break_(t, primary)
			dest := filepath.Join(t.TempDir(), "RECOVERYXLOG")
			if err := a.Fetch(context.Background(), segment, dest); err != nil {
				t.Fatalf("fetch: %v", err)
			}
			if got, _ := os.ReadFile(dest); !bytes.Equal(got, content) {
				t.Fatal("fetched bytes differ from the pushed file")
			}
		})
	}
}

func TestArchive_FetchOfAFileNeitherStoreHoldsIsNotArchived(t *testing.T) {
	a, primary, _ := newReplicatedArchive(t)
	dest := filepath.Join(t.TempDir(), "RECOVERYXLOG")
	if err := a.Fetch(context.Background(), segment, dest); !errors.Is(err, ErrNotArchived) {
		t.Errorf("both stores lack it: err = %v, want ErrNotArchived", err)
	}
	// The replica is complete (every push reaches it), so its answer
	// stands when the primary cannot be asked.
	primary.down = true
	if err := a.Fetch(context.Background(), segment, dest); !errors.Is(err, ErrNotArchived) {
		t.Errorf("primary down, replica lacks it: err = %v, want ErrNotArchived", err)
	}
}

func TestArchive_FetchFailsWhenNeitherStoreAnswers(t *testing.T) {
	a, primary, replica := newReplicatedArchive(t)
	primary.down, replica.down = true, true
	err := a.Fetch(context.Background(), segment, filepath.Join(t.TempDir(), "RECOVERYXLOG"))
	if err == nil || errors.Is(err, ErrNotArchived) {
		t.Errorf("err = %v, want a failure that is not \"not archived\" (PostgreSQL would end recovery early)", err)
	}
}
