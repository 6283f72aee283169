package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/hashicorp/raft"
)

// RemoveMember removes member id from the Raft configuration and the
// catalogue (leader only), and returns what it did.
//
// Without force it removes a member the leader reaches and that has no
// pending or running step in the active transaction. With force it also
// removes an unreachable member, and fails its unfinished step with "member
// ID was removed" (member.force-leave, protocol 3), like Consul's
// force-leave. Either way it refuses, changing nothing, to remove the last
// voter, or a voter whose removal leaves fewer reachable voters than a
// quorum of those that remain; the errors wrap fsm.ErrNotFound (no such
// member) or fsm.ErrConflict and say what to do. The leader removing itself
// first hands leadership to another voter, then asks the new leader to
// remove it.
//
// The checks run on state confirmed by a barrier, before the Raft
// configuration changes; the catalogue is updated after it. An error after
// the configuration changed (api.ErrUnknownOutcome, api.ErrNoLeader) may
// leave the member out of Raft but still in the catalogue: removing it again
// finishes the job.
func (a *Agent) RemoveMember(ctx context.Context, id string, force bool) (api.RemoveResponse, error) {
	out := api.RemoveResponse{Removed: id, Forced: force}
	a.joinMu.Lock()
	locked := true
	defer func() {
		if locked {
			a.joinMu.Unlock()
		}
	}()
	if err := a.Barrier(ctx); err != nil {
		return out, fmt.Errorf("remove %s: %w", id, err)
	}
	cf := a.parts.raft.GetConfiguration()
	if err := a.wait(ctx, cf); err != nil {
		return out, fmt.Errorf("remove %s: %w", id, err)
	}
	var plan removal
	var err error
	a.fsm.View(func(s *fsm.State) {
		plan, err = planRemoval(s, cf.Configuration().Servers, a.cfg.ID, id, force, a.unreachable(s))
	})
	if err != nil {
		return out, err
	}
	if plan.handoff {
		a.joinMu.Unlock()
		locked = false
		return a.removeSelf(ctx, id, force)
	}
	if plan.inRaft {
		if err := a.wait(ctx, a.parts.raft.RemoveServer(raft.ServerID(id), 0, 10*time.Second)); err != nil {
			return out, fmt.Errorf("remove %s from the raft configuration: %w", id, err)
		}
	}
	a.heartbeats.forget(id, time.Now())
	if plan.command != "" {
		var body any = fsm.MemberLeave{ID: id}
		if plan.command == fsm.CmdMemberForceLeave {
			body = fsm.MemberForceLeave{ID: id}
		}
		if _, err := a.Apply(ctx, plan.command, body); err != nil {
			return out, fmt.Errorf("removed %s from raft, but the catalogue update failed (remove it again to finish): %w", id, err)
		}
	}
	out.FailedStepIn = plan.failsStepIn
	a.log.Info("member removed", "member", id, "forced", force, "raft", plan.inRaft, "catalogue", plan.command != "",
		"failed_step_in", plan.failsStepIn)
	return out, nil
}

// removeSelf hands leadership to another voter and asks the new leader to
// remove this agent.
func (a *Agent) removeSelf(ctx context.Context, id string, force bool) (api.RemoveResponse, error) {
	a.log.Info("handing leadership off before removing this agent", "member", id)
	leader, err := a.TransferLeadership(ctx, "")
	if err != nil {
		return api.RemoveResponse{}, fmt.Errorf("remove %s, the leader: hand leadership off first: %w", id, err)
	}
	var addr string
	a.fsm.View(func(s *fsm.State) { addr = s.Members[leader].HTTPAddr })
	if addr == "" {
		return api.RemoveResponse{}, fmt.Errorf("%w: leadership moved to %s, whose API address is not known yet: retry the removal", api.ErrNoLeader, leader)
	}
	// The new leader judges the operator's own credentials: this agent's
	// token may not hold the operator scope (docs/security.md).
	token := rpc.BearerOf(ctx)
	if token == "" {
		token = a.cfg.Token
	}
	return api.NewClientTLS(addr, token, a.ClientTLS()).WithHook(a.SignRequest).RemoveMember(ctx, id, force)
}

// unreachable reports, from the leader's point of view, whether member id
// is out of reach: its heartbeats fail (for the liveness grace), or the
// catalogue records it unreachable. The second string says since when.
func (a *Agent) unreachable(s *fsm.State) func(id string) (bool, string) {
	now, grace := time.Now(), a.livenessGrace()
	return func(id string) (bool, string) {
		if id == a.cfg.ID {
			return false, ""
		}
		if status, seen := a.heartbeats.status(id, now, grace); status == fsm.LivenessUnreachable {
			return true, "unreachable, last seen " + seen.UTC().Format("15:04:05Z")
		}
		if l := s.Members[id].Liveness; l != nil && l.Status == fsm.LivenessUnreachable {
			return true, "unreachable since " + l.Since.UTC().Format("15:04:05Z")
		}
		return false, ""
	}
}

