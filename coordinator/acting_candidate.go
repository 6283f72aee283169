package coordinator

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/baton-upgrade/baton/coordinator/strategy"
)

// ActingCandidate is what the coordinator knows of a group member that
// might act for its group in its leader's place (S4): whether it answered
// its diagnostic call and the leader reaches it, whether its own step runs,
// and its idle shares from the diagnostic.
type ActingCandidate struct {
	// ID is the member's ID.
	ID string
	// Reachable is true when the member answered its diagnostic call and
	// is not recorded unreachable (member.liveness).
	Reachable bool
	// Upgrading is true when the member's own step runs: a member that
	// upgrades cannot relay for others.
	Upgrading bool
	// IdleCPU and IdleMem are the member's idle shares, from 0 to 1.
	IdleCPU, IdleMem float64
}

// ChooseActing picks the member that acts for a group while its leader
// upgrades or is unreachable: S4's "member with the highest idle weight".
// leader is the group's leader, which never acts for itself; candidates are
// the group's other members.
//
// A candidate qualifies when it is reachable and not upgrading. Among the
// qualified it prefers the higher idle weight under w (a NaN weight ranks
// below every number), then the lower ID in natural order, so the answer
// depends only on the inputs, not on their order. ok is false, chosen
// empty, when none qualifies. rejections lists every candidate not chosen,
// in natural ID order, with why.
func ChooseActing(leader string, candidates []ActingCandidate, w IdleWeights) (chosen string, ok bool, rejections []Rejection) {
	var qualified []ActingCandidate
	for _, c := range candidates {
		switch {
		case c.ID == leader:
			rejections = append(rejections, Rejection{ID: c.ID, Reason: "the group's leader"})
		case !c.Reachable:
			rejections = append(rejections, Rejection{ID: c.ID, Reason: "unreachable"})
		case c.Upgrading:
			rejections = append(rejections, Rejection{ID: c.ID, Reason: "upgrading"})
		default:
			qualified = append(qualified, c)
		}
	}
	weight := func(c ActingCandidate) float64 {
		v := w.IdleWeight(Probe{IdleCPU: c.IdleCPU, IdleMem: c.IdleMem})
		if math.IsNaN(v) {
			return math.Inf(-1)
		}
		return v
	}
	slices.SortFunc(qualified, func(a, b ActingCandidate) int {
		return cmp.Or(cmp.Compare(weight(b), weight(a)), strategy.CompareID(a.ID, b.ID))
	})
	if len(qualified) > 0 {
		chosen, ok = qualified[0].ID, true
		for _, c := range qualified[1:] {
			rejections = append(rejections, Rejection{ID: c.ID,
				Reason: fmt.Sprintf("idle weight %.3f, %s has %.3f", weight(c), chosen, weight(qualified[0]))})
		}
	}
	slices.SortStableFunc(rejections, func(a, b Rejection) int { return strategy.CompareID(a.ID, b.ID) })
	return chosen, ok, rejections
}
