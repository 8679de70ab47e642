package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/runnerhub/lifeboat/internal/devstack"
)

// rawRun is one run of the raw pipeline.
type rawRun struct {
	seconds     float64
	tarBytes    int64   // what pg_basebackup wrote
	storedBytes int64   // the size of the encrypted file
	cpuSeconds  float64 // CPU time of the three programs and of the copy between the first two
}

// rawArgs are pg_basebackup's arguments in the raw pipeline: the reference
// command's `-D - -Ft -X fetch`, plus the two flags Lifeboat passes as well,
// so both copy the same thing: a fast checkpoint (a spread one would make
// both wait minutes) and no backup manifest.
func rawArgs(conninfo string) []string {
	return []string{"-d", conninfo, "-D", "-", "-Ft", "-X", "fetch", "--checkpoint", "fast", "--no-manifest"}
}

// runRaw runs `pg_basebackup … | zstd -T2 -3 | age -r recipient > out`
// against the backup source. The tar bytes are counted by the benchmark,
// which copies them from pg_basebackup to zstd: the one hop that is not a
// plain pipe, and a cheap one.
func (b *bench) runRaw(ctx context.Context, recipient, out string) (rawRun, error) {
	defer os.Remove(out)
	f, err := os.Create(out)
	if err != nil {
		return rawRun{}, err
	}
	defer f.Close()

	conninfo := fmt.Sprintf("host=%s port=%d user=%s", devstack.Host, sourcePort, devstack.PGUser)
	basebackup := exec.CommandContext(ctx, filepath.Join(devstack.PostgresBinDir, "pg_basebackup"), rawArgs(conninfo)...)
	basebackup.Env = append(os.Environ(), "PGPASSWORD="+b.pgPassword)
	compress := exec.CommandContext(ctx, "zstd", "-T2", "-3", "-q", "-c")
	encrypt := exec.CommandContext(ctx, "age", "-r", recipient)
	encrypt.Stdout = f
	var stderr [3]bytes.Buffer
	basebackup.Stderr, compress.Stderr, encrypt.Stderr = &stderr[0], &stderr[1], &stderr[2]

	tar, err := basebackup.StdoutPipe()
	if err != nil {
		return rawRun{}, err
	}
	toZstd, err := compress.StdinPipe()
	if err != nil {
		return rawRun{}, err
	}
	sealed, toAge, err := os.Pipe()
	if err != nil {
		return rawRun{}, err
	}
	compress.Stdout, encrypt.Stdin = toAge, sealed

	var before syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
		return rawRun{}, err
	}
	start := time.Now()
	for _, c := range []*exec.Cmd{encrypt, compress, basebackup} {
		if err := c.Start(); err != nil {
			sealed.Close()
			toAge.Close()
			return rawRun{}, fmt.Errorf("start %s: %w", filepath.Base(c.Path), err)
		}
	}
	// The children hold their ends now.
	sealed.Close()
	toAge.Close()

	n, copyErr := io.CopyBuffer(toZstd, tar, make([]byte, 1<<20))
	closeErr := toZstd.Close()
	var errs []error
	for i, c := range []*exec.Cmd{basebackup, compress, encrypt} {
		if err := c.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w: %s", filepath.Base(c.Path), err, lastLine(stderr[i].Bytes())))
		}
	}
	seconds := time.Since(start).Seconds()
	if err := errors.Join(append(errs, copyErr, closeErr)...); err != nil {
		return rawRun{}, fmt.Errorf("raw pipeline: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		return rawRun{}, err
	}
	var after syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
		return rawRun{}, err
	}
	// The copy's share of this process; the rest of it idles meanwhile.
	cpu := rusageSeconds(after) - rusageSeconds(before)
	for _, c := range []*exec.Cmd{basebackup, compress, encrypt} {
		cpu += (c.ProcessState.UserTime() + c.ProcessState.SystemTime()).Seconds()
	}
	return rawRun{seconds: seconds, tarBytes: n, storedBytes: fi.Size(), cpuSeconds: cpu}, nil
}

func rusageSeconds(u syscall.Rusage) float64 {
	return time.Duration(u.Utime.Nano() + u.Stime.Nano()).Seconds()
}

// lastLine is the last non-empty line of a program's output, for errors.
func lastLine(out []byte) string {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	return string(lines[len(lines)-1])
}
