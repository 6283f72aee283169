package node

import (
	"context"
	"fmt"
	"time"

	metrics "github.com/armon/go-metrics"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/node/pull"
	"github.com/baton-upgrade/baton/rpc/api"
)

// The servers' side of the client agents (docs/clients.md): a client
// registers through any server (forwarded to the leader, which commits
// client.register), and long-polls the leader for its work. The leader's
// pull.Hub holds each client's mailbox and lease; the coordinator reaches
// it through pull.Nodes.

// PullHub is the leader's side of the client agents' pull protocol, for
// the coordinator's Nodes (pull.Nodes).
func (a *Agent) PullHub() *pull.Hub { return a.pull }

// RegisterClient commits a client agent's record (leader only; protocol
// 3). A refusal names what is wrong and changes nothing: the leader's
// replica is checked first, which refuses most bad registrations without
// a commit, and the state machine checks again when it applies the entry
// (no barrier: a fleet registers thousands of clients at once, and the
// apply's own check is the one that counts).
func (a *Agent) RegisterClient(ctx context.Context, m fsm.Member) (fsm.Member, error) {
	var err error
	a.fsm.View(func(s *fsm.State) { err = s.CheckClientRegister(fsm.ClientRegister{Member: m}) })
	if err != nil {
		return fsm.Member{}, err
	}
	if _, err := a.Apply(ctx, fsm.CmdClientRegister, fsm.ClientRegister{Member: m}); err != nil {
		return fsm.Member{}, err
	}
	var out fsm.Member
	a.fsm.View(func(s *fsm.State) { out = s.Members[m.ID] })
	metrics.IncrCounter([]string{"clients", "registrations"}, 1)
	a.log.Info("client registered", "client", m.ID, "version", m.Version)
	return out, nil
}

// PollClient serves a client's long poll (leader only): it must be the
// leader when the poll starts; a poll held across a loss of leadership
// answers with what it has, and the client's next poll finds the new
// leader.
func (a *Agent) PollClient(ctx context.Context, id string, req api.PollRequest) (api.PollResponse, error) {
	if !a.IsLeader() {
		return api.PollResponse{}, fmt.Errorf("%w: %s no longer leads; poll again", api.ErrNoLeader, a.cfg.ID)
	}
	metrics.IncrCounter([]string{"clients", "polls"}, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(a.ctx, cancel)
	defer stop()
	return a.pull.Poll(ctx, id, req), nil
}

// clientLiveness is what the leader's pull protocol says of client id: alive
// while it holds its lease; unreachable, last seen at its last poll, once
// it has not polled for a whole lease.
func (a *Agent) clientLiveness(id string) (string, time.Time) {
	alive, seen := a.pull.Liveness(id)
	if alive {
		return fsm.LivenessAlive, time.Time{}
	}
	return fsm.LivenessUnreachable, seen
}
