package activities

import (
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/schemas"
)

// Retryability is decided here and only here: an error is retried unless it
// is made with one of these constructors. Bad input, an unknown cluster or a
// task sent to the wrong region cannot succeed on a later attempt, so retrying
// would only hide the mistake from the operator.

// invalidInput reports an input field that does not validate.
func invalidInput(field, problem string) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("%s: %s", field, problem), schemas.ErrInvalidInput, nil)
}

// unknownCluster reports a cluster name this worker's topology does not define.
func unknownCluster(name, served string) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("cluster %q is unknown: this worker serves %q (check the name, or the worker's --topology)", name, served),
		schemas.ErrUnknownCluster, nil)
}

// corrupt reports data that is not what it should be: a checksum or size
// mismatch. Retrying would read the same wrong bytes.
func corrupt(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, schemas.ErrCorrupt, nil)
}
