package devstack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopTimeout is how long Down waits after the polite signal before SIGKILL.
const stopTimeout = 20 * time.Second

// procSpec describes a long-running process of the stack.
type procSpec struct {
	name string   // component name: pid file, log file
	path string   // executable
	args []string // arguments, without argv[0]
	env  []string // full environment
	dir  string   // working directory
	log  string   // stdout and stderr go here (appended)
	// cred, when set, runs the process as another user (PostgreSQL under root).
	cred *syscall.Credential
	// ports are checked free before the start.
	ports []int
}

// pidFile is the path of name's pid file.
func (s *Stack) pidFile(name string) string {
	return filepath.Join(s.devDir, "pids", name+".pid")
}

// readPID reads the PID on the first line of a pid file (PostgreSQL's
// postmaster.pid has more lines); a missing or garbled file reads as 0.
func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// writePID writes a pid file atomically.
func writePID(path string, pid int) error {
	return writeFileAtomic(path, []byte(strconv.Itoa(pid)+"\n"), 0o644)
}

// procAlive reports whether pid is a live (not zombie) process whose command
// name is comm. The name check keeps a reused PID from passing for ours.
func procAlive(pid int, comm string) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// Format: pid (comm) state ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	if st := stat[i+2]; st == 'Z' || st == 'X' {
		return false
	}
	if comm == "" {
		return true
	}
	got, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return false
	}
	return strings.TrimSpace(string(got)) == commOf(comm)
}

// commOf returns the kernel's command name of an executable: its base name
// cut to 15 bytes.
func commOf(path string) string {
	c := filepath.Base(path)
	if len(c) > 15 {
		c = c[:15]
	}
	return c
}

// running returns the PID of name if its pid file names a live process of
// executable exe, else 0. A PostgreSQL node whose pid file is lost is still
// found through the postmaster.pid of its data directory.
func (s *Stack) running(name, exe string) int {
	if pid := readPID(s.pidFile(name)); procAlive(pid, exe) {
		return pid
	}
	for _, n := range pgNodes {
		if n.name == name {
			if pid := readPID(filepath.Join(s.pgDataDir(name), "postmaster.pid")); procAlive(pid, exe) {
				return pid
			}
		}
	}
	return 0
}

// startDetached starts p in its own session with stdout and stderr appended
// to its log and no pipe to this process, so it outlives the caller, and
// records its PID.
func (s *Stack) startDetached(p procSpec) (int, error) {
	for _, port := range p.ports {
		if err := portFree(port); err != nil {
			return 0, fmt.Errorf("start %s: %w", p.name, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(p.log), 0o755); err != nil {
		return 0, err
	}
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", p.name, err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "\n=== lifeboat-dev: starting %s at %s ===\n", p.name, time.Now().Format(time.RFC3339))

	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	cmd.Dir = p.dir
	cmd.Stdout = logf // an *os.File is handed to the child as is: no pipe
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: p.cred}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", p.name, err)
	}
	pid := cmd.Process.Pid
	// Reap it if it dies while this process lives, so it does not linger as
	// a zombie that looks alive.
	go func() { _ = cmd.Wait() }()
	if err := writePID(s.pidFile(p.name), pid); err != nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		return 0, fmt.Errorf("start %s: write pid file: %w", p.name, err)
	}
	return pid, nil
}

// stopProcess sends sig to pid, waits up to timeout for it to go, then kills
// its whole process group.
func stopProcess(ctx context.Context, pid int, comm string, sig syscall.Signal, timeout time.Duration) error {
	if !procAlive(pid, comm) {
		return nil
	}
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %d: %w", pid, err)
	}
	if waitGone(ctx, pid, comm, timeout) {
		return nil
	}
	// The group also holds the children (PostgreSQL backends) of a
	// postmaster that did not shut down.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if waitGone(context.WithoutCancel(ctx), pid, comm, 5*time.Second) {
		return nil
	}
	return fmt.Errorf("process %d (%s) survived SIGKILL", pid, comm)
}

// waitGone polls until pid is no longer a live process of comm.
func waitGone(ctx context.Context, pid int, comm string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for procAlive(pid, comm) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// waitPortsFree polls until nothing listens on any of ports.
func waitPortsFree(ctx context.Context, ports []int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, port := range ports {
		for portFree(port) != nil {
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("port %d still in use %s after the process exited", port, timeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// portFree returns an error naming port and, where it can be found, the
// process holding it, if something listens on 127.0.0.1:port.
func portFree(port int) error {
	l, err := net.Listen("tcp", addr(port))
	if err == nil {
		return l.Close()
	}
	who := "a process"
	if pid := listenerPID(port); pid > 0 {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		who = fmt.Sprintf("pid %d (%s)", pid, strings.TrimSpace(string(comm)))
	}
	return fmt.Errorf("port %d is already in use by %s that this stack did not start: stop it or free the port", port, who)
}

// listenerPID finds the process listening on TCP port, or 0. It is best
// effort: it reads /proc and needs permission to see other users' fds.
func listenerPID(port int) int {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			// sl local_address rem_address st ... inode (field 9)
			if len(fields) < 10 || fields[3] != "0A" { // 0A = LISTEN
				continue
			}
			i := strings.LastIndexByte(fields[1], ':')
			p, err := strconv.ParseInt(fields[1][i+1:], 16, 32)
			if err == nil && int(p) == port {
				inodes[fields[9]] = true
			}
		}
		fh.Close()
	}
	if len(inodes) == 0 {
		return 0
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if err == nil && strings.HasPrefix(link, "socket:[") && inodes[strings.TrimSuffix(link[len("socket:["):], "]")] {
				return pid
			}
		}
	}
	return 0
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// writeFileAtomic writes data to path through a temporary file and a rename.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
