package ha

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/schemas"
)

// setRedisMasterScript sets redis_master in the routing record, leaving the
// rest as it is, atomically: an epoch bump racing it is not undone.
var setRedisMasterScript = redis.NewScript(`
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
if rec['redis_master'] == ARGV[1] then return 1 end
rec['redis_master'] = ARGV[1]
redis.call('SET', KEYS[1], cjson.encode(rec))
return 2`)

// PublishRedisMaster records in the routing record the Redis master the
// sentinels agree on, so clients that route through the record find Redis
// there too. A cluster without a record yet is not an error: the monitor
// creates it and publishes again.
func (r *Routing) PublishRedisMaster(ctx context.Context, in schemas.PublishRedisMasterInput) (schemas.PublishRedisMasterResult, error) {
	if in.Master == "" {
		return schemas.PublishRedisMasterResult{}, activities.InvalidInput("master", "required")
	}
	rdb, err := r.store(ctx, in.Cluster)
	if err != nil {
		return schemas.PublishRedisMasterResult{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := setRedisMasterScript.Run(cctx, rdb, []string{schemas.RoutingKey(in.Cluster)}, in.Master).Int()
	if err != nil {
		return schemas.PublishRedisMasterResult{}, fmt.Errorf("publish the Redis master of %s: %w", in.Cluster, err)
	}
	if n == 2 {
		r.logger().Warn("redis master published", zap.String("cluster", in.Cluster), zap.String("master", in.Master))
	}
	return schemas.PublishRedisMasterResult{}, nil
}
