package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/schemas"
)

// Search attribute keys, registered by the local stack at start.
var (
	clusterAttr = temporal.NewSearchAttributeKeyKeyword(schemas.SearchAttrCluster)
	kindAttr    = temporal.NewSearchAttributeKeyKeyword(schemas.SearchAttrKind)
	stateAttr   = temporal.NewSearchAttributeKeyKeyword(schemas.SearchAttrState)
)

// invalidInput is a non-retryable error naming the input field at fault: a
// workflow that cannot start correctly must fail at once, not retry for ever.
func invalidInput(field, problem string) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("invalid input: %s: %s", field, problem), schemas.ErrInvalidInput, nil)
}

// wrap adds context to an activity's error. A non-retryable application
// error keeps its type at the top, so the workflow fails with the type that
// callers and operators look for (UnknownCluster, InvalidInput, ...) rather
// than a generic wrapper.
func wrap(err error, context string) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() {
		return temporal.NewNonRetryableApplicationError(context+": "+appErr.Message(), appErr.Type(), err)
	}
	return fmt.Errorf("%s: %w", context, err)
}
