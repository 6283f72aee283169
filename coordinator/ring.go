package coordinator

import (
	"context"
	"fmt"
	"slices"

	"github.com/baton-upgrade/baton/coordinator/strategy"
	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// RingView is the failover ring as readers see it in state s (read only):
// the stored order without the members that have left, then the members
// it does not list (they joined since) in natural id order; without a
// stored order, every member in natural id order. explicit says an order
// was stored. It is a view computed when read, so that member.join, whose
// meaning never changes (docs/protocol.md), needs no part in the ring.
func RingView(s *fsm.State) (order []string, explicit bool) {
	listed := make(map[string]bool, len(s.Ring))
	for _, id := range s.Ring {
		if _, ok := s.Members[id]; ok && !listed[id] {
			order = append(order, id)
			listed[id] = true
		}
	}
	var rest []string
	for id := range s.Members {
		if !listed[id] {
			rest = append(rest, id)
		}
	}
	slices.SortFunc(rest, strategy.CompareID)
	return append(order, rest...), s.Ring != nil
}

// Ring reads the failover ring from this agent's state.
func (co *Coordinator) Ring() api.Ring {
	var out api.Ring
	co.c.FSM().View(func(s *fsm.State) { out.Order, out.Explicit = RingView(s) })
	if out.Order == nil {
		out.Order = []string{}
	}
	return out
}

// SetRing commits order as the failover ring (leader only; protocol 3).
// The state machine refuses an order that is not every member exactly
// once, and any order while a ring transaction is active; the barrier
// first makes the check see every committed entry.
func (co *Coordinator) SetRing(ctx context.Context, order []string) (api.Ring, error) {
	if err := co.c.Barrier(ctx); err != nil {
		return api.Ring{}, fmt.Errorf("%w: set ring: %v", api.ErrNoLeader, err)
	}
	var invalid error
	co.c.FSM().View(func(s *fsm.State) { invalid = s.CheckRing(order) })
	if invalid != nil {
		return api.Ring{}, invalid
	}
	if _, err := co.c.Apply(ctx, fsm.CmdRingSet, fsm.RingSet{Order: order}); err != nil {
		return api.Ring{}, err
	}
	co.log.Info("failover ring set", "order", order)
	return co.Ring(), nil
}

// RecordServiceAddr commits a member's service address (leader only;
// protocol 3).
func (co *Coordinator) RecordServiceAddr(ctx context.Context, c fsm.MemberService) error {
	if _, err := co.c.Apply(ctx, fsm.CmdMemberService, c); err != nil {
		return err
	}
	co.log.Info("service address recorded", "member", c.ID, "service_addr", c.ServiceAddr)
	return nil
}
