package coordinator

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/baton-upgrade/baton/coordinator/strategy"
)

// Probe is the answer of one voter to the diagnostic call (S5), as the
// coordinator saw it. A probe whose call failed has Reachable false and its
// other measurements are ignored.
type Probe struct {
	// ID is the member's Raft server ID.
	ID string
	// Voter is true when the member votes and so can become leader.
	Voter bool
	// Reachable is true when the diagnostic call answered.
	Reachable bool
	// Healthy is true when the member's health hook passed, or it has none.
	Healthy bool
	// AppliedIndex is the member's Raft applied index.
	AppliedIndex uint64
	// Upgraded is true when the member already runs the transaction's target
	// version, so handing leadership to it avoids a second handoff later.
	Upgraded bool
	// IdleCPU is the member's idle CPU share, from 0 to 1.
	IdleCPU float64
	// IdleMem is the member's idle memory share, from 0 to 1.
	IdleMem float64
}

// IdleWeights are the preset weights of S4's idle weight.
type IdleWeights struct {
	// CPU multiplies the idle CPU share.
	CPU float64
	// Mem multiplies the idle memory share.
	Mem float64
}

// DefaultIdleWeights weigh idle CPU and idle memory equally.
var DefaultIdleWeights = IdleWeights{CPU: 0.5, Mem: 0.5}

// IdleWeight returns S4's idle weight of a probe: w.CPU*p.IdleCPU +
// w.Mem*p.IdleMem. It does not validate its inputs; a NaN result ranks below
// every number in ChooseSuccessor.
func (w IdleWeights) IdleWeight(p Probe) float64 {
	return w.CPU*p.IdleCPU + w.Mem*p.IdleMem
}

// Rejection says why a probe was not chosen as the successor.
type Rejection struct {
	// ID is the rejected member's ID.
	ID string
	// Reason is a short human explanation, shown on a paused transaction.
	Reason string
}

// ChooseSuccessor picks which voter receives leadership before the leader
// upgrades (S1, with S5's checks and S4's idle weight). exclude holds IDs
// that must not be chosen: the leader itself and every node of the batch
// about to upgrade. leaderIndex is the leader's last log index.
//
// A probe qualifies only if it is a voter, reachable, healthy, not excluded,
// and its log lag leaderIndex-AppliedIndex is at most maxLag (an AppliedIndex
// above leaderIndex counts as lag 0). Among qualified probes it prefers one
// already upgraded, then the higher idle weight under w, then the lower ID in
// natural order (strategy.CompareID), so the result depends only on the
// inputs, not on their order. Probe IDs are expected to be unique.
//
// ok is false, and chosen empty, when no probe qualifies; the caller must
// then not hand off, and so must not upgrade the leader. rejections always
// lists every probe not chosen, in natural ID order, with the first reason
// that disqualified it, or the ID of the preferred probe when it qualified
// but lost.
func ChooseSuccessor(probes []Probe, exclude []string, leaderIndex, maxLag uint64, w IdleWeights) (chosen string, ok bool, rejections []Rejection) {
	excluded := make(map[string]struct{}, len(exclude))
	for _, id := range exclude {
		excluded[id] = struct{}{}
	}

	var qualified []Probe
	for _, p := range probes {
		if reason := disqualification(p, excluded, leaderIndex, maxLag); reason != "" {
			rejections = append(rejections, Rejection{ID: p.ID, Reason: reason})
			continue
		}
		qualified = append(qualified, p)
	}

	if len(qualified) > 0 {
		slices.SortStableFunc(qualified, func(a, b Probe) int {
			return compareCandidates(a, b, w)
		})
		chosen, ok = qualified[0].ID, true
		for _, p := range qualified[1:] {
			rejections = append(rejections, Rejection{
				ID:     p.ID,
				Reason: fmt.Sprintf("qualified, but %s preferred", chosen),
			})
		}
	}
	slices.SortStableFunc(rejections, func(a, b Rejection) int {
		return strategy.CompareID(a.ID, b.ID)
	})
	return chosen, ok, rejections
}

// disqualification returns why p cannot receive leadership, or "" when it
// can. The checks run from the most basic to the most detailed, so an
// unreachable node is reported as unreachable, not as unhealthy or behind.
func disqualification(p Probe, excluded map[string]struct{}, leaderIndex, maxLag uint64) string {
	if !p.Voter {
		return "not a voter"
	}
	if _, ok := excluded[p.ID]; ok {
		return "in the upgrading batch"
	}
	if !p.Reachable {
		return "unreachable"
	}
	if !p.Healthy {
		return "health check failing"
	}
	if lag := logLag(leaderIndex, p.AppliedIndex); lag > maxLag {
		return fmt.Sprintf("log behind by %d entries (max %d)", lag, maxLag)
	}
	return ""
}

// logLag is how many entries applied trails the leader's last index; a node
// ahead of the index the coordinator read is not behind.
func logLag(leaderIndex, applied uint64) uint64 {
	if applied >= leaderIndex {
		return 0
	}
	return leaderIndex - applied
}

// compareCandidates orders qualified probes best first: upgraded, then
// higher idle weight, then lower natural ID.
func compareCandidates(a, b Probe, w IdleWeights) int {
	if a.Upgraded != b.Upgraded {
		if a.Upgraded {
			return -1
		}
		return 1
	}
	// Higher weight first; cmp.Compare ranks a garbled (NaN) weight below
	// every number.
	if c := cmp.Compare(w.IdleWeight(b), w.IdleWeight(a)); c != 0 {
		return c
	}
	return strategy.CompareID(a.ID, b.ID)
}