// removal is what removing a member takes.
type removal struct {
	// inRaft: the member is in the Raft configuration.
	inRaft bool
	// command removes it from the catalogue; "" when the catalogue has no
	// record of it.
	command fsm.CommandType
	// handoff: the member is this leader, which hands leadership off first.
	handoff bool
	// failsStepIn names the active transaction whose step of the member
	// the forced removal fails.
	failsStepIn string
}

// planRemoval decides how member id leaves, or why it may not, from the
// state s, the Raft configuration servers, this leader's id self, and what
// the leader reaches (down says whether a member is out of reach, and since
// when). It changes nothing.
func planRemoval(s *fsm.State, servers []raft.Server, self, id string, force bool, down func(string) (bool, string)) (removal, error) {
	var plan removal
	_, inCatalogue := s.Members[id]
	var voters, remaining, reachable []string
	isVoter := false
	for _, srv := range servers {
		sid := string(srv.ID)
		if sid == id {
			plan.inRaft = true
			isVoter = srv.Suffrage == raft.Voter
		}
		if srv.Suffrage != raft.Voter {
			continue
		}
		voters = append(voters, sid)
		if sid == id {
			continue
		}
		remaining = append(remaining, sid)
		if gone, _ := down(sid); !gone {
			reachable = append(reachable, sid)
		}
	}
	slices.Sort(remaining)
	slices.Sort(reachable)
	if !inCatalogue && !plan.inRaft {
		return plan, fmt.Errorf("%w: member %q is neither in the catalogue nor in the raft configuration", fsm.ErrNotFound, id)
	}
	if isVoter && len(voters) == 1 {
		return plan, fmt.Errorf("%w: %s is the cluster's last voter: without it no leader can be elected; "+
			"join another server first (it becomes a voter), then remove %s", fsm.ErrConflict, id, id)
	}
	if quorum := len(remaining)/2 + 1; isVoter && len(reachable) < quorum {
		var missing []string
		for _, v := range remaining {
			if !slices.Contains(reachable, v) {
				missing = append(missing, v)
			}
		}
		them := "them"
		if len(missing) == 1 {
			them = "it"
		}
		return plan, fmt.Errorf("%w: removing %s would leave %s (%s) of which %s; a quorum needs %d: "+
			"bring %s back, or remove %s first", fsm.ErrConflict, id, count(len(remaining), "voter", "voters"),
			strings.Join(remaining, ", "), reachablePhrase(reachable), quorum, orList(missing), them)
	}
	if gone, since := down(id); gone && !force {
		return plan, fmt.Errorf("%w: member %s is %s: remove it with --force, which also fails its unfinished step", fsm.ErrConflict, id, since)
	}
	plan.handoff = id == self
	if !inCatalogue {
		return plan, nil
	}
	plan.command = fsm.CmdMemberLeave
	err := s.CheckLeave(id)
	switch {
	case err == nil:
	case !force:
		return plan, fmt.Errorf("%w, or remove the member with --force, which fails its step", err)
	case s.ProtocolVersion < fsm.CommandProtocol(fsm.CmdMemberForceLeave):
		return plan, fmt.Errorf("%w; a forced removal of a member with a step needs protocol %d, and the cluster speaks protocol %d",
			err, fsm.CommandProtocol(fsm.CmdMemberForceLeave), s.ProtocolVersion)
	default:
		plan.command, plan.failsStepIn = fsm.CmdMemberForceLeave, s.Active
	}
	if force && plan.command == fsm.CmdMemberLeave && s.ProtocolVersion >= fsm.CommandProtocol(fsm.CmdMemberForceLeave) {
		plan.command = fsm.CmdMemberForceLeave
	}
	return plan, nil
}

// orNone joins ids with commas, or says "none".
func orNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// count says "1 voter" or "3 voters".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// reachablePhrase says "none is reachable", "1 is reachable (n1)" or
// "2 are reachable (n1, n2)".
func reachablePhrase(ids []string) string {
	switch len(ids) {
	case 0:
		return "none is reachable"
	case 1:
		return "1 is reachable (" + ids[0] + ")"
	}
	return fmt.Sprintf("%d are reachable (%s)", len(ids), strings.Join(ids, ", "))
}

// orList joins ids as "a", "a or b", "a, b or c".
func orList(ids []string) string {
	if len(ids) <= 1 {
		return strings.Join(ids, "")
	}
	return strings.Join(ids[:len(ids)-1], ", ") + " or " + ids[len(ids)-1]
}
