package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/hashicorp/raft"
)

// Promotion thresholds: a non-voter becomes a voter only when it is caught
// up and hears from the leader, so its vote never holds back a commit or an
// election. They play the part of Consul autopilot's MaxTrailingLogs and
// LastContactThreshold.
const (
	// promotionMaxLag is how many log entries a non-voter may trail the
	// leader by and still be promoted.
	promotionMaxLag = 64
	// promotionMaxContact is how long ago a non-voter may last have heard
	// from the leader and still be promoted.
	promotionMaxContact = 5 * time.Second
	// promotionEvery is how often the leader looks for a voter to add.
	promotionEvery = 2 * time.Second
)

// keepVoters is a leader duty, like Consul's autopilot: while the Raft
// configuration has fewer voters than it could (MaxVoters, or every server
// when there are fewer), it promotes the healthiest non-voter with AddVoter,
// so that removing a voter does not leave the cluster with fewer. Healthy
// means: alive in the catalogue's liveness record, answering its API,
// hearing from the leader, and at most promotionMaxLag entries behind.
func (a *Agent) keepVoters(ctx context.Context) {
	tick := time.NewTicker(promotionEvery)
	defer tick.Stop()
	lastWhy := ""
	for {
		why := a.promoteOnce(ctx)
		if why != "" && why != lastWhy {
			a.log.Info("a voter is missing, but no non-voter can be promoted yet", "reasons", why)
		}
		lastWhy = why
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// promoteOnce promotes one non-voter if the configuration lacks a voter and
// one is healthy; it returns why none could be, or "".
func (a *Agent) promoteOnce(ctx context.Context) string {
	if !a.lacksVoter() {
		return ""
	}
	rep := a.RaftReport(ctx)
	busy := map[string]bool{}
	a.fsm.View(func(s *fsm.State) {
		if t := s.ActiveTxn(); t != nil {
			for _, st := range t.Steps {
				if st.State == fsm.StepRunning {
					busy[st.Node] = true
				}
			}
		}
	})
	pick, why := choosePromotion(rep, a.cfg.MaxVoters, busy)
	if pick.ID == "" {
		return why
	}
	a.joinMu.Lock()
	defer a.joinMu.Unlock()
	// The configuration the choice was made on, or none: a join or a
	// removal in between makes AddVoter fail, and the next round decides
	// again.
	f := a.parts.raft.AddVoter(raft.ServerID(pick.ID), raft.ServerAddress(pick.Address), rep.ConfigIndex, 10*time.Second)
	if err := a.wait(ctx, f); err != nil {
		a.log.Warn("could not promote a non-voter", "member", pick.ID, "error", err)
		return ""
	}
	a.log.Info("promoted a non-voter to voter", "member", pick.ID, "lag", *pick.Lag, "voters", rep.Voters+1)
	var m fsm.Member
	var known bool
	a.fsm.View(func(s *fsm.State) { m, known = s.Members[pick.ID] })
	if known && !m.Voter {
		m.Voter = true
		if _, err := a.Apply(ctx, fsm.CmdMemberJoin, fsm.MemberJoin{Member: m}); err != nil {
			a.log.Warn("promoted, but the catalogue still says non-voter", "member", pick.ID, "error", err)
		}
	}
	return ""
}

// lacksVoter reports, from the local configuration alone (no I/O), whether
// a non-voter could be promoted.
func (a *Agent) lacksVoter() bool {
	cf := a.parts.raft.GetConfiguration()
	if cf.Error() != nil {
		return false
	}
	voters, nonvoters := 0, 0
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
		} else {
			nonvoters++
		}
	}
	return nonvoters > 0 && voters < a.cfg.MaxVoters
}

// choosePromotion picks, from a leader's report, the non-voter to promote
// while the configuration has fewer than maxVoters voters: among the
// healthy ones not busy with an upgrade step (a step may restart the
// agent, and the transaction's quorum budget counted it as a non-voter),
// the least lagging, then the lowest id. Without one, it says why each
// non-voter is not (yet) fit.
func choosePromotion(rep api.RaftReport, maxVoters int, busy map[string]bool) (api.RaftServer, string) {
	if rep.Leader == "" || rep.Voters >= maxVoters {
		return api.RaftServer{}, ""
	}
	var fit []api.RaftServer
	var unfit []string
	for _, s := range rep.Servers {
		if s.Suffrage == api.SuffrageVoter {
			continue
		}
		if busy[s.ID] {
			unfit = append(unfit, s.ID+": its upgrade step is running")
			continue
		}
		if why := unfitToVote(s); why != "" {
			unfit = append(unfit, s.ID+": "+why)
			continue
		}
		fit = append(fit, s)
	}
	if len(fit) == 0 {
		return api.RaftServer{}, strings.Join(unfit, "; ")
	}
	slices.SortFunc(fit, func(x, y api.RaftServer) int {
		if *x.Lag != *y.Lag {
			return int(*x.Lag) - int(*y.Lag)
		}
		return strings.Compare(x.ID, y.ID)
	})
	return fit[0], ""
}

// unfitToVote says why non-voter s may not be promoted, or "".
func unfitToVote(s api.RaftServer) string {
	switch {
	case s.Status == api.MemberUnreachable:
		return "unreachable per the leader's heartbeats"
	case !s.Reachable:
		return "did not answer: " + s.Error
	case s.Lag == nil:
		return "its lag is unknown"
	case *s.Lag > promotionMaxLag:
		return fmt.Sprintf("lags %d entries behind the leader (at most %d)", *s.Lag, promotionMaxLag)
	}
	switch s.LastContact {
	case "never":
		return "has not heard from the leader"
	case "":
		return "its build does not report when it last heard from the leader (protocol 3)"
	}
	if d, err := time.ParseDuration(s.LastContact); err != nil || d > promotionMaxContact {
		return fmt.Sprintf("last heard from the leader %s ago", s.LastContact)
	}
	return ""
}
