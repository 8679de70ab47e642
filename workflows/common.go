package workflows

import (
	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/schemas"
)

// Search attribute keys, registered by the local stack at start.
var (
	clusterAttr = temporal.NewSearchAttributeKeyKeyword(schemas.SearchAttrCluster)
	kindAttr    = temporal.NewSearchAttributeKeyKeyword(schemas.SearchAttrKind)
	stateAttr   = temporal.NewSearchAttributeKeyKeyword(schemas.SearchAttrState)
)
