package main

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"

	"github.com/runnerhub/lifeboat/internal/tclient"
	"github.com/runnerhub/lifeboat/schemas"
)

type config struct {
	topology    string
	lifeboatBin string
	zstdLevel   int
	zstdThreads int
	// maxFailovers limits the failovers running at once, across clusters.
	maxFailovers int
	region       string
	listen       string
	logFormat    string
	logLevel     string
	temporal     tclient.Options
	guard        bool
	// versioning makes the workers part of Worker Deployments (see
	// schemas.WorkflowDeployment); promote makes this build current at start.
	versioning bool
	promote    bool
}

// parseFlags reads the worker's flags; each has a LIFEBOAT_* variable.
func parseFlags(args []string) config {
	var cfg config
	fs := flag.NewFlagSet("lifeboat-worker", flag.ExitOnError)
	fs.StringVar(&cfg.topology, "topology", tclient.Env("LIFEBOAT_TOPOLOGY", ""), "topology file (LIFEBOAT_TOPOLOGY)")
	fs.StringVar(&cfg.lifeboatBin, "lifeboat-bin", tclient.Env("LIFEBOAT_BIN", defaultLifeboatBin()), "the lifeboat CLI, runnable by the postgres user, for restore_command (LIFEBOAT_BIN)")
	fs.IntVar(&cfg.zstdLevel, "zstd-level", envInt("LIFEBOAT_ZSTD_LEVEL", 0), "zstd level of backups, 1 to 22; 0 is the default, 3 (LIFEBOAT_ZSTD_LEVEL)")
	// 4 compresses sections of a base backup in parallel, so the backup
	// keeps pace with the raw pipeline; each section costs memory
	// (docs/benchmarks.md has the figures).
	fs.IntVar(&cfg.zstdThreads, "zstd-threads", envInt("LIFEBOAT_ZSTD_THREADS", 4), "zstd encoder goroutines for base backups (LIFEBOAT_ZSTD_THREADS)")
	fs.IntVar(&cfg.maxFailovers, "max-failovers", envInt("LIFEBOAT_MAX_FAILOVERS", schemas.DefaultMaxFailovers), "failovers that may run at once across all clusters; more wait their turn (LIFEBOAT_MAX_FAILOVERS)")
	fs.StringVar(&cfg.region, "region", tclient.Env("LIFEBOAT_REGION", ""), "region this worker runs in (LIFEBOAT_REGION)")
	fs.StringVar(&cfg.listen, "listen", tclient.Env("LIFEBOAT_LISTEN", "127.0.0.1:9464"), "address of /metrics and /healthz (LIFEBOAT_LISTEN)")
	fs.StringVar(&cfg.logFormat, "log-format", tclient.Env("LIFEBOAT_LOG_FORMAT", "json"), "json or console (LIFEBOAT_LOG_FORMAT)")
	fs.StringVar(&cfg.logLevel, "log-level", tclient.Env("LIFEBOAT_LOG_LEVEL", "info"), "debug, info, warn or error (LIFEBOAT_LOG_LEVEL)")
	fs.BoolVar(&cfg.guard, "guard", tclient.Env("LIFEBOAT_GUARD", "true") != "false", "run a node guard for each PostgreSQL node of the region with a data_dir: it renews the primary's lease and fences a primary that lost it (LIFEBOAT_GUARD)")
	fs.BoolVar(&cfg.versioning, "versioning", tclient.Env("LIFEBOAT_VERSIONING", "true") != "false", "join the Worker Deployments lifeboat and lifeboat-<region> under this binary's build ID; false polls unversioned (LIFEBOAT_VERSIONING)")
	fs.BoolVar(&cfg.promote, "promote", tclient.Env("LIFEBOAT_PROMOTE", "false") == "true", "at start, make this build current in both deployments, as `lifeboat deploy promote` does, and move running workflows pinned to other builds onto it: for stacks that run one build at a time (LIFEBOAT_PROMOTE)")
	cfg.temporal.RegisterFlags(fs)
	_ = fs.Parse(args)

	return cfg
}

// envInt reads an integer LIFEBOAT_* variable, or def.
func envInt(name string, def int) int {
	v, err := strconv.Atoi(tclient.Env(name, ""))
	if err != nil {
		return def
	}
	return v
}

// defaultLifeboatBin is the lifeboat CLI installed beside this binary.
func defaultLifeboatBin() string {
	exe, err := os.Executable()
	if err != nil {
		return "lifeboat"
	}
	return filepath.Join(filepath.Dir(exe), "lifeboat")
}
