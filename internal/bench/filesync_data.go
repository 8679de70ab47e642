package bench

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// treeSpec describes a generated tree: how many files, how many bytes in
// all, and the seed everything is drawn from, so the same spec makes the
// same tree.
type treeSpec struct {
	Files int
	Bytes int64
	Seed  uint64
}

// genFile is one file of a generated tree.
type genFile struct {
	path string
	size int64
	text bool // compressible (words) rather than random (media)
}

// plan draws the files: sizes of a mix seen in upload folders, 70 % small
// documents, 25 % images, 5 % large media (log-uniform within each), scaled
// so the total is s.Bytes; half of them text, the rest incompressible. They
// sit 100 to a directory, two levels deep.
func (s treeSpec) plan() []genFile {
	r := rand.New(rand.NewPCG(s.Seed, 1))
	files := make([]genFile, s.Files)
	var total float64
	raw := make([]float64, s.Files)
	for i := range files {
		lo, hi := 1e3, 64e3
		switch p := r.Float64(); {
		case p >= 0.95:
			lo, hi = 1e6, 32e6
		case p >= 0.70:
			lo, hi = 64e3, 1e6
		}
		raw[i] = lo * math.Pow(hi/lo, r.Float64())
		total += raw[i]
		ext := ".jpg"
		files[i].text = r.IntN(2) == 0
		if files[i].text {
			ext = ".txt"
		}
		files[i].path = filepath.Join(fmt.Sprintf("d%02d", i/10000), fmt.Sprintf("e%02d", i/100%100), fmt.Sprintf("f%05d%s", i, ext))
	}
	var sum int64
	for i := range files {
		files[i].size = int64(raw[i] * float64(s.Bytes) / total)
		sum += files[i].size
	}
	files[len(files)-1].size += s.Bytes - sum // exact total
	return files
}

// words is the vocabulary of the compressible files.
var words = strings.Fields(`lifeboat keeps a postgresql and redis stack alive and recoverable every recovery
action is a durable temporal workflow made of retryable idempotent activities region failover switchover
backup restore file sync drill primary replica sentinel epoch fencing manifest checksum archive retention
upload invoice customer order report image thumbnail document contract receipt shipment warehouse account`)

// writeFile writes f under root with content drawn from seed: the same
// seed makes the same bytes, another seed other bytes of the same size.
func writeFile(root string, f genFile, seed uint64, buf []byte) error {
	p := filepath.Join(root, f.path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	fh, err := os.Create(p)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(fh, len(buf))
	src := rand.NewChaCha8(seedBytes(seed))
	if f.text {
		err = writeText(w, rand.New(src), f.size)
	} else {
		_, err = io.CopyN(w, src, f.size)
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	return err
}

func writeText(w *bufio.Writer, r *rand.Rand, size int64) error {
	var n int64
	for n < size {
		word := words[r.IntN(len(words))]
		if r.IntN(12) == 0 {
			word += "\n"
		} else {
			word += " "
		}
		if rest := size - n; int64(len(word)) > rest {
			word = word[:rest]
		}
		k, err := w.WriteString(word)
		if err != nil {
			return err
		}
		n += int64(k)
	}
	return nil
}

func seedBytes(seed uint64) [32]byte {
	var b [32]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	binary.LittleEndian.PutUint64(b[8:], seed^0x9e3779b97f4a7c15)
	return b
}

// generate writes the whole tree under root, or reuses it when a marker
// says the tree there was made from the same spec and left unchanged.
func (s treeSpec) generate(root string, logf func(string, ...any)) ([]genFile, error) {
	files := s.plan()
	marker := filepath.Join(filepath.Dir(root), filepath.Base(root)+".spec")
	want := fmt.Sprintf("%+v", s)
	if got, err := os.ReadFile(marker); err == nil && string(got) == want {
		logf("reusing the tree in %s (%d files, %.0f MB)", root, s.Files, float64(s.Bytes)/1e6)
		return files, nil
	}
	_ = os.Remove(marker)
	if err := os.RemoveAll(root); err != nil {
		return nil, err
	}
	start := time.Now()
	buf := make([]byte, 1<<20)
	for i, f := range files {
		if err := writeFile(root, f, s.Seed+uint64(i), buf); err != nil {
			return nil, fmt.Errorf("generate %s: %w", f.path, err)
		}
	}
	logf("generated %d files, %.0f MB in %s (%.1fs)", s.Files, float64(s.Bytes)/1e6, root, time.Since(start).Seconds())
	return files, os.WriteFile(marker, []byte(want), 0o644)
}

// change rewrites a fraction of the files with new content of the same
// size, the files chosen and filled from round: each round changes others.
// The tree's marker goes: the tree no longer matches its spec.
func (s treeSpec) change(root string, files []genFile, fraction float64, round int) (n int, bytes int64, err error) {
	_ = os.Remove(filepath.Join(filepath.Dir(root), filepath.Base(root)+".spec"))
	r := rand.New(rand.NewPCG(s.Seed, uint64(1000+round)))
	want := max(1, int(math.Round(float64(len(files))*fraction)))
	buf := make([]byte, 1<<20)
	for _, i := range r.Perm(len(files))[:want] {
		f := files[i]
		if err := writeFile(root, f, s.Seed^uint64(round+1)<<40+uint64(i), buf); err != nil {
			return n, bytes, err
		}
		n++
		bytes += f.size
	}
	return n, bytes, nil
}
