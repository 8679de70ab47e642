package ha

import (
	"github.com/runnerhub/lifeboat/activities"
	"github.com/runnerhub/lifeboat/schemas"
)

// The activities the Failover workflow runs take the cluster from their
// input and work on a copy of their struct bound to that cluster's
// topology, so a drill rehearses the very code that fails production over.

// bindable is an activity struct (through its pointer) that works on one
// cluster's topology.
type bindable[T any] interface {
	*T
	// topology is where the struct keeps its topology.
	topology() **schemas.Topology
}

// serving returns a copy of s bound to the cluster called name.
func serving[T any, P bindable[T]](s P, name string) (P, error) {
	t, err := activities.Resolve(*s.topology(), name)
	if err != nil {
		return nil, err
	}
	c := *s
	*P(&c).topology() = t
	return &c, nil
}

func (n *Nodes) topology() **schemas.Topology   { return &n.Topology }
func (r *Routing) topology() **schemas.Topology { return &r.Topology }
func (p *Probe) topology() **schemas.Topology   { return &p.Topology }
