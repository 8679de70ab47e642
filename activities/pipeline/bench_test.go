package pipeline

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"filippo.io/age"
)

// benchInputs are 16 MiB of each kind, larger than any zstd window so the
// compressor cannot lean on repeats.
func benchInputs() []struct {
	name  string
	plain []byte
} {
	return []struct {
		name  string
		plain []byte
	}{
		{"text", textBytes(16<<20, 20)},
		{"random", randomBytes(16<<20, 21)},
	}
}

// BenchmarkSeal measures sealing at level 3 with concurrency 2, beside the
// command line `zstd -T2 -3 | age -r` (zstd alone when age is not
// installed, as on the build hosts: it is noted in the log).
func BenchmarkSeal(b *testing.B) {
	_, rcp := keyPair(b)
	opts := Options{Recipients: []age.Recipient{rcp}, Level: 3, Concurrency: 2}
	for _, in := range benchInputs() {
		b.Run("pipeline/"+in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.plain)))
			var sums Sums
			for b.Loop() {
				var err error
				sums, err = SealFrom(io.Discard, bytes.NewReader(in.plain), opts)
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(sums.PlainSize)/float64(sums.StoredSize), "ratio")
		})
	}

	script := "zstd -q -T2 -3 -c"
	name := "zstd-T2-3"
	if _, err := exec.LookPath("zstd"); err != nil {
		b.Run("cli-zstd", func(b *testing.B) { b.Skip("zstd is not installed: no comparison with the command line") })
		return
	}
	note := "age is not installed: comparing with zstd alone (the pipeline also encrypts and hashes twice)"
	if _, err := exec.LookPath("age"); err == nil {
		script += " | age -r " + rcp.String()
		name += "|age"
		note = ""
	}
	for _, in := range benchInputs() {
		b.Run("cli-"+name+"/"+in.name, func(b *testing.B) {
			// The command reads a file and writes /dev/null, as our side
			// reads memory and writes io.Discard. Its input is the same
			// data 8 times over (repeats beyond the window do not help
			// it), so that its start-up is small beside its work.
			dir := b.TempDir()
			inPath, outPath := filepath.Join(dir, "in"), filepath.Join(dir, "out")
			if err := os.WriteFile(inPath, bytes.Repeat(in.plain, 8), 0o600); err != nil {
				b.Fatal(err)
			}
			if note != "" {
				b.Log(note)
			}
			run := func(out string) {
				cmd := exec.Command("sh", "-c", script+" <"+inPath+" >"+out)
				if msg, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%s: %v: %s", script, err, msg)
				}
			}
			b.SetBytes(8 * int64(len(in.plain)))
			for b.Loop() {
				run(os.DevNull)
			}
			b.StopTimer()
			run(outPath)
			fi, err := os.Stat(outPath)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(8*float64(len(in.plain))/float64(fi.Size()), "ratio")
		})
	}
}

// BenchmarkOpen measures opening (decrypting, decompressing and checking) a
// stream sealed at level 3.
func BenchmarkOpen(b *testing.B) {
	id, rcp := keyPair(b)
	for _, in := range benchInputs() {
		stored, sums := sealBytes(b, in.plain, Options{Recipients: []age.Recipient{rcp}})
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.plain)))
			for b.Loop() {
				if _, err := Verify(bytes.NewReader(stored), []age.Identity{id}, sums); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
