// Package codec encrypts Temporal payloads (workflow and activity inputs,
// results, heartbeat details, memos) with AES-256-GCM, so Temporal stores
// only ciphertext, and serves the same codec over HTTP for the Web UI.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// EnvKeys names the environment variable that holds the keys, as
// "id:base64,id:base64": the first seals new payloads, every one opens them.
const EnvKeys = "LIFEBOAT_CODEC_KEYS"

// Metadata of a sealed payload.
const (
	// Encoding is the "encoding" of a sealed payload.
	Encoding = "binary/encrypted"
	// MetadataKeyID holds the ID of the key that sealed the payload.
	MetadataKeyID = "encryption-key-id"
	// MetadataCipher names the cipher.
	MetadataCipher = "encryption-cipher"
	// Cipher is the value of MetadataCipher.
	Cipher = "AES-256-GCM"
)

// KeySize is the size of a key in bytes.
const KeySize = 32

// keyIDRE is what a key ID may be: it goes into payload metadata and logs.
var keyIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Codec is a converter.PayloadCodec that seals payloads with its current
// key and opens those sealed with any of its keys. Keys are named: a
// payload records the ID of the key that sealed it, so a key is rotated by
// adding a new one in front and keeping the old ones. Payloads it did not
// seal (plain ones, written before the codec was turned on) pass through
// both ways unchanged, so existing histories stay readable.
type Codec struct {
	current string
	aeads   map[string]cipher.AEAD
	ids     []string // in the order given, for messages
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New parses keys ("id:base64,id:base64", base64 of 32 bytes each, the
// current key first) into a Codec.
func New(keys string) (*Codec, error) {
	c := &Codec{aeads: map[string]cipher.AEAD{}}
	for i, entry := range strings.Split(keys, ",") {
		entry = strings.TrimSpace(entry)
		id, b64, ok := strings.Cut(entry, ":")
		if !ok || entry == "" {
			return nil, fmt.Errorf("%s entry %d: want id:base64-of-%d-bytes", EnvKeys, i+1, KeySize)
		}
		if !keyIDRE.MatchString(id) {
			return nil, fmt.Errorf("%s entry %d: key ID %q: want 1 to 64 letters, digits, '.', '_' or '-'", EnvKeys, i+1, id)
		}
		if _, dup := c.aeads[id]; dup {
			return nil, fmt.Errorf("%s: key ID %q given twice", EnvKeys, id)
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("%s: key %q is not standard base64: %w", EnvKeys, id, err)
		}
		if len(key) != KeySize {
			return nil, fmt.Errorf("%s: key %q is %d bytes, want %d (AES-256)", EnvKeys, id, len(key), KeySize)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		c.aeads[id] = aead
		c.ids = append(c.ids, id)
	}
	c.current = c.ids[0]
	return c, nil
}

// NewKey returns a fresh random key as an "id:base64" entry of EnvKeys.
func NewKey(id string) (string, error) {
	if !keyIDRE.MatchString(id) {
		return "", fmt.Errorf("key ID %q: want 1 to 64 letters, digits, '.', '_' or '-'", id)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return id + ":" + base64.StdEncoding.EncodeToString(key), nil
}

// CurrentKeyID is the ID of the key new payloads are sealed with.
func (c *Codec) CurrentKeyID() string { return c.current }

// additionalData binds a sealed payload to its key ID and format version.
func additionalData(id string) []byte { return []byte("lifeboat-codec-v1:" + id) }

// Encode seals each payload, metadata and data both, with the current key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.aeads[c.current]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encode payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataKeyID:              []byte(c.current),
				MetadataCipher:             []byte(Cipher),
			},
			Data: aead.Seal(nonce, nonce, plain, additionalData(c.current)),
		}
	}
	return out, nil
}

// Decode opens each sealed payload; other payloads are returned as they are.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		aead, ok := c.aeads[id]
		if !ok {
			return nil, fmt.Errorf("payload sealed with key %q, which %s does not hold (it holds %s): add that key, after the current one",
				id, EnvKeys, strings.Join(c.ids, ", "))
		}
		data := p.GetData()
		if len(data) < aead.NonceSize()+aead.Overhead() {
			return nil, fmt.Errorf("payload sealed with key %q is %d bytes, too short to be sealed", id, len(data))
		}
		nonce, sealed := data[:aead.NonceSize()], data[aead.NonceSize():]
		plain, err := aead.Open(nil, nonce, sealed, additionalData(id))
		if err != nil {
			return nil, fmt.Errorf("payload sealed with key %q does not authenticate: the key of that ID in %s differs from the one that sealed it, or the payload is damaged", id, EnvKeys)
		}
		var orig commonpb.Payload
		if err := proto.Unmarshal(plain, &orig); err != nil {
			return nil, fmt.Errorf("payload sealed with key %q: %w", id, err)
		}
		out[i] = &orig
	}
	return out, nil
}

// DataConverter returns the SDK's default converter sealed by a Codec of
// keys; with no keys, the default converter itself.
func DataConverter(keys string) (converter.DataConverter, error) {
	if strings.TrimSpace(keys) == "" {
		return converter.GetDefaultDataConverter(), nil
	}
	c, err := New(keys)
	if err != nil {
		return nil, err
	}
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c), nil
}

// ErrNoKeys is returned where a codec is required and no key is configured.
var ErrNoKeys = errors.New(EnvKeys + " is not set: give one or more id:base64 keys (`lifeboat codec-key` makes one)")
