package node

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc"
)

// build describes this agent's build for member.status.
func (a *Agent) build() fsm.BuildInfo {
	return fsm.BuildInfo{Version: a.cfg.BuildVersion, Protocol: a.cfg.Protocol, GoVersion: runtime.Version()}
}

// ReportStatus commits a member.status command (leader only). It needs
// protocol 2: Apply refuses it while the cluster speaks protocol 1.
func (a *Agent) ReportStatus(ctx context.Context, st fsm.MemberStatus) error {
	_, err := a.Apply(ctx, fsm.CmdMemberStatus, st)
	return err
}

// reportBuild keeps this member's build record current once the cluster
// speaks protocol 2: at start, and whenever the active protocol rises to it.
// A build that speaks only protocol 1 never runs it.
func (a *Agent) reportBuild() {
	defer a.wg.Done()
	client := a.client(a.cfg.HTTPAddr)
	want := a.build()
	for {
		changed := a.fsm.Changed()
		var current *fsm.BuildInfo
		protocol := 0
		a.fsm.View(func(s *fsm.State) {
			protocol = s.ProtocolVersion
			if m, ok := s.Members[a.cfg.ID]; ok {
				current = m.Build
			}
		})
		retry := time.Duration(0)
		if protocol >= fsm.CommandProtocol(fsm.CmdMemberStatus) && (current == nil || *current != want) {
			ctx, cancel := context.WithTimeout(a.ctx, 15*time.Second)
			err := client.ReportStatus(ctx, a.cfg.ID, rpc.BuildInfoOut(want))
			cancel()
			if err != nil {
				a.log.Debug("build report not delivered yet", "error", err)
				retry = time.Second
			} else {
				a.log.Info("build reported", "version", want.Version, "protocol", fmt.Sprintf("%d-%d", want.Protocol.Min, want.Protocol.Max))
			}
		}
		var tick <-chan time.Time
		if retry > 0 {
			tick = time.After(retry)
		}
		select {
		case <-a.ctx.Done():
			return
		case <-changed:
		case <-tick:
		}
	}
}
