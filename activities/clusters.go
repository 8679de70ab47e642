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

// serving returns n bound to the cluster called name.
func (n *Nodes) serving(name string) (*Nodes, error) {
	t, err := resolve(n.Topology, name)
	if err != nil {
		return nil, err
	}
	c := *n
	c.Topology = t
	return &c, nil
}

// serving returns r bound to the cluster called name.
func (r *Routing) serving(name string) (*Routing, error) {
	t, err := resolve(r.Topology, name)
	if err != nil {
		return nil, err
	}
	c := *r
	c.Topology = t
	return &c, nil
}

// serving returns p bound to the cluster called name.
func (p *Probe) serving(name string) (*Probe, error) {
	t, err := resolve(p.Topology, name)
	if err != nil {
		return nil, err
	}
	c := *p
	c.Topology = t
	return &c, nil
}
