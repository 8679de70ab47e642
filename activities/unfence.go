package activities

import (
	"context"

	"github.com/runnerhub/lifeboat/schemas"
)

// UnfenceNode undoes FenceNode for a failover that promoted nobody: the old
// primary is the best there is, so it takes writes again.
func (n *Nodes) UnfenceNode(ctx context.Context, in schemas.UnfenceNodeInput) (schemas.UnfenceNodeResult, error) {
	return schemas.UnfenceNodeResult{}, errTODO
}
