package pipeline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"filippo.io/age"

	"github.com/runnerhub/lifeboat/activities/objstore"
)

const storeKey = "base/1/data.tar.zst.age"

// sealInto seals plain with SealStream into a fresh local store.
func sealInto(t *testing.T, plain []byte) (objstore.Store, *age.X25519Identity, Sums, int64) {
	t.Helper()
	id, r := keyPair(t)
	store := objstore.NewLocal(t.TempDir())
	var done atomic.Int64
	sums, err := SealStream(context.Background(), store, storeKey, Options{Recipients: []age.Recipient{r}}, &done,
		func(w io.Writer) error { _, err := w.Write(plain); return err })
	if err != nil {
		t.Fatalf("SealStream: %v", err)
	}
	return store, id, sums, done.Load()
}

func TestSealStream_StoresWhatOpenReadsBackAndCountsThePlainBytes(t *testing.T) {
	plain := textBytes(1<<20, 1)
	store, id, sums, done := sealInto(t, plain)

	if done != int64(len(plain)) || sums.PlainSize != int64(len(plain)) {
		t.Errorf("counted %d plain bytes, sums say %d; want %d", done, sums.PlainSize, len(plain))
	}
	if err := VerifyStored(context.Background(), store, storeKey, sums); err != nil {
		t.Errorf("VerifyStored: %v", err)
	}
	sum, n, err := StoredSum(context.Background(), store, storeKey)
	if err != nil || sum != sums.StoredSHA256 || n != sums.StoredSize {
		t.Errorf("StoredSum = %s, %d, %v; want %s, %d", sum, n, err, sums.StoredSHA256, sums.StoredSize)
	}
	rc, err := store.Get(context.Background(), storeKey)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	stored, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := openAll(stored, []age.Identity{id}, sums)
	if err != nil || !bytes.Equal(got, plain) {
		t.Errorf("opened %d bytes (err %v), want the %d plain bytes", len(got), err, len(plain))
	}
}

func TestSealStream_AWriteErrorIsReturnedAsItIsAndStoresNothing(t *testing.T) {
	_, r := keyPair(t)
	store := objstore.NewLocal(t.TempDir())
	broke := errors.New("pg_dump exited 1")
	var done atomic.Int64
	_, err := SealStream(context.Background(), store, storeKey, Options{Recipients: []age.Recipient{r}}, &done,
		func(w io.Writer) error {
			if _, err := w.Write(textBytes(64<<10, 2)); err != nil {
				return err
			}
			return broke
		})
	if err != broke {
		t.Errorf("err = %v, want the writer's own error %v", err, broke)
	}
	if _, err := store.Stat(context.Background(), storeKey); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Stat after a failed write: %v, want ErrNotFound", err)
	}
}

func TestVerifyStored_OtherBytesThanTheUploadWroteAreCorrupt(t *testing.T) {
	store, _, sums, _ := sealInto(t, textBytes(64<<10, 3))
	if err := store.Put(context.Background(), storeKey, strings.NewReader("something else"), -1); err != nil {
		t.Fatal(err)
	}

	err := VerifyStored(context.Background(), store, storeKey, sums)
	var readBack *ReadBackError
	if !errors.As(err, &readBack) || !IsCorrupt(err) {
		t.Fatalf("err = %v, want a *ReadBackError that IsCorrupt", err)
	}
	if readBack.GotSize != int64(len("something else")) || readBack.WantSize != sums.StoredSize || readBack.Store != store.String() {
		t.Errorf("ReadBackError = %+v, want the sizes read and written and the store %s", readBack, store)
	}
}

func TestVerifyStored_AnObjectThatCannotBeReadIsNotCorrupt(t *testing.T) {
	store := objstore.NewLocal(t.TempDir())
	err := VerifyStored(context.Background(), store, storeKey, Sums{StoredSize: 1})
	if !errors.Is(err, objstore.ErrNotFound) || IsCorrupt(err) {
		t.Errorf("err = %v, want ErrNotFound, not corrupt: reading may succeed on a retry", err)
	}
}
