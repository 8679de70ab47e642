package ha

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/schemas"
)

// Routing keeps a cluster's routing record, its history and its alerts in the
// routing store (the Redis master, found through the sentinels). Its
// activities run on the global task queue.
type Routing struct {
	Topology *schemas.Topology
	Clients  *activities.Clients
	Logger   *zap.Logger
	// Metrics may be nil.
	Metrics *activities.Metrics
}

// replicaWait bounds how long a change of the routing record waits for a
// Redis replica to have it; a record only on the master may be lost with it.
const replicaWait = 500 * time.Millisecond

// readRoutingScript returns the record and the PTTL of its primary's lease.
// KEYS[1] record; ARGV[1] the lease key without the node.
var readRoutingScript = redis.NewScript(`
local raw = redis.call('GET', KEYS[1])
if not raw then return {'', -2} end
local rec = cjson.decode(raw)
local ttl = -2
if type(rec.primary) == 'string' and rec.primary ~= '' then
  ttl = redis.call('PTTL', ARGV[1] .. rec.primary)
end
return {raw, ttl}
`)

// initRoutingScript creates the record unless one exists and grants its
// primary a lease. KEYS[1] record, KEYS[2] lease; ARGV[1] record, ARGV[2]
// lease in ms, ARGV[3] epoch.
var initRoutingScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
  return {1, ARGV[1]}
end
return {0, redis.call('GET', KEYS[1])}
`)

// bumpEpochScript moves the record from ARGV[1] to ARGV[1]+1 with no
// primary and fenced = ARGV[2], and ends the fenced node's lease. KEYS[1]
// record, KEYS[2] lease of the fenced node; ARGV[3] updated_at.
var bumpEpochScript = redis.NewScript(`
local raw = redis.call('GET', KEYS[1])
if not raw then return {'missing', ''} end
local rec = cjson.decode(raw)
local e = tonumber(ARGV[1])
if rec.epoch == e then
  rec.epoch = e + 1
  rec.primary = nil
  rec.addr = nil
  rec.fenced = ARGV[2]
  rec.updated_at = ARGV[3]
  raw = cjson.encode(rec)
  redis.call('SET', KEYS[1], raw)
  redis.call('DEL', KEYS[2])
  return {'bumped', raw}
