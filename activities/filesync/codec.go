package filesync

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/runnerhub/lifeboat/schemas"
)

// A manifest is read and written several times by every sync, and holds an
// entry per file: JSON took 50 to 70 ms a way for 20,000 entries, a large
// part of a sync of a quiet tree. Manifests are therefore stored in this
// binary form (compressed by the store's caller), which takes a few:
//
//	"LBFM" | version byte | uvarint n | n bytes of JSON: the manifest without entries and objects
//	uvarint count of entries, then each entry:
//	  uvarint bytes shared with the previous path | uvarint n | n bytes: the rest of the path
//	  type byte (0 file, 1 dir, 2 link) | flags byte (1: has SHA-256)
//	  uvarint mode | varint mtime | uvarint size | uvarint ino | varint ctime
//	  32 bytes of SHA-256, when flagged | uvarint n | n bytes of link target
//	uvarint count of objects, then each: 32 bytes of SHA-256 | uvarint stored size

const (
	manifestMagic       = "LBFM"
	manifestCodecFormat = 1
	// maxManifestString bounds a path, a link target or the header.
	maxManifestString = 1 << 20
)

var entryTypes = []string{schemas.EntryFile, schemas.EntryDir, schemas.EntryLink}

// EncodeFileManifest returns m in its stored binary form. Entries must be
// sorted by path (as manifests keep them) for the paths to share prefixes;
// any order encodes correctly.
func EncodeFileManifest(m schemas.FileManifest) ([]byte, error) {
	head := m
	head.Entries, head.Objects = nil, nil
	hj, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 64+len(hj)+len(m.Entries)*64+len(m.Objects)*40)
	out = append(out, manifestMagic...)
	out = append(out, manifestCodecFormat)
	out = binary.AppendUvarint(out, uint64(len(hj)))
	out = append(out, hj...)
	out = binary.AppendUvarint(out, uint64(len(m.Entries)))
	prev := ""
	for _, e := range m.Entries {
		shared := commonPrefix(prev, e.Path)
		out = binary.AppendUvarint(out, uint64(shared))
		out = binary.AppendUvarint(out, uint64(len(e.Path)-shared))
		out = append(out, e.Path[shared:]...)
		prev = e.Path
		t := indexOf(entryTypes, e.Type)
		if t < 0 {
			return nil, fmt.Errorf("entry %s: unknown type %q", e.Path, e.Type)
		}
		var sum []byte
		if e.SHA256 != "" {
			if sum, err = hex.DecodeString(e.SHA256); err != nil || len(sum) != 32 {
				return nil, fmt.Errorf("entry %s: SHA-256 %q is not 64 hex digits", e.Path, e.SHA256)
			}
		}
		flags := byte(0)
		if sum != nil {
			flags = 1
		}
		out = append(out, byte(t), flags)
		out = binary.AppendUvarint(out, uint64(e.Mode))
		out = binary.AppendVarint(out, e.MTime)
		out = binary.AppendUvarint(out, uint64(e.Size))
		out = binary.AppendUvarint(out, e.Ino)
		out = binary.AppendVarint(out, e.CTime)
		out = append(out, sum...)
		out = binary.AppendUvarint(out, uint64(len(e.Link)))
		out = append(out, e.Link...)
	}
	out = binary.AppendUvarint(out, uint64(len(m.Objects)))
	for _, o := range m.Objects {
		sum, err := hex.DecodeString(o.SHA256)
		if err != nil || len(sum) != 32 {
			return nil, fmt.Errorf("object %q is not 64 hex digits", o.SHA256)
		}
		out = append(out, sum...)
		out = binary.AppendUvarint(out, uint64(o.Size))
	}
	return out, nil
}

// DecodeFileManifest reads what EncodeFileManifest wrote; anything else is
// an error saying where it stops making sense.
func DecodeFileManifest(b []byte) (schemas.FileManifest, error) {
	d := &decoder{b: b}
	var m schemas.FileManifest
	if len(b) < len(manifestMagic)+1 || string(b[:len(manifestMagic)]) != manifestMagic {
		return m, errors.New("not a file manifest (bad magic)")
	}
	if v := b[len(manifestMagic)]; v != manifestCodecFormat {
		return m, fmt.Errorf("file manifest encoding %d; this worker reads %d", v, manifestCodecFormat)
	}
	d.off = len(manifestMagic) + 1
	if err := json.Unmarshal(d.bytes(maxManifestString), &m); d.err == nil && err != nil {
		return m, fmt.Errorf("file manifest header: %w", err)
	}
	n := d.count()
	if d.err == nil {
		m.Entries = make([]schemas.FileEntry, 0, n)
	}
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		var e schemas.FileEntry
		shared := int(d.uvarint())
		if shared > len(prev) {
			d.fail("path shares %d bytes with a path of %d", shared, len(prev))
			break
		}
		e.Path = prev[:shared] + string(d.bytes(maxManifestString))
		prev = e.Path
		t, flags := d.byte(), d.byte()
		if int(t) >= len(entryTypes) || flags > 1 {
			d.fail("entry %s: type %d, flags %d", e.Path, t, flags)
			break
		}
		e.Type = entryTypes[t]
		e.Mode = uint32(d.uvarint())
		e.MTime = d.varint()
		e.Size = int64(d.uvarint())
		e.Ino = d.uvarint()
		e.CTime = d.varint()
		if flags == 1 {
			e.SHA256 = hex.EncodeToString(d.raw(32))
		}
		e.Link = string(d.bytes(maxManifestString))
		m.Entries = append(m.Entries, e)
	}
	n = d.count()
	for i := 0; i < n && d.err == nil; i++ {
		sum := hex.EncodeToString(d.raw(32))
		m.Objects = append(m.Objects, schemas.StoredObject{SHA256: sum, Size: int64(d.uvarint())})
	}
	if d.err == nil && d.off != len(b) {
		d.fail("%d bytes after the end", len(b)-d.off)
	}
	if d.err != nil {
		return schemas.FileManifest{}, fmt.Errorf("file manifest at byte %d: %w", d.off, d.err)
	}
	return m, nil
}

// decoder reads the binary form; the first error sticks.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *decoder) uvarint() uint64 { return number(d, binary.Uvarint) }

func (d *decoder) varint() int64 { return number(d, binary.Varint) }

// number reads one number with read (binary.Uvarint or binary.Varint).
func number[T uint64 | int64](d *decoder, read func([]byte) (T, int)) T {
	if d.err != nil {
		return 0
	}
	v, n := read(d.b[d.off:])
	if n <= 0 {
		d.fail("bad number")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) raw(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b)-d.off < n {
		d.fail("%d bytes wanted, %d left", n, len(d.b)-d.off)
		return nil
	}
	v := d.b[d.off : d.off+n]
	d.off += n
	return v
}

func (d *decoder) byte() byte {
	if v := d.raw(1); v != nil {
		return v[0]
	}
	return 0
}

// bytes reads a length-prefixed string of at most max bytes.
func (d *decoder) bytes(max int) []byte {
	n := d.uvarint()
	if n > uint64(max) {
		d.fail("a string of %d bytes", n)
		return nil
	}
	return d.raw(int(n))
}

// count reads a number of items, each at least a byte long.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)-d.off) {
		d.fail("%d items in %d bytes", n, len(d.b)-d.off)
		return 0
	}
	return int(n)
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}
