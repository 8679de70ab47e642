package activities

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/runnerhub/lifeboat/schemas"
)

// errTODO marks a contract whose body is being written.
var errTODO = errors.New("not implemented yet")

// Routing keeps a cluster's routing record, its history and its alerts in the
// routing store (the Redis master, found through the sentinels). Its
// activities run on the global task queue.
type Routing struct {
	Topology *schemas.Topology
	Clients  *Clients
	Logger   *zap.Logger
	// Metrics may be nil.
	Metrics *Metrics
}

// ReadRouting returns the routing record and the primary's remaining lease.
func (r *Routing) ReadRouting(ctx context.Context, in schemas.ReadRoutingInput) (schemas.ReadRoutingResult, error) {
	return schemas.ReadRoutingResult{}, errTODO
}

// InitRouting creates the record at epoch 1 naming in.Primary unless one
// exists, and returns the record in force.
func (r *Routing) InitRouting(ctx context.Context, in schemas.InitRoutingInput) (schemas.InitRoutingResult, error) {
	return schemas.InitRoutingResult{}, errTODO
}

// BumpEpoch atomically moves the record from in.Epoch to in.Epoch+1 with no
// primary and Fenced = in.Failed. Repeating it after success returns the same
// record; any other epoch is a non-retryable ErrEpochMoved.
func (r *Routing) BumpEpoch(ctx context.Context, in schemas.BumpEpochInput) (schemas.BumpEpochResult, error) {
	return schemas.BumpEpochResult{}, errTODO
}

// PublishPrimary sets the primary at in.Epoch (compare-and-set on the epoch,
// idempotent), waits for a Redis replica to have it, and repoints and
// reloads pgbouncer where the topology names one.
func (r *Routing) PublishPrimary(ctx context.Context, in schemas.PublishPrimaryInput) (schemas.PublishPrimaryResult, error) {
	return schemas.PublishPrimaryResult{}, errTODO
}

// RecordEvent appends an event to the cluster's history and counts it in
// the metrics.
func (r *Routing) RecordEvent(ctx context.Context, in schemas.RecordEventInput) (schemas.RecordEventResult, error) {
	return schemas.RecordEventResult{}, errTODO
}

// ListHistory returns the newest events of the cluster's history.
func (r *Routing) ListHistory(ctx context.Context, in schemas.ListHistoryInput) (schemas.ListHistoryResult, error) {
	return schemas.ListHistoryResult{}, errTODO
}

// Alert logs an alert, counts it, and posts it to the topology's webhook.
func (r *Routing) Alert(ctx context.Context, in schemas.AlertInput) (schemas.AlertResult, error) {
	return schemas.AlertResult{}, errTODO
}

// SentinelFailover asks the sentinels, one after another, to fail over the
// Redis master (SENTINEL FAILOVER).
func (r *Routing) SentinelFailover(ctx context.Context, in schemas.SentinelFailoverInput) (schemas.SentinelFailoverResult, error) {
	return schemas.SentinelFailoverResult{}, errTODO
}
