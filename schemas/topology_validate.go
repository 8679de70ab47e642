package schemas

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/runnerhub/lifeboat/internal/conninfo"
)

// MinProbeInterval is the shortest probe interval: below it probes would load
// the nodes they watch more than they tell about them.
const MinProbeInterval = 100 * time.Millisecond

// Validate checks a topology built in Go against the rules a topology file must
// meet: names, references between parts, DSNs without passwords, secrets,
// addresses, durations and age recipients. The error is Problems.
func (t *Topology) Validate() error { return t.problems().orNil() }

// problems runs every check and gathers what they find.
func (t *Topology) problems() Problems {
	var ps Problems
	ps = append(ps, checkName("cluster", t.Cluster)...)
	ps = append(ps, t.checkRegions()...)
	ps = append(ps, t.checkNodes()...)
	ps = append(ps, t.checkRedisGroup()...)
	ps = append(ps, t.checkFiles()...)
	ps = append(ps, t.checkBackup()...)
	ps = append(ps, t.Targets.check("targets")...)
	ps = append(ps, t.Monitor.check("monitor")...)
	ps = append(ps, t.checkMonitorLogin()...)
	ps = append(ps, t.checkFailover()...)
	if t.Drill != nil {
		ps = append(ps, t.Drill.check("drill")...)
	}
	return ps
}

func checkName(at problemPath, name string) Problems {
	switch {
	case name == "":
		return Problems{at.problem(msgRequired)}
	case !nameRE.MatchString(name):
		return Problems{at.problem(msgName)}
	}
	return nil
}

// CheckClusterName refuses a cluster name the topology's rule refuses. The
// CLI checks a name before it goes into a workflow or schedule ID or a
// visibility query: one that follows the rule needs no quoting there.
func CheckClusterName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("cluster name %q: want lower-case letters, digits and '-', starting with a letter", name)
	}
	return nil
}

// checkRegions checks region names, which must be unique: each is a task queue.
func (t *Topology) checkRegions() Problems {
	if len(t.Regions) == 0 {
		return Problems{problemPath("regions").problem(msgNotEmpty)}
	}
	var ps Problems
	first := map[string]problemPath{}
	for i, r := range t.Regions {
		at := problemPath("regions").index(i).field("name")
		ps = append(ps, checkName(at, r.Name)...)
		ps = append(ps, checkUnique(first, at, "region", r.Name)...)
	}
	return ps
}

// checkUnique records name at at, or reports where it was first used.
func checkUnique(first map[string]problemPath, at problemPath, what, name string) Problems {
	if name == "" {
		return nil
	}
	if prev, ok := first[name]; ok {
		return Problems{at.problem(fmt.Sprintf("%s name %q already used at %s", what, name, prev))}
	}
	first[name] = at
	return nil
}

// checkNodes checks every node. Node names are unique across the cluster, not
// per region or kind, because health reports and workflow IDs use them alone.
func (t *Topology) checkNodes() Problems {
	var ps Problems
	first := map[string]problemPath{}
	postgres := 0
	for i, r := range t.Regions {
		at := problemPath("regions").index(i)
		for j, n := range r.Postgres {
			nat := at.field("postgres").index(j)
			ps = append(ps, checkUnique(first, nat.field("name"), "node", n.Name)...)
			ps = append(ps, n.check(nat)...)
			postgres++
		}
		for j, n := range r.Redis {
			nat := at.field("redis").index(j)
			ps = append(ps, checkUnique(first, nat.field("name"), "node", n.Name)...)
			ps = append(ps, checkRedisLike(nat, n.Name, n.Addr, n.Password)...)
			ps = append(ps, checkCriticality(nat.field("criticality"), n.Criticality)...)
		}
		for j, n := range r.Sentinels {
			nat := at.field("sentinels").index(j)
			ps = append(ps, checkUnique(first, nat.field("name"), "node", n.Name)...)
			ps = append(ps, checkRedisLike(nat, n.Name, n.Addr, n.Password)...)
			ps = append(ps, checkCriticality(nat.field("criticality"), n.Criticality)...)
		}
	}
	if postgres == 0 && len(t.Regions) > 0 {
		ps = append(ps, problemPath("regions").problem("the cluster needs at least one postgres node"))
	}
	return ps
}

