package activities

import "github.com/runnerhub/lifeboat/schemas"

// A worker serves its topology's cluster and, derived from it, the
// cluster's failover drill set (schemas.Topology.Resolve). The activities
// the Failover workflow runs take the cluster from their input and work on
// a copy of their struct bound to that cluster's topology, so a drill
// rehearses the very code that fails production over.

// resolve returns the topology of the cluster called name.
func resolve(main *schemas.Topology, name string) (*schemas.Topology, error) {
	if t, ok := main.Resolve(name); ok {
		return t, nil
	}
	return nil, unknownCluster(name, main.Cluster)
}

// bindable is an activity struct (through its pointer) that works on one
// cluster's topology.
type bindable[T any] interface {
	*T
	// topology is where the struct keeps its topology.
	topology() **schemas.Topology
}

func (n *Nodes) topology() **schemas.Topology   { return &n.Topology }
func (r *Routing) topology() **schemas.Topology { return &r.Topology }
func (p *Probe) topology() **schemas.Topology   { return &p.Topology }

// serving returns a copy of s bound to the cluster called name.
func serving[T any, P bindable[T]](s P, name string) (P, error) {
	t, err := resolve(*s.topology(), name)
	if err != nil {
		return nil, err
	}
	c := *s
	*P(&c).topology() = t
	return &c, nil
}
