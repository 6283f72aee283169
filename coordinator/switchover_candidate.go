package coordinator

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/baton-upgrade/baton/coordinator/strategy"
	"github.com/baton-upgrade/baton/rpc/api"
)

// Replica is what the coordinator knows of one candidate to take over as
// the service's primary (S5). The first fields come from a diagnostic call
// that runs no hook; Probed ones from the candidate's own role, health and
// lag hooks, run only when its turn comes.
type Replica struct {
	// ID is the member's id.
	ID string
	// InBatch is true when the member is in the batch about to upgrade.
	InBatch bool
	// Reachable is true when its diagnostic call answered.
	Reachable bool
	// Hooks are the service-role hooks it has.
	Hooks []string
	// Upgraded is true when it already runs the version the old primary's
	// step installs, so it will need no switch-over of its own later.
	Upgraded bool
	// IdleCPU and IdleMem are its idle shares, for S4's idle weight.
	IdleCPU, IdleMem float64

	// Probed is true once its hooks ran; the fields below are its answers.
	Probed bool
	// ProbeError is set when the probe's calls got no answer.
	ProbeError string
	// Role is what its role hook printed; RoleError why it failed.
	Role, RoleError string
	// Healthy is true when its health hook passed (or it has none).
	Healthy     bool
	HealthError string
	// Lag is what its lag hook printed; nil with LagError when it failed.
	Lag      *uint64
	LagError string
}

// has reports whether r has the service-role hook name.
func (r Replica) has(name string) bool { return slices.Contains(r.Hooks, name) }

// CandidateOrder returns the replicas in the order they are probed:
// those already upgraded first, then the higher idle weight under w, then
// the lower id in natural order. The order depends only on the replicas,
// not on the order they are given in (ids are unique).
func CandidateOrder(replicas []Replica, w IdleWeights) []Replica {
	out := slices.Clone(replicas)
	slices.SortStableFunc(out, func(a, b Replica) int {
		if a.Upgraded != b.Upgraded {
			if a.Upgraded {
				return -1
			}
			return 1
		}
		wa := w.IdleWeight(Probe{IdleCPU: a.IdleCPU, IdleMem: a.IdleMem})
		wb := w.IdleWeight(Probe{IdleCPU: b.IdleCPU, IdleMem: b.IdleMem})
		if c := cmp.Compare(wb, wa); c != 0 {
			return c
		}
		return strategy.CompareID(a.ID, b.ID)
	})
	return out
}

// PreRefusal returns why r cannot take over, from what is known before any
// of its hooks runs, or "" when it may be probed: checks 1 to 3 of
// docs/switchover.md, in that order.
func PreRefusal(r Replica) string {
	switch {
	case r.InBatch:
		return "in the upgrading batch"
	case !r.Reachable:
		return "unreachable"
	}
	for _, h := range []string{api.HookRole, api.HookLag, api.HookPromote} {
		if !r.has(h) {
			return fmt.Sprintf("no %s hook", h)
		}
	}
	return ""
}

// Refusal returns why the probed replica r cannot take over with a lag
// limit of maxLag, or "" when it can: every check of docs/switchover.md,
// in order, the first that fails.
func Refusal(r Replica, maxLag uint64) string {
	if why := PreRefusal(r); why != "" {
		return why
	}
	switch {
	case !r.Probed:
		return "not probed"
	case r.ProbeError != "":
		return "unreachable: " + r.ProbeError
	case r.RoleError != "":
		return "role unknown: " + r.RoleError
	case r.Role == api.RolePrimary:
		return "its role hook says primary too"
	case r.Role != api.RoleReplica:
		return fmt.Sprintf("role %q", r.Role)
	case !r.Healthy && r.HealthError == "":
		return "health check failing"
	case !r.Healthy:
		return "health check failing: " + r.HealthError
	case r.Lag == nil:
		return "lag unknown: " + r.LagError
	case *r.Lag > maxLag:
		return fmt.Sprintf("lag %d over --max-lag %d", *r.Lag, maxLag)
	}
	return ""
}

// ChooseCandidate picks the replica that takes over as the service's
// primary (S5): it walks the replicas in CandidateOrder, skips those
// PreRefusal rules out without running anything, probes the others in turn
// with probe (which runs their role, health and lag hooks and returns the
// replica with Probed set), and takes the first whose Refusal is empty. It
// stops probing there.
//
// ok is false, and chosen the zero Replica, when none qualifies; the
// caller must then not switch over, and so must not upgrade the primary.
// rejections lists every replica not chosen, in natural id order, with
// the first reason that refused it; those after the chosen one that were
// never probed say so.
func ChooseCandidate(replicas []Replica, maxLag uint64, w IdleWeights, probe func(Replica) Replica) (chosen Replica, ok bool, rejections []Rejection) {
	for _, r := range CandidateOrder(replicas, w) {
		if ok {
			rejections = append(rejections, Rejection{ID: r.ID, Reason: fmt.Sprintf("not probed: %s qualified first", chosen.ID)})
			continue
		}
		if why := PreRefusal(r); why != "" {
			rejections = append(rejections, Rejection{ID: r.ID, Reason: why})
			continue
		}
		p := probe(r)
		if why := Refusal(p, maxLag); why != "" {
			rejections = append(rejections, Rejection{ID: r.ID, Reason: why})
			continue
		}
		chosen, ok = p, true
	}
	slices.SortStableFunc(rejections, func(a, b Rejection) int { return strategy.CompareID(a.ID, b.ID) })
	return chosen, ok, rejections
}