func (n PostgresNode) check(at problemPath) Problems {
	ps := checkName(at.field("name"), n.Name)
	ps = append(ps, checkDSN(at.field("dsn"), n.DSN)...)
	ps = append(ps, checkCriticality(at.field("criticality"), n.Criticality)...)
	return append(ps, checkSecret(at.field("password"), n.Password)...)
}

// checkDSN parses dsn without connecting and refuses a password in it: DSNs
// travel in topologies, and topologies may sit in workflow history.
func checkDSN(at problemPath, dsn string) Problems {
	if dsn == "" {
		return Problems{at.problem(msgRequired)}
	}
	params, err := conninfo.Parse(dsn)
	if err != nil {
		return Problems{at.problem(err.Error())}
	}
	if _, ok := params["password"]; ok {
		return Problems{at.problem("must not contain a password: use password: {env: ...} or {file: ...}")}
	}
	return nil
}

func checkRedisLike(at problemPath, name, addr string, password *Secret) Problems {
	ps := checkName(at.field("name"), name)
	ps = append(ps, checkAddr(at.field("addr"), addr)...)
	return append(ps, checkSecret(at.field("password"), password)...)
}

// checkAddr wants host:port with a numeric port, as Redis clients dial it.
func checkAddr(at problemPath, addr string) Problems {
	if addr == "" {
		return Problems{at.problem(msgRequired)}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return Problems{at.problem("must be host:port with a numeric port")}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return Problems{at.problem("port must be a number from 1 to 65535")}
	}
	return nil
}

// checkSecret wants exactly one source for a secret, so which one is read is
// never a guess.
func checkSecret(at problemPath, s *Secret) Problems {
	if s == nil || (s.Env == "") != (s.File == "") {
		return nil
	}
	return Problems{at.problem("must name exactly one of env or file")}
}

// checkRedisGroup needs the Sentinel master name as soon as there is anything
// Redis: without it neither probes nor failover can find the master.
func (t *Topology) checkRedisGroup() Problems {
	at := problemPath("redis").field("master_name")
	if t.Redis != nil && t.Redis.MasterName != "" {
		if !masterNameRE.MatchString(t.Redis.MasterName) {
			return Problems{at.problem(msgMasterName)}
		}
		return nil
	}
	for _, r := range t.Regions {
		if len(r.Redis) > 0 || len(r.Sentinels) > 0 {
			return Problems{at.problem("required when the cluster has redis nodes or sentinels")}
		}
	}
	if t.Redis != nil {
		return Problems{at.problem(msgRequired)}
	}
	return nil
}

func (t *Topology) checkFiles() Problems {
	var ps Problems
	first := map[string]problemPath{}
	for i, f := range t.Files {
		at := problemPath("files").index(i)
		ps = append(ps, checkName(at.field("name"), f.Name)...)
		ps = append(ps, checkUnique(first, at.field("name"), "file tree", f.Name)...)
		ps = append(ps, t.checkRegionRef(at.field("region"), f.Region, true)...)
		if f.Path == "" {
			ps = append(ps, at.field("path").problem(msgRequired))
		}
		if f.Sync != nil {
			ps = append(ps, t.checkSyncTarget(at.field("sync"), f)...)
		}
	}
	return ps
}

// checkSyncTarget wants a copy in exactly one place, and a directory copy
// that cannot be mistaken for the tree: syncing a tree into itself or into
// one of its folders would copy the copy at every run.
func (t *Topology) checkSyncTarget(at problemPath, f FileTree) Problems {
	s := *f.Sync
	dir := s.Region != "" || s.Path != ""
	switch {
	case s.Store != "" && dir:
		return Problems{at.problem("give either store, or region and path, not both")}
	case s.Store != "":
		switch s.Store {
		case SyncStoreBackup:
		case SyncStoreReplica:
			if t.Backup.Replica == nil {
				return Problems{at.field("store").problem("backup.replica is not set")}
			}
		default:
			return Problems{at.field("store").problem("must be one of backup, replica")}
		}
		return nil
	case !dir:
		return Problems{at.field("store").problem("required, or region and path instead")}
	}
	ps := t.checkRegionRef(at.field("region"), s.Region, true)
	if s.Path == "" {
		return append(ps, at.field("path").problem(msgRequired))
	}
	if s.Region == f.Region && f.Path != "" && pathsOverlap(s.Path, f.Path) {
		ps = append(ps, at.field("path").problem(fmt.Sprintf("overlaps the tree's own path %s in region %s", f.Path, f.Region)))
	}
	return ps
}

