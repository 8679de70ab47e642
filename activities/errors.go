package activities

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/schemas"
)

// Retryability is decided here and only here: an error is retried unless it
// is made with one of these constructors. Bad input, an unknown cluster or a
// task sent to the wrong region cannot succeed on a later attempt, so retrying
// would only hide the mistake from the operator.

// InvalidInput reports an input field that does not validate.
func InvalidInput(field, problem string) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("%s: %s", field, problem), schemas.ErrInvalidInput, nil)
}

// UnknownCluster reports a cluster name this worker's topology does not define.
func UnknownCluster(name, served string) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("cluster %q is unknown: this worker serves %q (check the name, or the worker's --topology)", name, served),
		schemas.ErrUnknownCluster, nil)
}

// Corrupt reports data that is not what it should be: a checksum or size
// mismatch. Retrying would read the same wrong bytes.
func Corrupt(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, schemas.ErrCorrupt, nil)
}

// NoSuchBackup reports a backup with no manifest, naming the newest ones
// that do exist so the operator can pick one.
func NoSuchBackup(cluster, what string, ids []string) error {
	newest := ids[max(len(ids)-5, 0):]
	list := "none"
	if len(newest) > 0 {
		list = strings.Join(newest, ", ")
	}
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("no such backup: %s of cluster %s has no manifest; the newest backups are: %s", what, cluster, list),
		schemas.ErrNoSuchBackup, nil)
}

// EpochMoved reports a routing record found at another epoch than the step
// was given: another failover or switchover acted, and this one must stop.
func EpochMoved(cluster string, want, found int64, detail string) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("routing record of %s is at epoch %d, not %d: %s; another failover or switchover acted (lifeboat history %s)",
			cluster, found, want, detail, cluster),
		schemas.ErrEpochMoved, nil)
}

// CannotRejoin reports a node that cannot be made to follow the primary
// without an operator: the reason says what to do.
func CannotRejoin(node, reason string) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("%s cannot rejoin: %s", node, reason), schemas.ErrCannotRejoin, nil)
}

// noCandidate reports a failover with no replica fit to promote.
func noCandidate(cluster, reason string) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("no replica of %s can be promoted: %s", cluster, reason), schemas.ErrNoCandidate, nil)
}
