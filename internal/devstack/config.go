package devstack

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Host is the only address the stack listens on.
const Host = "127.0.0.1"

// Ports of the Temporal dev server.
const (
	TemporalPort        = 17233 // frontend gRPC
	TemporalUIPort      = 18233 // Web UI
	TemporalHTTPPort    = 17243 // frontend HTTP API
	TemporalMetricsPort = 17239 // Prometheus metrics
)

// Ports of the PostgreSQL nodes.
const (
	PGA1Port = 15432 // pg-a1, primary, region-a
	PGA2Port = 15433 // pg-a2, synchronous replica, region-a
	PGB1Port = 15434 // pg-b1, asynchronous replica, region-b
)

// Ports of the Redis servers and sentinels.
const (
	RedisA1Port    = 16379 // redis-a1, master, region-a
	RedisB1Port    = 16380 // redis-b1, replica, region-b
	SentinelA1Port = 16381 // sentinel-a1, region-a
	SentinelB1Port = 16382 // sentinel-b1, region-b
	SentinelB2Port = 16383 // sentinel-b2, region-b
)

// Ports of the S3-compatible servers: the backup store and its replica, a
// second store standing for another region's.
const (
	S3Port  = 19000 // primary store, bucket lifeboat-dev
	S3BPort = 19001 // replica store, bucket lifeboat-dev-b
)

// DrillPort is the first port of drills' scratch servers: a restore drill
// uses it, a failover drill's primary and replica the next two.
const DrillPort = 15700

// CodecServerPort is the payload codec server's, which the Web UI calls.
const CodecServerPort = 18234

// Listen ports of the workers' metrics and health endpoints.
const (
	WorkerAPort = 19101 // region-a
	WorkerBPort = 19102 // region-b
)

// Names the stack gives to things outside itself.
const (
	Cluster          = "dev"            // cluster name in the topology
	RegionA          = "region-a"       // primary region
	RegionB          = "region-b"       // DR region
	Namespace        = "default"        // Temporal namespace
	SentinelMaster   = "lifeboat-dev"   // Sentinel master name
	SentinelQuorum   = 2                // Sentinel quorum
	Bucket           = "lifeboat-dev"   // S3 bucket
	BucketB          = "lifeboat-dev-b" // S3 bucket of the replica store
	S3Region         = "us-east-1"      // S3 signing region
	PGUser           = "lifeboat"       // PostgreSQL superuser of the stack
	PGReplicator     = "replicator"     // PostgreSQL replication role
	EnvPGPassword    = "LIFEBOAT_PG_PASSWORD"
	EnvS3AccessKey   = "LIFEBOAT_S3_ACCESS_KEY"
	EnvS3SecretKey   = "LIFEBOAT_S3_SECRET_KEY"
	EnvTemporalAddr  = "LIFEBOAT_TEMPORAL_ADDRESS"
	EnvNamespace     = "LIFEBOAT_NAMESPACE"
	EnvTopology      = "LIFEBOAT_TOPOLOGY"
	EnvSharedDir     = "LIFEBOAT_DEV_DIR" // overrides the PostgreSQL shared directory
	PostgresBinDir   = "/usr/lib/postgresql/15/bin"
	postgresOSUser   = "postgres"
	temporalVersion  = "v1.5.1"
	versitygwVersion = "v1.8.0"
)

// PGMonitor is the stack's least-privileged PostgreSQL role, a member of
// pg_monitor, that the probes and the heartbeat log in as.
const PGMonitor = "lifeboat_monitor"

// TemporalAddress is the host:port of the Temporal frontend.
var TemporalAddress = addr(TemporalPort)

func addr(port int) string { return Host + ":" + strconv.Itoa(port) }

// Config says where the stack lives and where its binaries are.
type Config struct {
	// Root is the checkout; the stack keeps its state in Root/.dev.
	Root string
	// BinDir holds temporal, versitygw and lifeboat-worker.
	BinDir string
	// SharedDir holds PostgreSQL's data directories, sockets and logs.
	SharedDir string
	// Logf receives progress messages, one call at a time; nil discards them.
	Logf func(format string, args ...any)
}

// DefaultConfig returns the configuration of the stack of the checkout at root.
func DefaultConfig(root string) Config {
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	return Config{
		Root:      root,
		BinDir:    filepath.Join(root, "bin"),
		SharedDir: SharedDirFor(root, os.Getenv(EnvSharedDir)),
	}
}

// SharedDirFor returns the PostgreSQL shared directory of the checkout at root:
// override when it is not empty, else <os.TempDir()>/lifeboat-<first 12 hex
// digits of the SHA-256 of root's absolute path>. PostgreSQL refuses to run
// as root and the checkout may sit where its user cannot enter, so its data
// directories, sockets and logs live there, owned by the user PostgreSQL
// runs as.
func SharedDirFor(root, override string) string {
	if override != "" {
		return override
	}
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	sum := sha256.Sum256([]byte(root))
	return filepath.Join(os.TempDir(), "lifeboat-"+hex.EncodeToString(sum[:])[:12])
}

// Options choose what Up starts.
type Options struct {
	// Workers starts one lifeboat-worker per region.
	Workers bool
}

// Process is a process of the stack.
type Process struct {
	Name string
	PID  int
}

func (c Config) validate() error {
	if c.Root == "" || c.BinDir == "" || c.SharedDir == "" {
		return fmt.Errorf("devstack config needs Root, BinDir and SharedDir (use DefaultConfig)")
	}
	if !filepath.IsAbs(c.Root) || !filepath.IsAbs(c.BinDir) || !filepath.IsAbs(c.SharedDir) {
		return fmt.Errorf("devstack config paths must be absolute: root %q, bin %q, shared %q", c.Root, c.BinDir, c.SharedDir)
	}
	return nil
}
