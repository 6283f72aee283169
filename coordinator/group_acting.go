package coordinator

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/fsm"
)

// Who acts for a group of a grouped transaction while its leader upgrades
// or is unreachable (S4, docs/fleets.md). Each turn decides under the
// state's read lock which groups need a member recorded (decideActing);
// act then asks those members for their idle shares, chooses with
// ChooseActing and commits group.acting before any step of the turn
// begins, so the record precedes the leader's step. When the leader is
// back (its step over, reachable), the record is cleared. Choosing never
// holds the upgrade back: with nobody to act, the group's members talk to
// the servers, and the choice is tried again after successorRetry.

// actingTask is a group whose acting member is to be chosen, or cleared.
type actingTask struct {
	txnID  string
	group  string
	leader string
	// why is the reason someone acts ("leader n3 upgrades"); "" clears.
	why        string
	candidates []actingMember
}

// actingMember is a group member as the state knows it.
type actingMember struct {
	id, addr               string
	unreachable, upgrading bool
}

// actingTenure is what one tenure remembers of choices that found nobody.
type actingTenure struct {
	retryAt map[string]time.Time // by group name
}

// decideActing adds the groups whose acting member must change to the
// turn's decision: a group whose leader's step runs or is about to begin
// (in d.begin), or whose leader is recorded unreachable, needs a member
// acting that is reachable and not upgrading, for that reason; a group
// whose leader is neither needs none. Below protocol 3 nothing is
// recorded.
func (co *Coordinator) decideActing(s *fsm.State, tn *tenure, now time.Time, d *decision) {
	t := s.ActiveTxn()
	if t == nil || len(t.Groups) == 0 || s.ProtocolVersion < fsm.CommandProtocol(fsm.CmdGroupActing) {
		return
	}
	beginning := map[string]bool{}
	if !d.rollback {
		for _, st := range d.begin {
			beginning[st.Node] = true
		}
	}
	unreachable := func(id string) bool {
		m, ok := s.Members[id]
		return !ok || (m.Liveness != nil && m.Liveness.Status == fsm.LivenessUnreachable)
	}
	upgrading := func(id string) bool {
		st := t.Step(id)
		return st != nil && st.State == fsm.StepRunning
	}
	for _, g := range t.Groups {
		why := ""
		switch {
		case upgrading(g.Leader) || beginning[g.Leader]:
			why = fmt.Sprintf("leader %s upgrades", g.Leader)
		case unreachable(g.Leader):
			why = fmt.Sprintf("leader %s unreachable", g.Leader)
		}
		if why == "" {
			if g.Acting != "" {
				d.acting = append(d.acting, actingTask{txnID: t.ID, group: g.Name, leader: g.Leader})
			}
			continue
		}
		if g.Acting != "" && g.ActingReason == why && !unreachable(g.Acting) && !upgrading(g.Acting) {
			continue
		}
		if at, ok := tn.acting.retryAt[g.Name]; ok && now.Before(at) {
			d.wait = min(d.wait, at.Sub(now))
			continue
		}
		task := actingTask{txnID: t.ID, group: g.Name, leader: g.Leader, why: why}
		for _, id := range g.Members {
			if id == g.Leader {
				continue
			}
			task.candidates = append(task.candidates, actingMember{id: id, addr: s.Members[id].HTTPAddr,
				unreachable: unreachable(id), upgrading: upgrading(id) || beginning[id]})
		}
		d.acting = append(d.acting, task)
	}
}

// actAll carries out the acting tasks of a turn; see decideActing.
func (co *Coordinator) actAll(ctx context.Context, tn *tenure, tasks []actingTask, now time.Time) {
	for _, task := range tasks {
		co.act1(ctx, tn, task, now)
	}
}

func (co *Coordinator) act1(ctx context.Context, tn *tenure, task actingTask, now time.Time) {
	body := fsm.GroupActing{TxnID: task.txnID, Group: task.group}
	if task.why != "" {
		candidates := co.actingCandidates(ctx, task.candidates)
		chosen, ok, rejections := ChooseActing(task.leader, candidates, co.opts.Weights)
		if !ok {
			var why []string
			for _, r := range rejections {
				why = append(why, r.ID+": "+r.Reason)
			}
			co.log.Warn("nobody can act for the group; its members talk to the servers", "txn", task.txnID, "group", task.group,
				"reason", task.why, "candidates", strings.Join(why, "; "))
			if tn.acting.retryAt == nil {
				tn.acting.retryAt = map[string]time.Time{}
			}
			tn.acting.retryAt[task.group] = now.Add(successorRetry)
			return
		}
		body.Member, body.Reason = chosen, task.why
	}
	delete(tn.acting.retryAt, task.group)
	if _, err := co.c.Apply(ctx, fsm.CmdGroupActing, body); err != nil {
		co.log.Warn("recording who acts for the group failed", "txn", task.txnID, "group", task.group, "member", body.Member, "error", err)
		return
	}
	if body.Member == "" {
		co.log.Info("the group's leader acts again", "txn", task.txnID, "group", task.group, "leader", task.leader)
		return
	}
	co.log.Info("a member acts for the group", "txn", task.txnID, "group", task.group, "member", body.Member, "reason", body.Reason)
}

// actingCandidates asks the members that may act for their idle shares
// (the diagnostic call, without health hooks), all at once; a member
// recorded unreachable or upgrading is not asked.
func (co *Coordinator) actingCandidates(ctx context.Context, members []actingMember) []ActingCandidate {
	out := make([]ActingCandidate, len(members))
	co.fanOut(len(members), func(i int) {
		m := members[i]
		c := ActingCandidate{ID: m.id, Upgrading: m.upgrading}
		if !m.unreachable && !m.upgrading {
			cctx, cancel := context.WithTimeout(ctx, co.opts.CallTimeout)
			defer cancel()
			if d, err := co.n.Diagnostic(cctx, m.addr, false); err == nil {
				c.Reachable, c.IdleCPU, c.IdleMem = true, d.IdleCPU, d.IdleMem
			}
		}
		out[i] = c
	})
	return out
}
