package activities

import (
	"context"

	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/schemas"
)

// Nodes acts on the PostgreSQL nodes of the worker's region: the steps of a
// failover, a switchover and a rejoin. Its activities run on the region's
// task queue, next to the nodes, because fencing and rewinding need the
// node's data directory.
type Nodes struct {
	Topology *schemas.Topology
	Region   string
	Clients  *Clients
	Logger   *zap.Logger
	// PGBin is the directory of pg_ctl and pg_rewind.
	PGBin string
}

// ConfirmDown gives a second opinion on a node's failure from this region.
func (n *Nodes) ConfirmDown(ctx context.Context, in schemas.ConfirmDownInput) (schemas.ConfirmDownResult, error) {
	return schemas.ConfirmDownResult{}, errTODO
}

// FenceNode stops a former primary from taking writes: stop its postmaster
// and mark it standby where the data directory is local, else make it
// read-only over SQL, else report it unreachable.
func (n *Nodes) FenceNode(ctx context.Context, in schemas.FenceNodeInput) (schemas.FenceNodeResult, error) {
	return schemas.FenceNodeResult{}, errTODO
}

// Promote promotes a replica (pg_promote), idempotently.
func (n *Nodes) Promote(ctx context.Context, in schemas.PromoteInput) (schemas.PromoteResult, error) {
	return schemas.PromoteResult{}, errTODO
}

// Repoint makes a replica stream from the given primary.
func (n *Nodes) Repoint(ctx context.Context, in schemas.RepointInput) (schemas.RepointResult, error) {
	return schemas.RepointResult{}, errTODO
}

// VerifyWrite commits one row on the new primary.
func (n *Nodes) VerifyWrite(ctx context.Context, in schemas.VerifyWriteInput) (schemas.VerifyWriteResult, error) {
	return schemas.VerifyWriteResult{}, errTODO
}

// WaitCaughtUp waits, heartbeating, until a replica has replayed up to LSN.
func (n *Nodes) WaitCaughtUp(ctx context.Context, in schemas.WaitCaughtUpInput) (schemas.WaitCaughtUpResult, error) {
	return schemas.WaitCaughtUpResult{}, errTODO
}

// RejoinNode makes a former primary follow the primary, with pg_rewind.
func (n *Nodes) RejoinNode(ctx context.Context, in schemas.RejoinNodeInput) (schemas.RejoinNodeResult, error) {
	return schemas.RejoinNodeResult{}, errTODO
}