// pathsOverlap reports whether one directory is the other or inside it.
func pathsOverlap(a, b string) bool {
	a, b = filepath.Clean(a), filepath.Clean(b)
	inside := func(x, y string) bool {
		rel, err := filepath.Rel(y, x)
		return err == nil && filepath.IsLocal(rel)
	}
	return a == b || inside(a, b) || inside(b, a)
}

// checkRegionRef wants name to be one of the topology's regions.
func (t *Topology) checkRegionRef(at problemPath, name string, required bool) Problems {
	if name == "" {
		if required {
			return Problems{at.problem(msgRequired)}
		}
		return nil
	}
	if ps := checkName(at, name); ps != nil {
		return ps
	}
	if _, ok := t.Region(name); !ok {
		return Problems{at.problem(fmt.Sprintf("no region named %q", name))}
	}
	return nil
}

func (t *Topology) checkBackup() Problems {
	b := t.Backup
	at := problemPath("backup")
	ps := b.Store.check(at.field("store"))
	ps = append(ps, checkRecipients(at.field("recipients"), b.Recipients)...)
	ps = append(ps, checkSecret(at.field("identity"), b.Identity)...)
	ps = append(ps, t.checkRegionRef(at.field("dr_region"), b.DRRegion, false)...)
	if b.Replica != nil {
		ps = append(ps, b.Replica.check(at.field("replica"))...)
		if b.Replica.sameAs(b.Store) {
			ps = append(ps, at.field("replica").problem("is the same store as backup.store: a replica must be a second store"))
		}
	}
	return append(ps, t.checkRegionRef(at.field("replica_region"), b.ReplicaRegion, false)...)
}

// sameAs reports whether two stores name the same place.
func (s Store) sameAs(o Store) bool {
	if s.Type != o.Type {
		return false
	}
	if s.Type == StoreLocal {
		return filepath.Clean(s.Path) == filepath.Clean(o.Path)
	}
	return s.Endpoint == o.Endpoint && s.Bucket == o.Bucket && strings.Trim(s.Prefix, "/") == strings.Trim(o.Prefix, "/")
}

// checkRecipients parses every recipient now rather than at the first backup,
// when a typo would cost a backup.
func checkRecipients(at problemPath, recipients []string) Problems {
	if len(recipients) == 0 {
		return Problems{at.problem(msgNotEmpty)}
	}
	var ps Problems
	for i, r := range recipients {
		if _, err := age.ParseX25519Recipient(r); err != nil {
			ps = append(ps, at.index(i).problem("not an age X25519 public key (age1...)"))
		}
	}
	return ps
}

func (s Store) check(at problemPath) Problems {
	var ps Problems
	switch s.Type {
	case "":
		return Problems{at.field("type").problem(msgRequired)}
	case StoreS3:
		if s.Bucket == "" {
			ps = append(ps, at.field("bucket").problem("required for an s3 store"))
		}
	case StoreLocal:
		if s.Path == "" {
			ps = append(ps, at.field("path").problem("required for a local store"))
		}
	default:
		return Problems{at.field("type").problem(msgStoreType)}
	}
	ps = append(ps, checkSecret(at.field("access_key"), s.AccessKey)...)
	ps = append(ps, checkSecret(at.field("secret_key"), s.SecretKey)...)
	// One key without the other would silently fall back to the AWS chain.
	switch {
	case s.AccessKey != nil && s.SecretKey == nil:
		ps = append(ps, at.field("secret_key").problem("required when access_key is set"))
	case s.AccessKey == nil && s.SecretKey != nil:
		ps = append(ps, at.field("access_key").problem("required when secret_key is set"))
	}
	return ps
}

func (g Targets) check(at problemPath) Problems {
	var ps Problems
	if g.RTO <= 0 {
		ps = append(ps, at.field("rto").problem("must be greater than 0"))
	}
	if g.RPO <= 0 {
		ps = append(ps, at.field("rpo").problem("must be greater than 0"))
	}
	if g.MaxLagBytes < 0 {
		ps = append(ps, at.field("max_lag_bytes").problem("must be at least 0"))
	}
	return ps
}

