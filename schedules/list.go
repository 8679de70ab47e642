package schedules

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/client"

	"github.com/runnerhub/lifeboat/schemas"
)

// Entry is a schedule as the server describes it.
type Entry struct {
	ID   string
	Desc *client.ScheduleDescription
}

// List describes the schedules of cluster, sorted by ID: those its
// LifeboatCluster attribute names, and those under its prefix, which Plan
// owns whatever their attributes; every schedule when cluster is "". One
// deleted since the list was read is left out.
func List(ctx context.Context, c Client, cluster string) ([]Entry, error) {
	query := ""
	if cluster != "" {
		// The check makes the name safe to put in the query unquoted.
		if err := schemas.CheckClusterName(cluster); err != nil {
			return nil, err
		}
		query = fmt.Sprintf("%s = '%s' OR ScheduleId STARTS_WITH '%s'",
			schemas.SearchAttrCluster, cluster, schemas.BackupSchedulePrefix(cluster))
	}
	ids, err := listIDs(ctx, c, query)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, id := range ids {
		d, err := c.Describe(ctx, id)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("describe schedule %s: %w", id, err)
		}
		out = append(out, Entry{ID: id, Desc: d})
	}
	return out, nil
}
