package policy

import "github.com/runnerhub/lifeboat/schemas"

// Synchronous reports whether a standby whose primary lists it in sync
// state state counts as synchronous: a commit the primary acknowledged
// waited for it or for another standby of its quorum. "sync" (named by
// priority) and "quorum" (named in ANY n (…)) do; "potential" and "async"
// do not. A quorum standby of ANY 1 (a, b) may lack the newest commit,
// which b holds, but a failover that reaches both promotes the one with
// the highest received LSN, so a single failure loses no acknowledged
// commit, as with a "sync" standby.
func Synchronous(state string) bool {
	return state == schemas.SyncStateSync || state == schemas.SyncStateQuorum
}
