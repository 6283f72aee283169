package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/hashicorp/raft"
)

// Join admits m to the Raft configuration and the catalogue (leader only).
// The first MaxVoters members are voters, later ones non-voters; a member
// already in the configuration keeps its suffrage. Joining again with the
// same id and Raft address is harmless, so a joiner may retry freely.
func (a *Agent) Join(ctx context.Context, m fsm.Member) (fsm.Member, error) {
	// Joins are serialised: counting the voters and adding one must not
	// interleave with another join, or both could become the fifth voter.
	a.joinMu.Lock()
	defer a.joinMu.Unlock()
	// A refusal makes the joiner give up for good, so judge it only on a
	// state that holds every committed entry: a leader just elected (after
	// a restart, say) may not have applied them yet. Off the leader the
	// barrier fails with "no leader", which the joiner retries.
	if err := a.Barrier(ctx); err != nil {
		return fsm.Member{}, fmt.Errorf("join %s: %w", m.ID, err)
	}
	var err error
	a.fsm.View(func(s *fsm.State) { err = s.CheckJoin(m) })
	if err != nil {
		return fsm.Member{}, err
	}
	voter, err := a.admit(ctx, m)
	if err != nil {
		return fsm.Member{}, err
	}
	m.Voter = voter
	if _, err := a.Apply(ctx, fsm.CmdMemberJoin, fsm.MemberJoin{Member: m}); err != nil {
		return fsm.Member{}, err
	}
	a.log.Info("member joined", "member", m.ID, "raft_addr", m.RaftAddr, "voter", voter)
	return m, nil
}

// admit adds m to the Raft configuration unless it is there already, and
// reports whether it is a voter.
func (a *Agent) admit(ctx context.Context, m fsm.Member) (bool, error) {
	cf := a.parts.raft.GetConfiguration()
	if err := a.wait(ctx, cf); err != nil {
		return false, err
	}
	voters := 0
	for _, srv := range cf.Configuration().Servers {
		if srv.ID == raft.ServerID(m.ID) {
			if srv.Address != raft.ServerAddress(m.RaftAddr) {
				return false, fmt.Errorf("%w: member id %q is already taken by raft address %s", fsm.ErrConflict, m.ID, srv.Address)
			}
			return srv.Suffrage == raft.Voter, nil
		}
		if srv.Address == raft.ServerAddress(m.RaftAddr) {
			return false, fmt.Errorf("%w: raft address %s is already used by server %q", fsm.ErrConflict, m.RaftAddr, srv.ID)
		}
		if srv.Suffrage == raft.Voter {
			voters++
		}
	}
	id, addr := raft.ServerID(m.ID), raft.ServerAddress(m.RaftAddr)
	var f raft.IndexFuture
	voter := voters < a.cfg.MaxVoters
	if voter {
		f = a.parts.raft.AddVoter(id, addr, 0, 10*time.Second)
	} else {
		f = a.parts.raft.AddNonvoter(id, addr, 0, 10*time.Second)
	}
	if err := a.wait(ctx, f); err != nil {
		return false, fmt.Errorf("add %s to the raft configuration: %w", m.ID, err)
	}
	return voter, nil
}

