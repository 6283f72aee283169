package coordinator

import (
	"fmt"

	"github.com/baton-upgrade/baton/fsm"
)

// serviceRoles reads what the strategies need of the service's roles:
// whether any member has one, and the recorded primary.
func (co *Coordinator) serviceRoles() (known bool, primary string) {
	co.c.FSM().View(func(s *fsm.State) {
		if s.ProtocolVersion >= fsm.CommandProtocol(fsm.CmdServiceRoles) {
			known, primary = s.RolesKnown(), s.ServicePrimary()
		}
	})
	return known, primary
}

// checkMaxLag refuses --max-lag on a cluster that does not yet speak the
// protocol that keeps it: the transaction would silently run without it.
func (co *Coordinator) checkMaxLag(maxLag uint64) error {
	if maxLag == 0 {
		return nil
	}
	var protocol int
	co.c.FSM().View(func(s *fsm.State) { protocol = s.ProtocolVersion })
	if need := fsm.CommandProtocol(fsm.CmdSwitchoverBegin); protocol < need {
		return fmt.Errorf("%w: --max-lag needs protocol %d, and the cluster speaks %d until every member is upgraded and the transaction finalizes",
			fsm.ErrInvalid, need, protocol)
	}
	return nil
}
