package activities

import (
	"context"

	"github.com/runnerhub/lifeboat/schemas"
)

// PublishRedisMaster records in the routing record the Redis master the
// sentinels agree on, for clients that route Redis through it too.
func (r *Routing) PublishRedisMaster(ctx context.Context, in schemas.PublishRedisMasterInput) (schemas.PublishRedisMasterResult, error) {
	return schemas.PublishRedisMasterResult{}, errTODO
}
