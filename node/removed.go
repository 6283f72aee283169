package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/hashicorp/raft"
)

// ErrRemoved is the error, sent through Fatal, of an agent that learned it
// was removed from its cluster: running on, it would stand for elections
// nobody answers, or follow nobody, forever.
var ErrRemoved = errors.New("removed from the cluster")

// LogRemoved is the line an agent logs when it stops because it was
// removed.
const LogRemoved = "this agent was removed from the cluster"

// removalCheckEvery is how often an agent that suspects it was removed asks
// its peers again.
const removalCheckEvery = 5 * time.Second

// watchRemoval stops the agent, through Fatal, once a leader confirms that
// this agent is no longer in the cluster's Raft configuration. It suspects
// so when the configuration Raft replicated to it no longer lists it, when
// the catalogue it applied no longer holds it (or holds its id at another
// address), or when it has known no leader for a while (a removed server
// gets no heartbeats: if it was down when it was removed, its own
// configuration still lists it). A suspicion is only a reason to ask the
// peers: a leader's committed configuration decides, and while no leader
// answers (the cluster lost its quorum, or this agent is cut off) it runs
// on.
func (a *Agent) watchRemoval() {
	defer a.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var w removalWatch
	orphanAfter := max(3*time.Second, 3*scale(raft.DefaultConfig().ElectionTimeout, a.cfg.RaftMultiplier))
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-tick.C:
		}
		suspicion := w.suspect(a, time.Now(), orphanAfter)
		if suspicion == "" || time.Since(w.lastAsked) < removalCheckEvery {
			continue
		}
		w.lastAsked = time.Now()
		a.log.Debug("asking the peers whether this agent is still a member", "reason", suspicion)
		if removed, why := a.askPeersAboutSelf(); removed {
			a.stopRemoved(why)
			return
		}
	}
}

// removalWatch is what watchRemoval remembers between ticks.
type removalWatch struct {
	inRaft, inCatalogue bool // this agent was seen in each
	leaderless          time.Time
	lastAsked           time.Time
}

// suspect says why this agent may have been removed, or "".
func (w *removalWatch) suspect(a *Agent, now time.Time, orphanAfter time.Duration) string {
	var servers []raft.Server
	if cf := a.parts.raft.GetConfiguration(); cf.Error() == nil {
		servers = cf.Configuration().Servers
	}
	listed := false
	for _, s := range servers {
		listed = listed || s.ID == raft.ServerID(a.cfg.ID)
	}
	why := ""
	if listed {
		w.inRaft = true
	} else if w.inRaft {
		why = "its own raft configuration no longer lists it"
	}
	a.fsm.View(func(s *fsm.State) {
		m, ok := s.Members[a.cfg.ID]
		switch {
		case ok && slices.Contains(a.ownRaftAddrs(), m.RaftAddr):
			w.inCatalogue = true
		case w.inCatalogue && why == "":
			why = "its catalogue record is gone or names another raft address"
		}
	})
	if _, id := a.parts.raft.LeaderWithID(); id != "" || len(servers) == 0 {
		w.leaderless = time.Time{}
	} else if w.leaderless.IsZero() {
		w.leaderless = now
	} else if now.Sub(w.leaderless) >= orphanAfter && why == "" {
		why = fmt.Sprintf("no leader for %s", now.Sub(w.leaderless).Round(time.Second))
	}
	return why
}

// askPeersAboutSelf asks the other members, one after another, for the
// leader's committed Raft configuration, and judges the first answer that
// comes from a leader. Without one, it cannot tell, and says not removed.
func (a *Agent) askPeersAboutSelf() (bool, string) {
	for _, addr := range a.peerAPIs() {
		removed, why, err := a.membershipVia(a.ctx, addr)
		if err != nil {
			a.log.Debug("peer could not say whether this agent is a member", "peer", addr, "error", err)
			continue
		}
		return removed, why
	}
	return false, ""
}

// errCannotTell is a peer's answer that does not say whether this agent is
// still a member: it knows no leader, or its build predates protocol 3.
var errCannotTell = errors.New("cannot tell")

