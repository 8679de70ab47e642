// Package walarchive archives PostgreSQL's WAL files into the object store,
// compressed and encrypted, and fetches them back for recovery. It backs the
// `lifeboat wal-push %p` archive_command and `lifeboat wal-fetch %f %p`
// restore_command.
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
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("WAL file %s is archived already with different content (archived sha256 %s, this one %s): "+
		"two servers are archiving to the same place; stop and find out which is the primary before archiving resumes",
		e.Name, e.Archived, e.Here)
}

// Archive is the WAL archive of one cluster.
type Archive struct {
	Cluster string
	Store   objstore.Store
	// Recipients encrypt pushed files; Identities decrypt fetched ones.
	Recipients []age.Recipient
	Identities []age.Identity
	// Level is the zstd level; 0 is the pipeline's default.
	Level int
}

// Push archives the WAL file at path. Pushing a file that is archived
// already with the same content succeeds without uploading it again.
func (a *Archive) Push(ctx context.Context, path string) (uploaded bool, err error) {
	name := filepath.Base(path)
	if err := schemas.CheckWALName(name); err != nil {
		return false, err
	}
	plainSum, err := fileSHA256(path)
	if err != nil {
		return false, err
	}
	rec, err := a.record(ctx, name)
	switch {
	case err == nil && rec.PlainSHA256 == plainSum:
		return false, nil
	case err == nil:
		return false, &ConflictError{Name: name, Archived: rec.PlainSHA256, Here: plainSum}
	case !errors.Is(err, objstore.ErrNotFound):
		return false, err
	}

	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	var sealed bytes.Buffer // a segment is 16 MiB at most before compression
	sums, err := pipeline.SealFrom(&sealed, f, pipeline.Options{Recipients: a.Recipients, Level: a.Level, Concurrency: 1})
	if err != nil {
		return false, fmt.Errorf("seal %s: %w", name, err)
	}
	if sums.PlainSHA256 != plainSum {
		return false, fmt.Errorf("%s changed while it was archived (sha256 %s, then %s)", path, plainSum, sums.PlainSHA256)
	}
	key := schemas.WALKey(a.Cluster, name)
	if err := a.Store.Put(ctx, key, bytes.NewReader(sealed.Bytes()), int64(sealed.Len())); err != nil {
		return false, fmt.Errorf("upload %s to %s: %w", key, a.Store, err)
	}
	body, err := json.Marshal(schemas.WALRecord{
		Name: name, PlainSize: sums.PlainSize, PlainSHA256: sums.PlainSHA256,
		StoredSize: sums.StoredSize, StoredSHA256: sums.StoredSHA256,
		Recipients: sums.Recipients, PushedAt: time.Now().UTC(),
	})
	if err != nil {
		return false, err
	}
	recKey := schemas.WALRecordKey(a.Cluster, name)
	if err := a.Store.Put(ctx, recKey, bytes.NewReader(body), int64(len(body))); err != nil {
		return false, fmt.Errorf("upload %s to %s: %w", recKey, a.Store, err)
	}
	return true, nil
}

// Fetch restores the archived WAL file name into dest, verified against its
// record before dest appears: a damaged file never reaches PostgreSQL.
func (a *Archive) Fetch(ctx context.Context, name, dest string) error {
	if err := schemas.CheckWALName(name); err != nil {
		return err
	}
	rec, err := a.record(ctx, name)
	if errors.Is(err, objstore.ErrNotFound) {
		return fmt.Errorf("%s: %w", name, ErrNotArchived)
	}
	if err != nil {
		return err
	}
	key := schemas.WALKey(a.Cluster, name)
	obj, err := a.Store.Get(ctx, key)
	if errors.Is(err, objstore.ErrNotFound) {
		return fmt.Errorf("%s has a record but no data (%s): the archive is damaged", name, key)
	}
	if err != nil {
		return fmt.Errorf("download %s from %s: %w", key, a.Store, err)
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

// record reads the record of an archived file.
func (a *Archive) record(ctx context.Context, name string) (schemas.WALRecord, error) {
	key := schemas.WALRecordKey(a.Cluster, name)
	r, err := a.Store.Get(ctx, key)
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
