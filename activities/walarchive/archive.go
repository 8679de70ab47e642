// Package walarchive archives PostgreSQL's WAL files into the object store,
// compressed and encrypted, and fetches them back for recovery: the work of
// `lifeboat wal-push` (archive_command) and `wal-fetch` (restore_command).
package walarchive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"

	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/activities/pipeline"
	"github.com/runnerhub/lifeboat/schemas"
)

// ErrNotArchived means the archive holds no file of that name: for
// restore_command this is the normal end of the archive, not a failure.
var ErrNotArchived = errors.New("not in the WAL archive")

// ConflictError is a push of a WAL file whose name is archived already with
// other content. PostgreSQL must not be told it succeeded: the archive and
// the server disagree about history (two primaries archiving to one store,
// or a restored cluster archiving into its source's archive).
type ConflictError struct {
	Name           string
	Archived, Here string // plain SHA-256 of each
	Store          string // the store that holds the other content
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("WAL file %s is archived already in %s with different content (archived sha256 %s, this one %s): "+
		"two servers are archiving to the same place; stop and find out which is the primary before archiving resumes",
		e.Name, e.Store, e.Archived, e.Here)
}

// Archive is the WAL archive of one cluster.
type Archive struct {
	Cluster string
	Store   objstore.Store
	// Replica, when set, is a second store every file is archived to as
	// well: a push succeeds only when both hold the file, and a fetch
	// reads the replica when the primary store fails.
	Replica objstore.Store
	// Recipients encrypt pushed files; Identities decrypt fetched ones.
	Recipients []age.Recipient
	Identities []age.Identity
	// Level is the zstd level; 0 is the pipeline's default.
	Level int
}

// stores returns the stores of the archive, primary first.
func (a *Archive) stores() []objstore.Store {
	if a.Replica == nil {
		return []objstore.Store{a.Store}
	}
	return []objstore.Store{a.Store, a.Replica}
}

// Push archives the WAL file at path into the store, then into the
// replica. Pushing a file that a store holds already with the same content
// does not upload it there again; uploaded reports whether any store was
// written. PostgreSQL retries a failed push, so a file archived to the
// primary only is completed by the retry.
func (a *Archive) Push(ctx context.Context, path string) (uploaded bool, err error) {
	name := filepath.Base(path)
	if err := schemas.CheckWALName(name); err != nil {
		return false, err
	}
	plainSum, err := fileSHA256(path)
	if err != nil {
		return false, err
	}
	p := push{a: a, path: path, name: name, plainSum: plainSum}
	for _, store := range a.stores() {
		up, err := p.to(ctx, store)
		if err != nil {
			return uploaded, err
		}
		uploaded = uploaded || up
	}
	return uploaded, nil
}

// push is one file on its way into the archive's stores; it is sealed
// once, on the first store that lacks it, and the same bytes go to both.
type push struct {
	a          *Archive
	path, name string
	plainSum   string
	sealed     *bytes.Buffer
	sums       pipeline.Sums
}

func (p *push) to(ctx context.Context, store objstore.Store) (uploaded bool, err error) {
	rec, err := record(ctx, store, p.a.Cluster, p.name)
	switch {
	case err == nil && rec.PlainSHA256 == p.plainSum:
		return false, nil
	case err == nil:
		return false, &ConflictError{Name: p.name, Archived: rec.PlainSHA256, Here: p.plainSum, Store: store.String()}
	case !errors.Is(err, objstore.ErrNotFound):
		return false, fmt.Errorf("check %s in %s: %w", p.name, store, err)
	}
	if err := p.seal(); err != nil {
		return false, err
	}
	key := schemas.WALKey(p.a.Cluster, p.name)
	if err := store.Put(ctx, key, bytes.NewReader(p.sealed.Bytes()), int64(p.sealed.Len())); err != nil {
		return false, fmt.Errorf("upload %s to %s: %w", key, store, err)
	}
	body, err := json.Marshal(schemas.WALRecord{
		Name: p.name, PlainSize: p.sums.PlainSize, PlainSHA256: p.sums.PlainSHA256,
		StoredSize: p.sums.StoredSize, StoredSHA256: p.sums.StoredSHA256,
		Recipients: p.sums.Recipients, PushedAt: time.Now().UTC(),
	})
	if err != nil {
		return false, err
	}
	recKey := schemas.WALRecordKey(p.a.Cluster, p.name)
	if err := store.Put(ctx, recKey, bytes.NewReader(body), int64(len(body))); err != nil {
		return false, fmt.Errorf("upload %s to %s: %w", recKey, store, err)
	}
	return true, nil
}