end
if rec.epoch == e + 1 and rec.fenced == ARGV[2] then return {'done', raw} end
return {'moved', raw}
`)

// publishPrimaryScript names the primary at epoch ARGV[1] unless the record
// is at another epoch or names another primary there, and grants it a
// lease. KEYS[1] record; ARGV[2] primary, ARGV[3] addr, ARGV[4] updated_at,
// ARGV[5] lease key without the node, ARGV[6] lease in ms.
var publishPrimaryScript = redis.NewScript(`
local raw = redis.call('GET', KEYS[1])
if not raw then return {'missing', ''} end
local rec = cjson.decode(raw)
if rec.epoch ~= tonumber(ARGV[1]) then return {'moved', raw} end
local cur = rec.primary
if type(cur) == 'string' and cur ~= '' and cur ~= ARGV[2] then return {'taken', raw} end
if cur == ARGV[2] and rec.addr == ARGV[3] then return {'done', raw} end
rec.primary = ARGV[2]
rec.addr = ARGV[3]
rec.updated_at = ARGV[4]
raw = cjson.encode(rec)
redis.call('SET', KEYS[1], raw)
redis.call('SET', ARGV[5] .. ARGV[2], ARGV[1], 'PX', ARGV[6])
return {'published', raw}
`)

// ReadRouting returns the routing record and the primary's remaining lease.
func (r *Routing) ReadRouting(ctx context.Context, in schemas.ReadRoutingInput) (schemas.ReadRoutingResult, error) {
	r, err := serving(r, in.Cluster)
	if err != nil {
		return schemas.ReadRoutingResult{}, err
	}
	rdb, err := r.store(ctx, in.Cluster)
	if err != nil {
		return schemas.ReadRoutingResult{}, err
	}
	v, err := readRoutingScript.Run(ctx, rdb, []string{schemas.RoutingKey(in.Cluster)}, schemas.LeaseKey(in.Cluster, "")).Slice()
	if err != nil {
		return schemas.ReadRoutingResult{}, fmt.Errorf("read routing record of %s: %w", in.Cluster, err)
	}
	raw, _ := v[0].(string)
	if raw == "" {
		return schemas.ReadRoutingResult{}, nil
	}
	rec, err := decodeRecord(raw)
	if err != nil {
		return schemas.ReadRoutingResult{}, err
	}
	res := schemas.ReadRoutingResult{Record: rec, Found: true}
	if ttl, _ := v[1].(int64); ttl > 0 {
		res.LeaseRemaining = time.Duration(ttl) * time.Millisecond
	}
	return res, nil
}

// InitRouting creates the record at epoch 1 naming in.Primary unless one
// exists, and returns the record in force.
func (r *Routing) InitRouting(ctx context.Context, in schemas.InitRoutingInput) (schemas.InitRoutingResult, error) {
	r, err := serving(r, in.Cluster)
	if err != nil {
		return schemas.InitRoutingResult{}, err
	}
	_, addr, rdb, err := r.primaryStore(ctx, in.Cluster, in.Primary)
	if err != nil {
		return schemas.InitRoutingResult{}, err
	}
	rec := schemas.RoutingRecord{Cluster: in.Cluster, Epoch: 1, Primary: in.Primary, Addr: addr, UpdatedAt: time.Now().UTC()}
	body, err := json.Marshal(rec)
	if err != nil {
		return schemas.InitRoutingResult{}, err
	}
	lease := r.Topology.Failover.LeaseOrDefault()
	v, err := initRoutingScript.Run(ctx, rdb,
		[]string{schemas.RoutingKey(in.Cluster), schemas.LeaseKey(in.Cluster, in.Primary)},
		string(body), lease.Milliseconds(), rec.Epoch).Slice()
	if err != nil {
		return schemas.InitRoutingResult{}, fmt.Errorf("create routing record of %s: %w", in.Cluster, err)
	}
	created, _ := v[0].(int64)
	raw, _ := v[1].(string)
	if rec, err = decodeRecord(raw); err != nil {
		return schemas.InitRoutingResult{}, err
	}
	if created == 1 {
		r.waitReplica(ctx, rdb, in.Cluster)
		r.logger().Info("routing record created", zap.String("cluster", in.Cluster), zap.String("primary", in.Primary))
	}
	return schemas.InitRoutingResult{Record: rec, Created: created == 1}, nil
}

// BumpEpoch atomically moves the record from in.Epoch to in.Epoch+1 with no
// primary and Fenced = in.Failed. Repeating it after success returns the same
// record; any other epoch is a non-retryable ErrEpochMoved.
func (r *Routing) BumpEpoch(ctx context.Context, in schemas.BumpEpochInput) (schemas.BumpEpochResult, error) {
	r, err := serving(r, in.Cluster)
	if err != nil {
		return schemas.BumpEpochResult{}, err
	}
	if in.Failed == "" {
		return schemas.BumpEpochResult{}, activities.InvalidInput("failed", "required: the node the primary role is taken from")
	}
	rdb, err := r.store(ctx, in.Cluster)
	if err != nil {
		return schemas.BumpEpochResult{}, err
	}
	v, err := bumpEpochScript.Run(ctx, rdb,
		[]string{schemas.RoutingKey(in.Cluster), schemas.LeaseKey(in.Cluster, in.Failed)},
		in.Epoch, in.Failed, time.Now().UTC().Format(time.RFC3339Nano)).StringSlice()
	if err != nil {
		return schemas.BumpEpochResult{}, fmt.Errorf("bump epoch of %s: %w", in.Cluster, err)
	}
	rec, err := r.casOutcome(in.Cluster, in.Epoch, v)
	if err != nil {
		return schemas.BumpEpochResult{}, err
	}
	if v[0] == "bumped" {
		r.waitReplica(ctx, rdb, in.Cluster)
		r.logger().Warn("epoch bumped: primary role taken", zap.String("cluster", in.Cluster),
			zap.Int64("epoch", rec.Epoch), zap.String("fenced", in.Failed))
	}
	return schemas.BumpEpochResult{Record: rec}, nil
}

// casOutcome reads the answer of a compare-and-set script: the record it
// left, or the error of a record at another epoch.
func (r *Routing) casOutcome(cluster string, epoch int64, v []string) (schemas.RoutingRecord, error) {
	if len(v) != 2 {
		return schemas.RoutingRecord{}, fmt.Errorf("routing script of %s answered %q", cluster, v)
	}
	if v[0] == "missing" {
		return schemas.RoutingRecord{}, activities.InvalidInput("cluster", fmt.Sprintf("%s has no routing record: a failover needs one (the monitor creates it)", cluster))
	}
	rec, err := decodeRecord(v[1])
	if err != nil {
		return rec, err
	}
	switch v[0] {
	case "moved":
		return rec, activities.EpochMoved(cluster, epoch, rec.Epoch, fmt.Sprintf("it names primary %q, fenced %q", rec.Primary, rec.Fenced))
	case "taken":
		return rec, activities.EpochMoved(cluster, epoch, rec.Epoch, fmt.Sprintf("%s was published as primary at this epoch already", rec.Primary))
	}
	return rec, nil
}

// PublishPrimary sets the primary at in.Epoch (compare-and-set on the epoch,
// idempotent), waits for a Redis replica to have it, and repoints and
// reloads pgbouncer where the topology names one.
func (r *Routing) PublishPrimary(ctx context.Context, in schemas.PublishPrimaryInput) (schemas.PublishPrimaryResult, error) {
	r, err := serving(r, in.Cluster)
	if err != nil {
		return schemas.PublishPrimaryResult{}, err
	}
	node, addr, rdb, err := r.primaryStore(ctx, in.Cluster, in.Primary)
	if err != nil {
		return schemas.PublishPrimaryResult{}, err
	}
	lease := r.Topology.Failover.LeaseOrDefault()
	v, err := publishPrimaryScript.Run(ctx, rdb, []string{schemas.RoutingKey(in.Cluster)},
		in.Epoch, in.Primary, addr, time.Now().UTC().Format(time.RFC3339Nano),
		schemas.LeaseKey(in.Cluster, ""), lease.Milliseconds()).StringSlice()
	if err != nil {
		return schemas.PublishPrimaryResult{}, fmt.Errorf("publish primary of %s: %w", in.Cluster, err)
	}
	rec, err := r.casOutcome(in.Cluster, in.Epoch, v)
	if err != nil {
		return schemas.PublishPrimaryResult{}, err
	}
	r.waitReplica(ctx, rdb, in.Cluster)
	if v[0] == "published" {
		r.logger().Warn("new primary published", zap.String("cluster", in.Cluster),
			zap.Int64("epoch", rec.Epoch), zap.String("primary", in.Primary), zap.String("addr", addr))
	}
	res := schemas.PublishPrimaryResult{Record: rec}
	for _, b := range r.Topology.Failover.PgBouncer {
		if err := repointPgBouncer(ctx, b, r.Clients.Secrets, node, addr); err != nil {
			return res, err
		}
		res.PgBouncerReloaded = true
	}
	return res, nil
}

// waitReplica waits briefly for a Redis replica to acknowledge the writes
// so far. A master without a replica cannot do better: that is logged, not
// failed, since the record is still the one in force.
func (r *Routing) waitReplica(ctx context.Context, rdb *redis.Client, cluster string) {
	n, err := rdb.Wait(ctx, 1, replicaWait).Result()
	if err != nil || n < 1 {
		r.logger().Warn("routing record not yet on a Redis replica", zap.String("cluster", cluster),
			zap.Int64("replicas", n), zap.Error(err))
	}
}

// RecordEvent appends an event to the cluster's history and counts it in
// the metrics. The same event recorded twice (a retried attempt) is stored
// once.
func (r *Routing) RecordEvent(ctx context.Context, in schemas.RecordEventInput) (schemas.RecordEventResult, error) {
	e := in.Event
	rdb, err := r.store(ctx, e.Cluster)
	if err != nil {
		return schemas.RecordEventResult{}, err
	}
	body, err := json.Marshal(e)
	if err != nil {
		return schemas.RecordEventResult{}, err
	}
	pushed, err := recordEventScript.Run(ctx, rdb, []string{schemas.HistoryKey(e.Cluster)}, string(body), historyLength).Int()
	if err != nil {
		return schemas.RecordEventResult{}, fmt.Errorf("record %s event of %s: %w", e.Kind, e.Cluster, err)
	}
	if pushed == 1 && r.Metrics != nil {
		r.Metrics.HAEvents.WithLabelValues(e.Cluster, e.Kind, e.Outcome).Inc()
		r.Metrics.HAEventSeconds.WithLabelValues(e.Cluster, e.Kind).Observe(e.Took.Seconds())
	}
	return schemas.RecordEventResult{}, nil
}

// historyLength is how many events a cluster's history keeps.
const historyLength = 1000

// recordEventScript pushes ARGV[1] unless one of the newest events is the
// same, and trims the list to ARGV[2] entries. It answers 1 when it pushed.
var recordEventScript = redis.NewScript(`
for _, v in ipairs(redis.call('LRANGE', KEYS[1], 0, 19)) do
  if v == ARGV[1] then return 0 end