// check allows zero values, which mean the defaults.
func (m Monitor) check(at problemPath) Problems {
	var ps Problems
	if m.ProbeInterval != 0 && m.ProbeInterval.Std() < MinProbeInterval {
		ps = append(ps, at.field("probe_interval").problem("must be at least "+MinProbeInterval.String()))
	}
	if m.FailureThreshold < 0 {
		ps = append(ps, at.field("failure_threshold").problem("must be at least 1"))
	}
	if m.Postgres != nil {
		if m.Postgres.User == "" {
			ps = append(ps, at.field("postgres").field("user").problem(msgRequired))
		}
		ps = append(ps, checkSecret(at.field("postgres").field("password"), m.Postgres.Password)...)
	}
	return ps
}

// checkMonitorLogin refuses a monitor login that is the user of a node's
// DSN: the probes would then run as the privileged role that promotes,
// which the monitor login exists to avoid.
func (t *Topology) checkMonitorLogin() Problems {
	login := t.Monitor.Postgres
	if login == nil || login.User == "" {
		return nil
	}
	for i, r := range t.Regions {
		for j, n := range r.Postgres {
			params, err := conninfo.Parse(n.DSN)
			if err != nil || params["user"] != login.User {
				continue
			}
			at := problemPath("monitor").field("postgres").field("user")
			return Problems{at.problem(fmt.Sprintf("is the user of regions[%d].postgres[%d].dsn: the monitor needs a least-privileged role of its own", i, j))}
		}
	}
	return nil
}

func checkCriticality(at problemPath, c string) Problems {
	switch c {
	case "", CriticalityCritical, CriticalityMajor, CriticalityMinor:
		return nil
	}
	return Problems{at.problem(fmt.Sprintf("%q is not one of critical, major, minor", c))}
}

// checkFailover allows zero values, which mean the defaults.
func (t *Topology) checkFailover() Problems {
	at := problemPath("failover")
	f := t.Failover
	var ps Problems
	if f.Lease < 0 {
		ps = append(ps, at.field("lease").problem("must be at least 0"))
	}
	if f.SentinelWindow < 0 {
		ps = append(ps, at.field("sentinel_window").problem("must be at least 0"))
	}
	if f.Webhook != "" && !strings.HasPrefix(f.Webhook, "http://") && !strings.HasPrefix(f.Webhook, "https://") {
		ps = append(ps, at.field("webhook").problem("must be an http:// or https:// URL"))
	}
	if f.Replication != nil {
		if f.Replication.User == "" {
			ps = append(ps, at.field("replication").field("user").problem(msgRequired))
		}
		ps = append(ps, checkSecret(at.field("replication").field("password"), f.Replication.Password)...)
	}
	first := map[string]problemPath{}
	for i, b := range f.PgBouncer {
		bat := at.field("pgbouncer").index(i)
		ps = append(ps, checkUnique(first, bat.field("name"), "pgbouncer", b.Name)...)
		ps = append(ps, checkName(bat.field("name"), b.Name)...)
		ps = append(ps, t.checkRegionRef(bat.field("region"), b.Region, true)...)
		for field, v := range map[string]string{"databases_file": b.DatabasesFile, "database": b.Database} {
			if v == "" {
				ps = append(ps, bat.field(field).problem(msgRequired))
			}
		}
		ps = append(ps, checkDSN(bat.field("admin_dsn"), b.AdminDSN)...)
		ps = append(ps, checkSecret(bat.field("password"), b.Password)...)
	}
	return ps
}

func (d Drill) check(at problemPath) Problems {
	var ps Problems
	if d.ScratchDir == "" || !strings.HasPrefix(d.ScratchDir, "/") {
		ps = append(ps, at.field("scratch_dir").problem("required, an absolute path"))
	}
	if d.Port < 1024 || d.Port > 65533 {
		ps = append(ps, at.field("port").problem("must be from 1024 to 65533"))
	}
	if d.Every < 0 {
		ps = append(ps, at.field("every").problem("must be greater than 0"))
	}
	for i, tb := range d.Tables {
		if _, _, err := ParseDrillTable(tb); err != nil {
			ps = append(ps, at.field("tables").index(i).problem(err.Error()))
		}
	}
	return ps
}