// seal compresses and encrypts the file, the first time it is called.
func (p *push) seal() error {
	if p.sealed != nil {
		return nil
	}
	f, err := os.Open(p.path)
	if err != nil {
		return fmt.Errorf("open %s: %w", p.path, err)
	}
	defer f.Close()
	var sealed bytes.Buffer // a segment is 16 MiB at most before compression
	sums, err := pipeline.SealFrom(&sealed, f, pipeline.Options{Recipients: p.a.Recipients, Level: p.a.Level, Concurrency: 1})
	if err != nil {
		return fmt.Errorf("seal %s: %w", p.name, err)
	}
	if sums.PlainSHA256 != p.plainSum {
		return fmt.Errorf("%s changed while it was archived (sha256 %s, then %s)", p.path, p.plainSum, sums.PlainSHA256)
	}
	p.sealed, p.sums = &sealed, sums
	return nil
}

// Fetch restores the archived WAL file name into dest, verified against its
// record before dest appears: a damaged file never reaches PostgreSQL. The
// primary store is read first; when it fails for any reason (unreachable,
// missing file, damaged copy) the replica is read. The file is "not
// archived" only when no store holds it: pushes reach both stores or fail,
// so a replica that lacks a file means it was never archived, even when the
// primary cannot be asked.
func (a *Archive) Fetch(ctx context.Context, name, dest string) error {
	if err := schemas.CheckWALName(name); err != nil {
		return err
	}
	var errs []error
	for _, store := range a.stores() {
		err := a.fetchFrom(ctx, store, name, dest)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", store, err))
	}
	if errors.Is(errs[len(errs)-1], ErrNotArchived) {
		// The last store is the replica when there is one (see above).
		return fmt.Errorf("%s: %w (%v)", name, ErrNotArchived, errors.Join(errs...))
	}
	return errors.Join(errs...)
}

func (a *Archive) fetchFrom(ctx context.Context, store objstore.Store, name, dest string) error {
	rec, err := record(ctx, store, a.Cluster, name)
	if errors.Is(err, objstore.ErrNotFound) {
		return ErrNotArchived
	}
	if err != nil {
		return err
	}
	key := schemas.WALKey(a.Cluster, name)
	obj, err := store.Get(ctx, key)
	if errors.Is(err, objstore.ErrNotFound) {
		return fmt.Errorf("%s has a record but no data (%s): the archive is damaged", name, key)
	}
	if err != nil {
		return fmt.Errorf("download %s: %w", key, err)
	}
	defer obj.Close()
	plain, err := pipeline.Open(obj, a.Identities, pipeline.Sums{
		PlainSize: rec.PlainSize, PlainSHA256: rec.PlainSHA256,
		StoredSize: rec.StoredSize, StoredSHA256: rec.StoredSHA256, Recipients: rec.Recipients,
	})
	if err != nil {
		return fmt.Errorf("open %s: %w", key, err)
	}
	defer plain.Close()
	return writeAtomically(dest, plain)
}

// record reads the record of an archived file in one store.
func record(ctx context.Context, store objstore.Store, cluster, name string) (schemas.WALRecord, error) {
	key := schemas.WALRecordKey(cluster, name)
	r, err := store.Get(ctx, key)
	if err != nil {
		return schemas.WALRecord{}, err
	}
	defer r.Close()
	var rec schemas.WALRecord
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&rec); err != nil {
		return rec, fmt.Errorf("record %s does not parse: %w", key, err)
	}
	return rec, nil
}

// writeAtomically copies r into a temporary file beside dest and renames it
// into place only when r ended cleanly (the pipeline checks sums at EOF).
func writeAtomically(dest string, r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".lifeboat-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", dest, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("restore %s: %w", filepath.Base(dest), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
