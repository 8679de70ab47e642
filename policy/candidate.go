package policy

import (
	"fmt"
	"github.com/runnerhub/lifeboat/schemas"
	"maps"
	"slices"
	"strings"
)

// CandidateRules are what ChooseCandidate weighs besides the replicas' state.
type CandidateRules struct {
	// Failed is the node that lost the primary role; never chosen.
	Failed string
	// LastPrimaryLSN is the failed primary's last known WAL position, the
	// measure of how much a candidate would lose; "" when unknown.
	LastPrimaryLSN string
	// Synchronous lists the standbys the primary last reported as
	// synchronous: they hold every acknowledged commit.
	Synchronous []string
	// MaxLagBytes is the largest loss a candidate may bring, unless Force.
	MaxLagBytes int64
	// PreferRegion ranks replicas of this region first after the synchronous
	// ones (the failed primary's region, or the DR region on escalation).
	PreferRegion string
	// OnlyRegion, when set, restricts the choice to one region.
	OnlyRegion string
	// Force allows a candidate beyond MaxLagBytes.
	Force bool
}

// ChooseCandidate picks the replica to promote: among healthy replicas
// within the allowed lag, a synchronous standby first, then the highest
// received LSN, then priority, then the preferred region, then the name (so
// the choice is deterministic). nodes is a fresh probe of the cluster; topo
// gives priorities and regions. It returns an error naming every replica and
// why it was refused when none fits.
func ChooseCandidate(topo schemas.Topology, nodes []schemas.NodeHealth, rules CandidateRules) (schemas.CandidateChoice, error) {
	type cand struct {
		h        schemas.NodeHealth
		received schemas.LSN
		sync     bool
		priority int
		loss     int64
	}
	var last schemas.LSN
	if rules.LastPrimaryLSN != "" {
		l, err := schemas.ParseLSN(rules.LastPrimaryLSN)
		if err != nil {
			return schemas.CandidateChoice{}, fmt.Errorf("last primary LSN: %w", err)
		}
		last = l
	}
	rejected := map[string]string{}
	var cands []cand
	for _, h := range nodes {
		if h.Kind != schemas.KindPostgres || h.Name == rules.Failed {
			continue
		}
		node, ok := topo.PostgresNode(h.Name)
		if !ok {
			continue
		}
		switch {
		case rules.OnlyRegion != "" && h.Region != rules.OnlyRegion:
			rejected[h.Name] = "not in region " + rules.OnlyRegion
			continue
		case h.Error != "" && h.Role == schemas.RoleUnknown:
			rejected[h.Name] = "unreachable: " + h.Error
			continue
		case h.Role == schemas.RolePrimary:
			rejected[h.Name] = "already a primary: a second writable primary must not exist"
			continue
		case h.Role != schemas.RoleReplica:
			rejected[h.Name] = "not a replica"
			continue
		}
		recv := h.ReceivedLSN
		if recv == "" {
			recv = h.ReplayedLSN
		}
		received, err := schemas.ParseLSN(recv)
		if err != nil || recv == "" {
			rejected[h.Name] = "no received WAL position"
			continue
		}
		c := cand{h: h, received: received, sync: slices.Contains(rules.Synchronous, h.Name), priority: node.Priority}
		if last > received {
			c.loss = int64(last - received)
		}
		if c.loss > rules.MaxLagBytes && !rules.Force {
			rejected[h.Name] = fmt.Sprintf("%d bytes behind the failed primary, more than the allowed %d (use force to promote it anyway)", c.loss, rules.MaxLagBytes)
			continue
		}
		cands = append(cands, c)
	}
	if len(cands) == 0 {
		return schemas.CandidateChoice{Rejected: rejected}, fmt.Errorf("no replica can be promoted: %s", describeRejected(rejected))
	}
	slices.SortFunc(cands, func(a, b cand) int {
		switch {
		case a.sync != b.sync:
			return boolFirst(a.sync)
		case a.received != b.received:
			if a.received > b.received {
				return -1
			}
			return 1
		case a.priority != b.priority:
			return b.priority - a.priority
		case (a.h.Region == rules.PreferRegion) != (b.h.Region == rules.PreferRegion):
			return boolFirst(a.h.Region == rules.PreferRegion)
		}
		return strings.Compare(a.h.Name, b.h.Name)
	})
	best := cands[0]
	for _, c := range cands[1:] {
		rejected[c.h.Name] = "ranked below " + best.h.Name
	}
	reason := fmt.Sprintf("highest received LSN %s", best.received)
	if best.sync {
		reason = "synchronous standby, received LSN " + best.received.String()
	}
	return schemas.CandidateChoice{
		Node: best.h.Name, Region: best.h.Region, Received: best.received.String(),
		LossBytes: best.loss, Reason: reason, Rejected: rejected,
	}, nil
}

func boolFirst(a bool) int {
	if a {
		return -1
	}
	return 1
}

func describeRejected(rejected map[string]string) string {
	if len(rejected) == 0 {
		return "the cluster has no other PostgreSQL node"
	}
	names := slices.Sorted(maps.Keys(rejected)) //workflowcheck:ignore (sorted)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ": " + rejected[n]
	}
	return strings.Join(parts, "; ")
}