end
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return 1
`)

// ListHistory returns the newest events of the cluster's history. An entry
// that does not parse is shown as such rather than hidden.
func (r *Routing) ListHistory(ctx context.Context, in schemas.ListHistoryInput) (schemas.ListHistoryResult, error) {
	r, err := serving(r, in.Cluster)
	if err != nil {
		return schemas.ListHistoryResult{}, err
	}
	limit := in.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, historyLength)
	rdb, err := r.store(ctx, in.Cluster)
	if err != nil {
		return schemas.ListHistoryResult{}, err
	}
	raws, err := rdb.LRange(ctx, schemas.HistoryKey(in.Cluster), 0, int64(limit-1)).Result()
	if err != nil {
		return schemas.ListHistoryResult{}, fmt.Errorf("read history of %s: %w", in.Cluster, err)
	}
	res := schemas.ListHistoryResult{Events: make([]schemas.HAEvent, 0, len(raws))}
	for _, raw := range raws {
		var e schemas.HAEvent
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			e = schemas.HAEvent{Cluster: in.Cluster, Kind: "unreadable", Detail: fmt.Sprintf("%v: %.200s", err, raw)}
		}
		res.Events = append(res.Events, e)
	}
	return res, nil
}

// primaryStore checks the cluster and the primary to name, and returns the
// primary, its address and the routing store's client.
func (r *Routing) primaryStore(ctx context.Context, cluster, primary string) (schemas.PostgresNode, string, *redis.Client, error) {
	node, ok := r.Topology.PostgresNode(primary)
	if !ok {
		return node, "", nil, activities.InvalidInput("primary", fmt.Sprintf("%q is not a PostgreSQL node of cluster %s", primary, r.Topology.Cluster))
	}
	addr, err := nodeAddr(node)
	if err != nil {
		return node, "", nil, err
	}
	rdb, err := r.store(ctx, cluster)
	return node, addr, rdb, err
}

// store checks the cluster and returns the routing store's client.
func (r *Routing) store(ctx context.Context, cluster string) (*redis.Client, error) {
	if _, err := activities.Resolve(r.Topology, cluster); err != nil {
		return nil, err
	}
	return r.Clients.RoutingStore(ctx)
}

func (r *Routing) logger() *zap.Logger {
	if r.Logger == nil {
		return zap.NewNop()
	}
	return r.Logger
}

// decodeRecord parses a stored routing record; one that does not parse is
// not guessed at.
func decodeRecord(raw string) (schemas.RoutingRecord, error) {
	var rec schemas.RoutingRecord
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		return rec, activities.Corrupt(fmt.Sprintf("routing record does not parse (%v): %.200s; fix or delete it with redis-cli", err, raw))
	}
	return rec, nil
}

// nodeAddr is a node's host:port as its DSN names it.
func nodeAddr(n schemas.PostgresNode) (string, error) {
	host, port, err := nodeHostPort(n)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port))), nil
}

// nodeHostPort reads the first host and port of a node's DSN.
func nodeHostPort(n schemas.PostgresNode) (string, uint16, error) {
	cfg, err := pgx.ParseConfig(n.DSN)
	if err != nil {
		return "", 0, activities.InvalidInput("dsn", fmt.Sprintf("of %s: %v", n.Name, err))
	}
	return cfg.Host, cfg.Port, nil
}
