package activities

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"go.temporal.io/sdk/temporal"

	"github.com/runnerhub/lifeboat/schemas"
)

// Retryability of an activity's error is decided here and only here: an
// error is retried unless it is made with one of these constructors. Bad
// input, an unknown cluster, damaged data or a missing key cannot succeed on
// a later attempt, so retrying would only hide the mistake from the
// operator. A sealed stream's errors are sorted by pipeline.IsCorrupt and
// pipeline.IsWrongKey first. The type names are schemas' Err constants,
// which the workflows' retry policies list.

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

// WrongKey reports a sealed object none of the identities given can open.
func WrongKey(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, schemas.ErrWrongKey, nil)
}

// StoreFull makes an upload that ran out of space a non-retryable StoreFull
// error: a retry streams the same backup into the same full disk. Other
// errors are returned as they are.
func StoreFull(err error) error {
	if !errors.Is(err, syscall.ENOSPC) {
		return err
	}
	return temporal.NewNonRetryableApplicationError(
		err.Error()+": the store is full; free space in it (retention, a larger volume) and back up again", schemas.ErrStoreFull, err)
}

// TargetNotEmpty reports a restore target that holds files: a restore never
// writes over them.
func TargetNotEmpty(dir, first string) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("target %s is not empty (it holds %s…): a restore never writes over existing files; choose a new directory or empty this one", dir, first),
		schemas.ErrTargetNotEmpty, nil)
}

// RecoveryFailed reports a restored server that stopped during recovery;
// logTail is the end of its log.
func RecoveryFailed(logTail string, cause error) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("the restored server stopped during recovery: %s", logTail), schemas.ErrRecoveryFailed, cause)
}

// NoSuchDrill reports a drill report asked for by ID that the store does not
// hold. It has the type of a missing backup: what was asked for is not there.
func NoSuchDrill(cluster, id string) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("no drill %s of cluster %s in the store (lifeboat drills %s lists them)", id, cluster, cluster), schemas.ErrNoSuchBackup, nil)
}
