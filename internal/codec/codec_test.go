package codec

import (
	"bytes"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/runnerhub/lifeboat/schemas"
)

// testKey returns a fresh key entry for id.
func testKey(t *testing.T, id string) string {
	t.Helper()
	k, err := NewKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustDC(t *testing.T, keys string) converter.DataConverter {
	t.Helper()
	dc, err := DataConverter(keys)
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

func TestCodec_RoundTripHidesThePlaintext(t *testing.T) {
	dc := mustDC(t, testKey(t, "k1"))
	in := schemas.RestoreInput{Cluster: "dev", Backup: "latest", DataDir: "/srv/restore-secret-path", Port: 15530}
	p, err := dc.ToPayload(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(p.Metadata[converter.MetadataEncoding]); got != Encoding {
		t.Errorf("encoding = %q, want %q", got, Encoding)
	}
	if got := string(p.Metadata[MetadataKeyID]); got != "k1" {
		t.Errorf("key ID = %q, want k1", got)
	}
	for _, secret := range []string{"restore-secret-path", "latest", "json/plain"} {
		if bytes.Contains(p.Data, []byte(secret)) || bytes.Contains([]byte(p.String()), []byte(secret)) {
			t.Errorf("sealed payload shows %q", secret)
		}
	}
	var out schemas.RestoreInput
	if err := dc.FromPayload(p, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("round trip = %+v, want %+v", out, in)
	}
}

func TestCodec_SealsTheSameValueDifferentlyEachTime(t *testing.T) {
	dc := mustDC(t, testKey(t, "k1"))
	a, _ := dc.ToPayload("same")
	b, _ := dc.ToPayload("same")
	if bytes.Equal(a.Data, b.Data) {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
}

func TestCodec_PlainPayloadsStillDecode(t *testing.T) {
	plain, err := converter.GetDefaultDataConverter().ToPayload(map[string]string{"cluster": "dev"})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := mustDC(t, testKey(t, "k1")).FromPayload(plain, &got); err != nil {
		t.Fatal(err)
	}
	if got["cluster"] != "dev" {
		t.Errorf("got %v", got)
	}
}

func TestCodec_RotationKeepsOldPayloadsReadable(t *testing.T) {
	old, next := testKey(t, "2026-01"), testKey(t, "2026-06")
	sealedOld, err := mustDC(t, old).ToPayload("before rotation")
	if err != nil {
		t.Fatal(err)
	}
	rotated := mustDC(t, next+","+old)
	var got string
	if err := rotated.FromPayload(sealedOld, &got); err != nil || got != "before rotation" {
		t.Fatalf("old payload after rotation = %q, %v", got, err)
	}
	sealedNew, _ := rotated.ToPayload("after rotation")
	if id := string(sealedNew.Metadata[MetadataKeyID]); id != "2026-06" {
		t.Errorf("new payloads sealed with %q, want the first key 2026-06", id)
	}
	err = mustDC(t, old).FromPayload(sealedNew, &got)
	if err == nil || !strings.Contains(err.Error(), `"2026-06"`) || !strings.Contains(err.Error(), "add that key") {
		t.Errorf("decoding with a ring that lacks the key: %v, want an error naming key 2026-06 and what to do", err)
	}
}

func TestCodec_WrongKeyOrDamageIsAnError(t *testing.T) {
	sealed, err := mustDC(t, testKey(t, "k1")).ToPayload("x")
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := mustDC(t, testKey(t, "k1")).FromPayload(sealed, &s); err == nil || !strings.Contains(err.Error(), "does not authenticate") {
		t.Errorf("another key under the same ID: %v, want an authentication error", err)
	}
	c, err := New(testKey(t, "k2"))
	if err != nil {
		t.Fatal(err)
	}
	flipped := &commonpb.Payload{Metadata: sealed.Metadata, Data: bytes.Clone(sealed.Data)}
	flipped.Data[len(flipped.Data)-1] ^= 1
	if _, err := c.Decode([]*commonpb.Payload{flipped}); err == nil {
		t.Error("a flipped byte decoded")
	}
	short := &commonpb.Payload{Metadata: map[string][]byte{converter.MetadataEncoding: []byte(Encoding), MetadataKeyID: []byte("k2")}, Data: []byte{1, 2}}
	if _, err := c.Decode([]*commonpb.Payload{short}); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("a truncated payload: %v", err)
	}
}

func TestNew_RejectsBadKeys(t *testing.T) {
	good := testKey(t, "a")
	for _, tc := range []struct{ keys, want string }{
		{"", "entry 1"},
		{"nokey", "entry 1"},
		{good + ",", "entry 2"},
		{"bad id:" + strings.SplitN(good, ":", 2)[1], "key ID"},
		{good + "," + good, "given twice"},
		{"a:not-base64!", "not standard base64"},
		{"a:AAAA", "is 3 bytes, want 32"},
	} {
		_, err := New(tc.keys)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q) = %v, want an error with %q", tc.keys, err, tc.want)
		}
	}
}

func TestDataConverter_NoKeysIsTheDefault(t *testing.T) {
	dc := mustDC(t, "  ")
	p, err := dc.ToPayload("x")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(p.Metadata[converter.MetadataEncoding]); got != converter.MetadataEncodingJSON {
		t.Errorf("encoding without keys = %q, want %q", got, converter.MetadataEncodingJSON)
	}
}

func TestNewKey_Is32RandomBytes(t *testing.T) {
	a, b := testKey(t, "x"), testKey(t, "x")
	if a == b {
		t.Error("two keys are equal")
	}
	if _, err := New(a); err != nil {
		t.Errorf("NewKey made a key New refuses: %v", err)
	}
	if _, err := NewKey("no spaces"); err == nil {
		t.Error("NewKey took a bad ID")
	}
}
