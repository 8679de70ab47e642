package schemas

// DefaultMaxLagBytes is the replication lag beyond which a replica is not
// promoted without force, when the topology does not set one.
const DefaultMaxLagBytes = 16 << 20

// MaxLag returns the lag a failover candidate may have, in bytes.
func (g Targets) MaxLag() int64 {
	if g.MaxLagBytes > 0 {
		return g.MaxLagBytes
	}
	return DefaultMaxLagBytes
}

// CandidateChoice is the replica to promote, with why, and every replica
// that was turned down with its reason.
type CandidateChoice struct {
	Node     string `json:"node"`
	Region   string `json:"region"`
	Received string `json:"received_lsn"`
	// LossBytes estimates the WAL the candidate lacks compared with the
	// failed primary's last known position; 0 when unknown or none.
	LossBytes int64  `json:"loss_bytes"`
	Reason    string `json:"reason"`
	// Rejected maps each replica not chosen to why not.
	Rejected map[string]string `json:"rejected,omitempty"`
}

// PostgresNode returns the PostgreSQL node called name and its region.
func (t *Topology) PostgresNode(name string) (PostgresNode, bool) {
	for _, r := range t.Regions {
		for _, n := range r.Postgres {
			if n.Name == name {
				return n, true
			}
		}
	}
	return PostgresNode{}, false
}

// node finds the node (of any kind) called name: its region and the
// criticality the topology gives it ("" when it gives none).
func (t *Topology) node(name string) (region, criticality string, ok bool) {
	for _, r := range t.Regions {
		for _, n := range r.Postgres {
			if n.Name == name {
				return r.Name, n.Criticality, true
			}
		}
		for _, n := range r.Redis {
			if n.Name == name {
				return r.Name, n.Criticality, true
			}
		}
		for _, n := range r.Sentinels {
			if n.Name == name {
				return r.Name, n.Criticality, true
			}
		}
	}
	return "", "", false
}

// NodeRegion returns the region of the node (of any kind) called name.
func (t *Topology) NodeRegion(name string) (string, bool) {
	region, _, ok := t.node(name)
	return region, ok
}

// NodeCriticality returns the criticality the topology gives the node
// called name, "" when it gives none.
func (t *Topology) NodeCriticality(name string) string {
	_, c, _ := t.node(name)
	return c
}
