package node

import (
	"context"
	"time"

	"github.com/baton-upgrade/baton/fsm"
)

// reportServiceAddr keeps the catalogue's ServiceAddr of this member equal
// to the service_addr of its config file, once the cluster speaks protocol
// 3 and the agent has registered. The address travels in member.service,
// not in the join (docs/protocol.md, rule 4): a cluster that speaks an
// older protocol records none, and a build that speaks no protocol 3 never
// runs this.
func (a *Agent) reportServiceAddr() {
	defer a.wg.Done()
	client := a.client(a.cfg.HTTPAddr)
	for {
		changed := a.fsm.Changed()
		var (
			recorded string
			known    bool
			protocol int
		)
		a.fsm.View(func(s *fsm.State) {
			protocol = s.ProtocolVersion
			m, ok := s.Members[a.cfg.ID]
			recorded, known = m.ServiceAddr, ok
		})
		var tick <-chan time.Time
		if a.registered.Load() && known && protocol >= fsm.CommandProtocol(fsm.CmdMemberService) && recorded != a.cfg.ServiceAddr {
			ctx, cancel := context.WithTimeout(a.ctx, 15*time.Second)
			err := client.ReportServiceAddr(ctx, a.cfg.ID, a.cfg.ServiceAddr)
			cancel()
			if err != nil {
				a.log.Debug("service address not recorded yet", "error", err)
				tick = time.After(time.Second)
			}
		}
		select {
		case <-a.ctx.Done():
			return
		case <-changed:
		case <-a.serviceAddrPoke:
		case <-tick:
		}
	}
}

// pokeServiceAddr wakes reportServiceAddr without blocking.
func (a *Agent) pokeServiceAddr() {
	select {
	case a.serviceAddrPoke <- struct{}{}:
	default:
	}
}