// membershipVia asks the member at API address addr for the leader's
// committed Raft configuration and judges it (see removalVerdict). It
// fails with errCannotTell when there is no leader to answer, or when the
// cluster is known to speak a protocol older than 3, whose builds do not
// serve the report.
func (a *Agent) membershipVia(ctx context.Context, addr string) (bool, string, error) {
	if p := a.knownProtocol(); p != 0 && p < fsm.CommandProtocol(fsm.CmdMemberForceLeave) {
		return false, "", fmt.Errorf("%w: the cluster speaks protocol %d", errCannotTell, p)
	}
	ctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	// Unsigned: a member replaced under its id has another key on record,
	// and its signature would be refused; the question is a read, which
	// its token covers.
	rep, err := api.NewClientTLS(addr, a.cfg.Token, a.ClientTLS()).RaftReport(ctx, true)
	if err != nil {
		return false, "", fmt.Errorf("%w: %v", errCannotTell, err)
	}
	if rep.Leader == "" {
		return false, "", fmt.Errorf("%w: no leader", errCannotTell)
	}
	removed, why := removalVerdict(rep, a.cfg.ID, a.ownRaftAddrs()...)
	return removed, why, nil
}

// knownProtocol is the cluster's active protocol as this agent knows it:
// from its state machine, or, when that is empty (it has not caught up
// since it started), from its peers file; 0 when it knows neither.
func (a *Agent) knownProtocol() int {
	protocol := 0
	a.fsm.View(func(s *fsm.State) { protocol = s.ProtocolVersion })
	if protocol == 0 {
		if pf, err := readPeersFile(a.cfg.DataDir); err == nil {
			protocol = pf.Protocol
		}
	}
	return protocol
}

// removalVerdict judges a leader's report rep for agent self, whose Raft
// addresses are own (see ownRaftAddrs): removed when the leader's
// configuration does not list self, or lists self at another address
// (another agent took the id).
func removalVerdict(rep api.RaftReport, self string, own ...string) (bool, string) {
	if rep.Leader == "" {
		return false, ""
	}
	for _, s := range rep.Servers {
		if s.ID != self {
			continue
		}
		if slices.Contains(own, s.Address) {
			return false, ""
		}
		return true, fmt.Sprintf("this agent (%s) was removed from the cluster and replaced: the leader %s's raft configuration has %s at raft address %s",
			self, rep.Leader, self, s.Address)
	}
	return true, fmt.Sprintf("this agent (%s) was removed from the cluster by the leader %s (its raft configuration no longer lists %s)",
		self, rep.Leader, self)
}

// ownRaftAddrs are the addresses under which the cluster may know this
// agent: --raft-addr as given, as resolved (a bootstrapped server enters
// its configuration resolved), and the address its own Raft state held
// when --raft-addr changed (until the leader moves it).
func (a *Agent) ownRaftAddrs() []string {
	own := []string{a.cfg.RaftAddr, string(a.parts.transport.LocalAddr())}
	if a.priorRaftAddr != "" {
		own = append(own, a.priorRaftAddr)
	}
	return own
}

// removedError is the error of an agent that learned, for the reason why,
// that it was removed; it says what to do.
func (a *Agent) removedError(why string) error {
	what := "; to rejoin, start it with an empty --data-dir and --join"
	if len(a.cfg.Join) > 0 && a.parts.existing {
		what += fmt.Sprintf(" (--join was ignored: --data-dir %s holds the Raft state of the cluster this agent was removed from)", a.cfg.DataDir)
	}
	return fmt.Errorf("%w: %s%s", ErrRemoved, why, what)
}

// stopRemoved logs why this agent stops and makes it stop.
func (a *Agent) stopRemoved(why string) {
	err := a.removedError(why)
	a.log.Error(LogRemoved, "error", err)
	select {
	case a.fatal <- err:
	default:
	}
}

// notePriorRaftAddr finds the Raft address this agent's own Raft state
// holds for it; when it differs from --raft-addr the agent restarted at a
// new address, and its registration asks the leader to move it.
func (a *Agent) notePriorRaftAddr() {
	cf := a.parts.raft.GetConfiguration()
	if cf.Error() != nil {
		return
	}
	for _, s := range cf.Configuration().Servers {
		if s.ID == raft.ServerID(a.cfg.ID) && !slices.Contains(a.ownRaftAddrs(), string(s.Address)) {
			a.priorRaftAddr = string(s.Address)
			a.log.Warn("--raft-addr changed: the cluster knows this agent at another address; registering asks the leader to move it",
				"raft_addr", a.cfg.RaftAddr, "prior_raft_addr", a.priorRaftAddr)
		}
	}
}
