package pgctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procRoot is where the kernel lists processes; a variable for tests.
var procRoot = "/proc"

// Process is a PostgreSQL process running in a data directory.
type Process struct {
	PID, PPID int
}

// Processes lists the PostgreSQL processes of the data directory dir: the
// programs named postgres whose working directory it is. The postmaster
// and every backend run there, and the list holds after the postmaster
// died and its children were reparented. It reads only the process table,
// never the directory, so it answers while the directory's storage hangs.
// Zombies are left out: they hold nothing.
func Processes(dir string) ([]Process, error) {
	want := filepath.Clean(dir)
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		base := filepath.Join(procRoot, e.Name())
		if cwd, err := os.Readlink(filepath.Join(base, "cwd")); err != nil || filepath.Clean(cwd) != want {
			continue
		}
		comm, err := os.ReadFile(filepath.Join(base, "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		state, ppid, err := readStat(filepath.Join(base, "stat"))
		if errors.Is(err, os.ErrNotExist) || state == "Z" {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Process{PID: pid, PPID: ppid})
	}
	return out, nil
}

// readStat reads a process's state and parent from /proc/PID/stat, whose
// second field (the name, in parentheses) may itself hold spaces.
func readStat(path string) (state string, ppid int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return "", 0, fmt.Errorf("%s: no process name", path)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return "", 0, fmt.Errorf("%s: too few fields", path)
	}
	ppid, err = strconv.Atoi(f[1])
	return f[0], ppid, err
}

// postmaster is the process of procs whose parent is not among them.
func postmaster(procs []Process) int {
	in := map[int]bool{}
	for _, p := range procs {
		in[p.PID] = true
	}
	for _, p := range procs {
		if !in[p.PPID] {
			return p.PID
		}
	}
	return procs[0].PID
}
