package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"testing"

	"filippo.io/age"
)

// keyPair makes a fresh X25519 identity and returns it with its recipient.
func keyPair(t testing.TB) (*age.X25519Identity, *age.X25519Recipient) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id, id.Recipient()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// randomBytes returns n incompressible bytes, the same for the same seed.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// textBytes returns n bytes that compress like a database dump: rows of
// words and numbers, the same for the same seed.
func textBytes(n int, seed uint64) []byte {
	words := []string{"INSERT", "INTO", "orders", "customers", "VALUES", "NULL", "true", "false",
		"paid", "shipped", "pending", "refunded", "'Berlin'", "'Lisbon'", "'Osaka'", "'Quito'"}
	r := rand.New(rand.NewPCG(seed, 42))
	var b bytes.Buffer
	b.Grow(n + 256)
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte('\t')
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte('\t')
		var num [20]byte
		v := r.Uint64N(1_000_000_000)
		i := len(num)
		for {
			i--
			num[i] = byte('0' + v%10)
			v /= 10
			if v == 0 {
				break
			}
		}
		b.Write(num[i:])
		b.WriteByte('\n')
	}
	return b.Bytes()[:n]
}

// cycleReader yields size bytes by going round pool, so a long stream costs
// no more memory than the pool; a pool larger than the zstd window keeps the
// repeats out of the compressor's reach.
type cycleReader struct {
	pool []byte
	off  int
	left int64
}

func newCycleReader(pool []byte, size int64) *cycleReader {
	return &cycleReader{pool: pool, left: size}
}

func (c *cycleReader) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n := copy(p, c.pool[c.off:])
	c.off = (c.off + n) % len(c.pool)
	c.left -= int64(n)
	return n, nil
}

// genReader yields size bytes made on the fly, so a long stream costs no
// memory: incompressible ones, or text-like ones cut at random from a small
// table of dump rows (which compress about 4:1 and keep the matcher busy).
type genReader struct {
	left  int64
	text  []byte // nil for incompressible bytes
	rng   *rand.ChaCha8
	pcg   *rand.Rand
	carry []byte
}

func newGenReader(size int64, compressible bool, seed uint64) *genReader {
	var s [32]byte
	s[0] = byte(seed)
	g := &genReader{left: size, rng: rand.NewChaCha8(s), pcg: rand.New(rand.NewPCG(seed, 7))}
	if compressible {
		g.text = textBytes(64<<10, seed)
	}
	return g
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n := len(p)
	if g.text == nil {
		g.rng.Read(p)
	} else {
		for len(p) > 0 {
			if len(g.carry) == 0 {
				// A fragment, then a random number as a row would hold.
				off := g.pcg.IntN(len(g.text) - 256)
				g.carry = g.text[off : off+8+g.pcg.IntN(56)]
				p[0] = byte('0' + g.pcg.IntN(10))
				p = p[1:]
				continue
			}
			c := copy(p, g.carry)
			p, g.carry = p[c:], g.carry[c:]
		}
	}
	g.left -= int64(n)
	return n, nil
}
