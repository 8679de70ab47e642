package walarchive

import (
	"context"
	"fmt"

	"github.com/runnerhub/lifeboat/activities/objstore"
	"github.com/runnerhub/lifeboat/activities/pipeline"
	"github.com/runnerhub/lifeboat/schemas"
)

// SecretFunc reads a secret the topology names.
type SecretFunc func(*schemas.Secret) (string, error)

// FromTopology builds the archive of a topology's cluster, with the replica
// store when the topology names one. The identity is
// read only when withIdentity is set: a server that only pushes WAL needs
// no private key on its host.
func FromTopology(ctx context.Context, topo *schemas.Topology, secret SecretFunc, withIdentity bool) (*Archive, error) {
	store, err := objstore.Open(ctx, topo.Backup.Store, objstore.SecretFunc(secret))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	recipients, err := pipeline.ParseRecipients(topo.Backup.Recipients)
	if err != nil {
		return nil, fmt.Errorf("backup.recipients: %w", err)
	}
	a := &Archive{Cluster: topo.Cluster, Store: store, Recipients: recipients}
	if topo.Backup.Replica != nil {
		if a.Replica, err = objstore.Open(ctx, *topo.Backup.Replica, objstore.SecretFunc(secret)); err != nil {
			return nil, fmt.Errorf("open replica store: %w", err)
		}
	}
	if withIdentity {
		text, err := secret(topo.Backup.Identity)
		if err != nil {
			return nil, fmt.Errorf("backup.identity: %w", err)
		}
		if a.Identities, err = pipeline.ParseIdentities(text); err != nil {
			return nil, fmt.Errorf("backup.identity: %w", err)
		}
	}
	return a, nil
}
