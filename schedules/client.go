package schedules

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

// Client is the part of a Temporal schedule client the reconciler uses,
// each schedule named by its ID. SDKClient makes one of the SDK's.
type Client interface {
	// Describe returns schedule id as the server has it; the error is a
	// *serviceerror.NotFound when there is no such schedule.
	Describe(ctx context.Context, id string) (*client.ScheduleDescription, error)
	// List returns the IDs of the schedules a visibility query matches
	// ("" for all), in any order. Visibility lags: a schedule created or
	// deleted a moment ago may be missing, or listed still.
	List(ctx context.Context, query string) ([]string, error)
	// Create creates the schedule opts describe; an error when its ID
	// is taken.
	Create(ctx context.Context, opts client.ScheduleOptions) error
	// Update replaces schedule id with what opts.DoUpdate makes of its
	// current description.
	Update(ctx context.Context, id string, opts client.ScheduleUpdateOptions) error
	// Delete deletes schedule id; the error is a *serviceerror.NotFound
	// when there is no such schedule.
	Delete(ctx context.Context, id string) error
}

// SDKClient is the Client of the SDK's schedule client sc.
func SDKClient(sc client.ScheduleClient) Client { return sdkClient{sc} }

type sdkClient struct{ sc client.ScheduleClient }

var _ Client = sdkClient{}

func (c sdkClient) Describe(ctx context.Context, id string) (*client.ScheduleDescription, error) {
	return c.sc.GetHandle(ctx, id).Describe(ctx)
}

func (c sdkClient) List(ctx context.Context, query string) ([]string, error) {
	it, err := c.sc.List(ctx, client.ScheduleListOptions{Query: query})
	if err != nil {
		return nil, err
	}
	var ids []string
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, err
		}
		ids = append(ids, e.ID)
	}
	return ids, nil
}

func (c sdkClient) Create(ctx context.Context, opts client.ScheduleOptions) error {
	_, err := c.sc.Create(ctx, opts)
	return err
}

func (c sdkClient) Update(ctx context.Context, id string, opts client.ScheduleUpdateOptions) error {
	return c.sc.GetHandle(ctx, id).Update(ctx, opts)
}

func (c sdkClient) Delete(ctx context.Context, id string) error {
	return c.sc.GetHandle(ctx, id).Delete(ctx)
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// listIDs returns the IDs a visibility query matches, sorted, each once.
func listIDs(ctx context.Context, c Client, query string) ([]string, error) {
	ids, err := c.List(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}