// TransferLeadership hands leadership to the voter to, or to a voter Raft
// picks when to is empty (leader only). It retries while an earlier transfer
// is still in progress, and returns the new leader's id.
func (a *Agent) TransferLeadership(ctx context.Context, to string) (string, error) {
	if to == a.cfg.ID {
		return to, nil
	}
	var target raft.Server
	if to != "" {
		cf := a.parts.raft.GetConfiguration()
		if err := a.wait(ctx, cf); err != nil {
			return "", err
		}
		found := false
		for _, srv := range cf.Configuration().Servers {
			if srv.ID == raft.ServerID(to) {
				target, found = srv, true
			}
		}
		if !found {
			return "", fmt.Errorf("%w: member %q is not in the raft configuration", fsm.ErrNotFound, to)
		}
		if target.Suffrage != raft.Voter {
			return "", fmt.Errorf("%w: member %q is not a voter and cannot lead", fsm.ErrInvalid, to)
		}
	}
	backoff := 50 * time.Millisecond
	for {
		var f raft.Future
		if to == "" {
			f = a.parts.raft.LeadershipTransfer()
		} else {
			f = a.parts.raft.LeadershipTransferToServer(target.ID, target.Address)
		}
		err := f.Error()
		if err == nil {
			break
		}
		if !errors.Is(err, raft.ErrLeadershipTransferInProgress) && !isTransferInProgress(err) {
			return "", fmt.Errorf("%w: leadership transfer to %q failed: %v", api.ErrNoLeader, to, err)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w: leadership transfer: %v", api.ErrNoLeader, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
	return a.awaitNewLeader(ctx)
}

func isTransferInProgress(err error) bool {
	return err != nil && err.Error() == "leadership transfer in progress"
}

// awaitNewLeader waits until this agent knows a leader other than itself.
func (a *Agent) awaitNewLeader(ctx context.Context) (string, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, id := a.parts.raft.LeaderWithID(); id != "" && string(id) != a.cfg.ID {
			return string(id), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w: leadership moved but no new leader is known yet", api.ErrUnknownOutcome)
		case <-tick.C:
		}
	}
}

// MoveMember moves member mv.ID, which restarted from its own data dir at
// Raft address mv.RaftAddr, from mv.PriorRaftAddr (leader only; protocol 3).
//
// A voter at a new address takes no part in Raft until the leader's
// configuration has it there: the leader sends its entries, and the other
// servers their votes, to the address in the configuration. So the leader
// changes it, with one AddVoter (or AddNonvoter) of the same id at the new
// address: hashicorp/raft replaces the address in place and keeps the
// suffrage, in a single configuration change, and the replication to the
// old address stops. (Consul removes the server and adds it back; that
// takes two changes and leaves a voter out of the configuration between
// them.) Then member.move updates the catalogue. A repeat after either
// step finishes the other. It fails with fsm.ErrConflict, changing nothing,
// when the cluster speaks a protocol older than 3, when the catalogue does
// not hold the member at mv.PriorRaftAddr, or when another member holds
// the new address.
func (a *Agent) MoveMember(ctx context.Context, mv fsm.MemberMove) error {
	a.joinMu.Lock()
	defer a.joinMu.Unlock()
	if err := a.Barrier(ctx); err != nil {
		return fmt.Errorf("move %s: %w", mv.ID, err)
	}
	var err error
	a.fsm.View(func(s *fsm.State) {
		if need := fsm.CommandProtocol(fsm.CmdMemberMove); s.ProtocolVersion < need {
			err = fmt.Errorf("%w: member %s's raft address changed from %s to %s, and moving a member needs protocol %d, but the cluster speaks %d: "+
				"restart %s with --raft-addr %s, or remove it (baton members remove %s), empty its --data-dir and --join again",
				fsm.ErrConflict, mv.ID, mv.PriorRaftAddr, mv.RaftAddr, need, s.ProtocolVersion, mv.ID, mv.PriorRaftAddr, mv.ID)
			return
		}
		err = s.CheckMove(mv)
	})
	if err != nil {
		return err
	}
	cf := a.parts.raft.GetConfiguration()
	if err := a.wait(ctx, cf); err != nil {
		return err
	}
	for _, srv := range cf.Configuration().Servers {
		if srv.ID != raft.ServerID(mv.ID) || srv.Address == raft.ServerAddress(mv.RaftAddr) {
			continue
		}
		var f raft.IndexFuture
		if srv.Suffrage == raft.Voter {
			f = a.parts.raft.AddVoter(srv.ID, raft.ServerAddress(mv.RaftAddr), 0, 10*time.Second)
		} else {
			f = a.parts.raft.AddNonvoter(srv.ID, raft.ServerAddress(mv.RaftAddr), 0, 10*time.Second)
		}
		if err := a.wait(ctx, f); err != nil {
			return fmt.Errorf("move %s to raft address %s in the raft configuration: %w", mv.ID, mv.RaftAddr, err)
		}
	}
	a.heartbeats.forget(mv.ID, time.Now())
	if _, err := a.Apply(ctx, fsm.CmdMemberMove, mv); err != nil {
		return err
	}
	a.log.Info("member moved", "member", mv.ID, "raft_addr", mv.RaftAddr, "prior_raft_addr", mv.PriorRaftAddr)
	return nil
}
