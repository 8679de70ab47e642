package schedules

import (
	"context"
	"slices"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
)

// fakeClient is a schedule server in memory. It describes what Create and
// Update stored, as the server would, and lists what listed says when set:
// visibility may lag behind what Describe sees.
type fakeClient struct {
	t      *testing.T
	descs  map[string]*client.ScheduleDescription
	listed []string
	// failDescribe is the error Describe returns for any schedule.
	failDescribe error
	// queries are the visibility queries List was given; calls the
	// changes made, as "create ID", "update ID", "delete ID".
	queries []string
	calls   []string
}

var _ Client = (*fakeClient)(nil)

func newFake(t *testing.T) *fakeClient {
	return &fakeClient{t: t, descs: map[string]*client.ScheduleDescription{}}
}

func notFound(id string) error { return serviceerror.NewNotFound("schedule " + id + " not found") }

func (f *fakeClient) Describe(_ context.Context, id string) (*client.ScheduleDescription, error) {
	if f.failDescribe != nil {
		return nil, f.failDescribe
	}
	d, ok := f.descs[id]
	if !ok {
		return nil, notFound(id)
	}
	return d, nil
}

func (f *fakeClient) List(_ context.Context, query string) ([]string, error) {
	f.queries = append(f.queries, query)
	if f.listed != nil {
		return f.listed, nil
	}
	var ids []string
	for id := range f.descs {
		ids = append(ids, id)
	}
	return ids, nil
}

func (f *fakeClient) Create(_ context.Context, opts client.ScheduleOptions) error {
	f.calls = append(f.calls, "create "+opts.ID)
	if _, ok := f.descs[opts.ID]; ok {
		return serviceerror.NewAlreadyExists("schedule " + opts.ID + " exists")
	}
	f.descs[opts.ID] = stored(f.t, createdSchedule(opts), opts.TypedSearchAttributes, converter.GetDefaultDataConverter())
	return nil
}

func (f *fakeClient) Update(_ context.Context, id string, opts client.ScheduleUpdateOptions) error {
	f.calls = append(f.calls, "update "+id)
	d, ok := f.descs[id]
	if !ok {
		return notFound(id)
	}
	u, err := opts.DoUpdate(client.ScheduleUpdateInput{Description: *d})
	if err != nil {
		return err
	}
	attrs := d.TypedSearchAttributes
	if u.TypedSearchAttributes != nil {
		attrs = *u.TypedSearchAttributes
	}
	f.descs[id] = stored(f.t, *u.Schedule, attrs, converter.GetDefaultDataConverter())
	return nil
}

func (f *fakeClient) Delete(_ context.Context, id string) error {
	f.calls = append(f.calls, "delete "+id)
	if _, ok := f.descs[id]; !ok {
		return notFound(id)
	}
	delete(f.descs, id)
	return nil
}

// ids are the IDs of the stored schedules, sorted.
func (f *fakeClient) ids() []string {
	var ids []string
	for id := range f.descs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
