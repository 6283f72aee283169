package coordinator

import (
	"fmt"
	"net"

	"github.com/baton-upgrade/baton/coordinator/strategy"
	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// checkGrouping refuses --group-by and --max-groups with a strategy that
// forms no groups, values the grouped strategy cannot use, and grouped on a
// cluster that does not yet speak the protocol that records its groups.
// Every error wraps fsm.ErrInvalid.
func (co *Coordinator) checkGrouping(r request) error {
	if r.Strategy != strategy.Grouped {
		if r.GroupBy != "" || r.MaxGroups != 0 {
			return fmt.Errorf("%w: --group-by and --max-groups are for --strategy %s, not %s", fsm.ErrInvalid, strategy.Grouped, r.Strategy)
		}
		return nil
	}
	if _, err := strategy.ParseGroupBy(r.GroupBy); err != nil {
		return fmt.Errorf("%w: %v", fsm.ErrInvalid, err)
	}
	if r.MaxGroups < 0 {
		return fmt.Errorf("%w: max-groups %d: must be at least 1", fsm.ErrInvalid, r.MaxGroups)
	}
	if need, protocol := fsm.CommandProtocol(fsm.CmdGroupActing), co.protocol(); protocol < need {
		return fmt.Errorf("%w: --strategy %s needs protocol %d, and the cluster speaks %d until every member is upgraded and the transaction finalizes",
			fsm.ErrInvalid, strategy.Grouped, need, protocol)
	}
	return nil
}

// hostOf is the host of a member's advertised HTTP address (HOST:PORT or
// [IPv6]:PORT, as member.join checks), which subnet grouping reads; the
// address itself should it have no port.
func hostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// groupsOut is a plan's groups on the wire.
func groupsOut(groups []strategy.Group) []api.Group {
	if len(groups) == 0 {
		return nil
	}
	out := make([]api.Group, len(groups))
	for i, g := range groups {
		out[i] = api.Group{Name: g.Name, Leader: g.Leader, Members: g.Members}
	}
	return out
}

// groupsIn is a plan's groups as the transaction records them.
func groupsIn(groups []api.Group) []fsm.Group {
	if len(groups) == 0 {
		return nil
	}
	out := make([]fsm.Group, len(groups))
	for i, g := range groups {
		out[i] = fsm.Group{Name: g.Name, Leader: g.Leader, Members: append([]string(nil), g.Members...)}
	}
	return out
}
