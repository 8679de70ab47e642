package schemas

// Error types of the non-retryable application errors that activities and
// workflows return. An error of one of these types cannot succeed on a
// later attempt with the same input; callers and operators match on them.
const (
	// ErrInvalidInput marks a workflow or activity input that does not validate.
	ErrInvalidInput = "InvalidInput"
	// ErrUnknownCluster marks a cluster name no worker's topology defines.
	ErrUnknownCluster = "UnknownCluster"

	// ErrCorrupt marks stored data whose size or checksum is wrong.
	ErrCorrupt = "Corrupt"
	// ErrWrongKey marks a backup none of the given age identities can open.
	ErrWrongKey = "WrongKey"
	// ErrNoSuchBackup marks a backup ID with no manifest in the store.
	ErrNoSuchBackup = "NoSuchBackup"
	// ErrTargetNotEmpty marks a restore into a directory that holds files.
	ErrTargetNotEmpty = "TargetNotEmpty"
	// ErrStoreFull marks an upload the store had no space for.
	ErrStoreFull = "StoreFull"
	// ErrRecoveryFailed marks a restored server that stopped during recovery.
	ErrRecoveryFailed = "RecoveryFailed"
	// ErrNoBackupSource marks a database backup with no healthy node to read.
	ErrNoBackupSource = "NoBackupSource"
	// ErrDrillFailed is the error type of a drill that ran but did not pass.
	ErrDrillFailed = "DrillFailed"

	// ErrEpochMoved marks a fencing or publishing step that found the routing
	// record at an epoch other than the one it was given: someone else acted.
	ErrEpochMoved = "EpochMoved"
	// ErrNoCandidate marks a failover with no replica fit to promote.
	ErrNoCandidate = "NoCandidate"
	// ErrCannotRejoin marks a node that cannot be made to follow the primary.
	ErrCannotRejoin = "CannotRejoin"
	// ErrNotConfirmed marks a failover whose second opinion found the
	// primary alive.
	ErrNotConfirmed = "NotConfirmed"
)
