package devstack

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/runnerhub/lifeboat/schemas"
)

// pgNode is one PostgreSQL node of the stack.
type pgNode struct {
	name, region string
	port         int
	priority     int
	slot         string // physical replication slot on the primary; "" for the primary
}

// The PostgreSQL nodes, primary first.
var pgNodes = []pgNode{
	{name: "pg-a1", region: RegionA, port: PGA1Port, priority: 100},
	{name: "pg-a2", region: RegionA, port: PGA2Port, priority: 100, slot: "pg_a2"},
	{name: "pg-b1", region: RegionB, port: PGB1Port, priority: 50, slot: "pg_b1"},
}

// syncStandby is the node the primary names in synchronous_standby_names.
const syncStandby = "pg-a2"

// redisNode is one Redis server or sentinel of the stack.
type redisNode struct {
	name, region string
	port         int
	sentinel     bool
}

// The Redis servers (master first) and the sentinels.
var redisNodes = []redisNode{
	{name: "redis-a1", region: RegionA, port: RedisA1Port},
	{name: "redis-b1", region: RegionB, port: RedisB1Port},
	{name: "sentinel-a1", region: RegionA, port: SentinelA1Port, sentinel: true},
	{name: "sentinel-b1", region: RegionB, port: SentinelB1Port, sentinel: true},
	{name: "sentinel-b2", region: RegionB, port: SentinelB2Port, sentinel: true},
}

// workerNode is the worker of one region.
type workerNode struct {
	region string
	port   int
}

var workerNodes = []workerNode{
	{region: RegionA, port: WorkerAPort},
	{region: RegionB, port: WorkerBPort},
}

func (w workerNode) name() string { return "worker-" + w.region }

// pgDSN is the password-less URL of a node as the lifeboat role.
func pgDSN(port int) string {
	return fmt.Sprintf("postgres://%s@%s/postgres?sslmode=disable", PGUser, addr(port))
}

// buildTopology returns the topology of the stack. devDir is the absolute
// path of .dev, sharedDir the directory of PostgreSQL's data, identity the
// file of the stack's age identity and recipient its public key.
func buildTopology(devDir, sharedDir, identity, recipient string) *schemas.Topology {
	env := func(name string) *schemas.Secret { return &schemas.Secret{Env: name} }
	t := &schemas.Topology{
		Cluster: Cluster,
		Redis:   &schemas.RedisGroup{MasterName: SentinelMaster},
		Files: []schemas.FileTree{
			// FileSync keeps a copy in region-b (on this host, beside it).
			{Name: "uploads", Region: RegionA, Path: filepath.Join(devDir, "files", "uploads"), AllowDeletes: true,
				Sync: &schemas.FileSyncTarget{Region: RegionB, Path: filepath.Join(devDir, "files", "uploads-region-b")}},
		},
		Backup: schemas.Backup{
			Store: schemas.Store{
				Type:      schemas.StoreS3,
				Endpoint:  "http://" + addr(S3Port),
				Region:    S3Region,
				Bucket:    Bucket,
				PathStyle: true,
				AccessKey: env(EnvS3AccessKey),
				SecretKey: env(EnvS3SecretKey),
			},
			// The second store stands for one in region-b; the same
			// credentials open both.
			Replica: &schemas.Store{
				Type:      schemas.StoreS3,
				Endpoint:  "http://" + addr(S3BPort),
				Region:    S3Region,
				Bucket:    BucketB,
				PathStyle: true,
				AccessKey: env(EnvS3AccessKey),
				SecretKey: env(EnvS3SecretKey),
			},
			ReplicaRegion: RegionB,
			Recipients:    []string{recipient},
			Identity:      &schemas.Secret{File: identity},
			DRRegion:      RegionB,
		},
		Targets: schemas.Targets{
			RTO: schemas.Duration(15 * time.Minute),
			RPO: schemas.Duration(5 * time.Minute),
		},
		Drill: &schemas.Drill{
			ScratchDir: filepath.Join(sharedDir, "drills"),
			Port:       DrillPort,
			Tables:     []string{"demo.orders"},
		},
		Monitor: schemas.Monitor{
			ProbeInterval:    schemas.Duration(time.Second),
			FailureThreshold: 3,
			// Probes and the heartbeat log in as the pg_monitor role
			// (ensureMonitorRole), never as the superuser.
			Postgres: &schemas.PostgresLogin{
				User:     PGMonitor,
				Password: &schemas.Secret{File: filepath.Join(devDir, "secrets", secretMonitorPassword)},
			},
		},
		Failover: schemas.Failover{
			Lease: schemas.Duration(schemas.DefaultLease),
			Replication: &schemas.ReplicationAuth{
				User:     PGReplicator,
				Password: &schemas.Secret{File: filepath.Join(devDir, "secrets", secretReplPassword)},
			},
			PGBin: PostgresBinDir,
		},
	}
	for _, region := range []string{RegionA, RegionB} {
		r := schemas.Region{Name: region}
		for _, n := range pgNodes {
			if n.region == region {
				r.Postgres = append(r.Postgres, schemas.PostgresNode{
					Name: n.name, DSN: pgDSN(n.port), Password: env(EnvPGPassword), Priority: n.priority,
					DataDir: filepath.Join(sharedDir, "data", n.name),
					LogFile: filepath.Join(sharedDir, "log", n.name+".log"),
				})
			}
		}
		for _, n := range redisNodes {
			if n.region != region {
				continue
			}
			if n.sentinel {
				r.Sentinels = append(r.Sentinels, schemas.SentinelNode{Name: n.name, Addr: addr(n.port)})
			} else {
				r.Redis = append(r.Redis, schemas.RedisNode{Name: n.name, Addr: addr(n.port)})
			}
		}
		t.Regions = append(t.Regions, r)
	}
	return t
}

// renderTopology returns t as YAML.
func renderTopology(t *schemas.Topology) ([]byte, error) {
	b, err := yaml.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("render topology: %w", err)
	}
	header := "# Generated by lifeboat-dev at every `up`; edits are overwritten.\n"
	return append([]byte(header), b...), nil
}

// renderEnvFile returns env ("K=V" entries) as shell export lines, sorted.
func renderEnvFile(env []string) []byte {
	lines := make([]string, 0, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		lines = append(lines, "export "+k+"="+shellQuote(v))
	}
	sort.Strings(lines)
	return []byte("# Generated by lifeboat-dev: source it to reach the local stack.\n" + strings.Join(lines, "\n") + "\n")
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
