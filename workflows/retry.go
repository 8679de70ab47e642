package workflows

import (
	"errors"
	"fmt"
	"slices"

	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/schemas"
)

// The error types no retry of the same activity can cure, by family, as
// the activities make them (package activities' constructors). Every retry
// policy of the workflows takes its non-retryable types from these lists.
var (
	// nonRetryable is bad input and an unknown cluster: every activity's.
	nonRetryable = []string{schemas.ErrInvalidInput, schemas.ErrUnknownCluster}
	// failoverNonRetryable adds what tells a failover step to stop: someone
	// else moved the epoch, nothing can be promoted, a node cannot rejoin.
	failoverNonRetryable = slices.Concat(nonRetryable, []string{schemas.ErrEpochMoved, schemas.ErrNoCandidate, schemas.ErrCannotRejoin})
	// replicateNonRetryable adds a damaged or missing backup.
	replicateNonRetryable = slices.Concat([]string{schemas.ErrCorrupt, schemas.ErrNoSuchBackup}, nonRetryable)
	// restoreNonRetryable adds what no second attempt of a restore mends.
	restoreNonRetryable = slices.Concat([]string{
		schemas.ErrCorrupt, schemas.ErrWrongKey, schemas.ErrNoSuchBackup, schemas.ErrTargetNotEmpty, schemas.ErrRecoveryFailed,
	}, nonRetryable)
)

// failure is how a workflow fails for good: an application error of type
// typ (one of schemas' Err constants) that no retry policy retries, with
// the details callers read from it.
func failure(typ, msg string, cause error, details ...any) error {
	return temporal.NewNonRetryableApplicationError(msg, typ, cause, details...)
}

// invalidInput is a non-retryable error naming the input field at fault: a
// workflow that cannot start correctly must fail at once, not retry for ever.
func invalidInput(field, problem string) error {
	return failure(schemas.ErrInvalidInput, fmt.Sprintf("invalid input: %s: %s", field, problem), nil)
}

// wrap adds context to an activity's error. A non-retryable application
// error keeps its type at the top, so the workflow fails with the type that
// callers and operators look for (UnknownCluster, InvalidInput, ...) rather
// than a generic wrapper.
func wrap(err error, context string) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() {
		return failure(appErr.Type(), context+": "+appErr.Message(), err)
	}
	return fmt.Errorf("%s: %w", context, err)
}
