package pgctl

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/runnerhub/lifeboat/internal/pgos"
	"github.com/runnerhub/lifeboat/schemas"
)

// fakeServer starts a program named postgres (a copy of sleep) working in
// dir, as PostgreSQL's processes do, and returns it; it is reaped at the
// end of the test.
func fakeServer(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "postgres")
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatalf("the fence tests run copies of sleep (coreutils): %v", err)
	}
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "60")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	waitListed(t, dir, cmd.Process.Pid)
	return cmd
}

func waitListed(t *testing.T, dir string, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		procs, err := Processes(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range procs {
			if p.PID == pid {
				return
			}
		}
	}
	t.Fatalf("process %d is not listed in %s", pid, dir)
}

func dataDir(t *testing.T) string {
	t.Helper()
	if _, err := pgos.PostgresUser(); err != nil {
		t.Fatalf("fencing writes standby.signal as the PostgreSQL user; install PostgreSQL (make deps): %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestProcesses_ListsOnlyPostgresWorkingInTheDirectory(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	mine := fakeServer(t, dir)
	fakeServer(t, other)
	// Another program in the directory, an operator's shell say, is not
	// PostgreSQL's.
	sh := exec.Command("sleep", "60")
	sh.Dir = dir
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sh.Process.Kill(); _ = sh.Wait() }()

	procs, err := Processes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(procs) != 1 || procs[0].PID != mine.Process.Pid || procs[0].PPID != os.Getpid() {
		t.Errorf("Processes = %+v, want only %d with parent %d", procs, mine.Process.Pid, os.Getpid())
	}
}

func TestFence_StopsAServerThatAnswersTheStop(t *testing.T) {
	dir := dataDir(t)
	srv := fakeServer(t, dir)
	start := time.Now()
	res, err := Dir{Path: dir}.Fence(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.How != schemas.FencedStopped || time.Since(start) > immediateStopWait {
		t.Errorf("Fence = %+v after %s, want stopped within %s", res, time.Since(start), immediateStopWait)
	}
	if _, err := os.Stat(filepath.Join(dir, StandbySignal)); err != nil {
		t.Errorf("standby.signal: %v", err)
	}
	if procs, _ := Processes(dir); len(procs) != 0 {
		t.Errorf("left running: %+v (server %d)", procs, srv.Process.Pid)
	}
}

// A frozen server (SIGSTOP: a stalled host) never handles the stop; the
// fence must not wait for it longer than its deadline.
func TestFence_KillsAFrozenServerWithinItsDeadline(t *testing.T) {
	dir := dataDir(t)
	pm, backend := fakeServer(t, dir), fakeServer(t, dir)
	for _, c := range []*exec.Cmd{pm, backend} {
		if err := c.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	res, err := Dir{Path: dir}.Fence(context.Background(), false)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if res.How != schemas.FencedKilled || took < immediateStopWait || took > immediateStopWait+killWait {
		t.Errorf("Fence = %+v after %s, want killed after the %s stop deadline", res, took, immediateStopWait)
	}
	if procs, _ := Processes(dir); len(procs) != 0 {
		t.Errorf("left running: %+v", procs)
	}
	if _, err := os.Stat(filepath.Join(dir, StandbySignal)); err != nil {
		t.Errorf("standby.signal: %v", err)
	}
}

func TestFence_NothingRunningIsMarkedStandby(t *testing.T) {
	dir := dataDir(t)
	res, err := Dir{Path: dir}.Fence(context.Background(), false)
	if err != nil || res.How != schemas.FencedNotRunning {
		t.Fatalf("Fence = %+v, %v; want not-running", res, err)
	}
	if _, err := os.Stat(filepath.Join(dir, StandbySignal)); err != nil {
		t.Errorf("standby.signal: %v", err)
	}
}

func TestReadStat_NameWithSpacesAndParentheses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stat")
	if err := os.WriteFile(path, []byte("42 (postgres: a (b) c) S 7 42 42 0 -1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	state, ppid, err := readStat(path)
	if err != nil || state != "S" || ppid != 7 {
		t.Errorf("readStat = %q, %d, %v; want S, 7", state, ppid, err)
	}
}
