package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// The switch-over of the service's primary before the old primary's step
// (S1 with S5; docs/switchover.md). The decision is taken under the state's
// read lock with the rest of the turn (decideSwitchover); each turn then
// carries the switch-over one phase further and commits it, so a leader
// killed at any point leaves a phase from which the next one goes on.

// Patience of a switch-over.
const (
	// candidatePatience is how long a switch-over looks for a candidate
	// (or waits for the old primary's agent to answer) before it pauses
	// the transaction.
	candidatePatience = 15 * time.Second
	// confirmPatience is how long the role hooks may disagree after
	// promote before the switch-over fails.
	confirmPatience = 10 * time.Second
	// followCallTimeout bounds a call that runs follow: a node that takes
	// longer is noted as having missed it (its hook goes on).
	followCallTimeout = 30 * time.Second
	// minActionTimeout is the least a call that runs demote or promote is
	// given; otherwise it gets what is left of the switch-over's time.
	minActionTimeout = 5 * time.Second
	// probeCallTimeout bounds a call that runs role, lag or health hooks,
	// which the node bounds to 10 s each.
	probeCallTimeout = 25 * time.Second
	// switchRetry follows a call that got no answer, or a wait for lag.
	switchRetry = 500 * time.Millisecond
)

// switchTask is a switch-over the turn decided to work on: the one in
// progress, or a new one needed before the old primary's batch starts.
type switchTask struct {
	// old is the recorded primary whose step waits.
	old string
	// batch lists the nodes of the batch about to start (a new one only).
	batch []string
	// toVersion is what the old primary's step installs (a new one only).
	toVersion string
	// sw is a copy of the switch-over in progress; nil when none has begun.
	sw *fsm.Switchover
}

// key names the task's position: a change of it restarts the tenure's
// timers.
func (task *switchTask) key() string {
	if task.sw == nil {
		return task.old
	}
	return task.sw.OldPrimary + ">" + task.sw.Candidate + "/" + string(task.sw.Phase)
}

// switchTenure is what one tenure remembers of a switch-over.
type switchTenure struct {
	key string
	// waitingSince is the first failed search for a candidate, or the
	// first time the old primary's agent did not answer.
	waitingSince time.Time
	// confirmSince is the first confirmation that did not hold.
	confirmSince time.Time
}

// decideSwitchover adds the switch-over to the turn's decision, under the
// state's read lock: a switch-over in progress is carried on whatever the
// transaction's state, and holds back every begin, handoff and ending; a
// running transaction whose current batch holds the recorded primary's
// pending step needs one first. A cluster below protocol 3 never switches
// over.
func (co *Coordinator) decideSwitchover(s *fsm.State, d *decision) {
	t := s.ActiveTxn()
	if t == nil || s.ProtocolVersion < fsm.CommandProtocol(fsm.CmdSwitchoverBegin) {
		return
	}
	if sw := t.CurrentSwitchover(); sw != nil {
		c := *sw
		d.switchover = &switchTask{old: sw.OldPrimary, sw: &c}
		d.begin, d.handoff, d.finalize, d.finish = nil, nil, false, false
		return
	}
	if t.State != fsm.TxnRunning {
		return
	}
	primary := s.ServicePrimary()
	st := t.Step(primary)
	if primary == "" || st == nil || st.State != fsm.StepPending || st.Batch != t.CurrentBatch() {
		return
	}
	task := &switchTask{old: primary, toVersion: t.TargetVersion}
	for _, b := range t.BatchSteps(st.Batch) {
		task.batch = append(task.batch, b.Node)
	}
	d.switchover, d.begin, d.handoff = task, nil, nil
}

// switchover carries the task one phase further and returns how long to
// wait at most before the next turn.
func (co *Coordinator) switchover(ctx context.Context, tn *tenure, t *fsm.Txn, task *switchTask) time.Duration {
	if k := task.key(); k != tn.switchover.key {
		tn.switchover = switchTenure{key: k}
	}
	if task.sw == nil {
		return co.chooseCandidate(ctx, tn, t, task)
	}
	sw := *task.sw
	if sw.Phase != fsm.SwitchCommitted && co.opts.Now().Sub(sw.StartedAt) >= time.Duration(t.StepTimeout) {
		return co.failSwitchover(ctx, t, sw, fmt.Sprintf("not committed within the step timeout (%s)", time.Duration(t.StepTimeout)))
	}
	switch sw.Phase {
	case fsm.SwitchChosen:
		return co.demoteOld(ctx, t, sw)
	case fsm.SwitchDemoted:
		return co.promoteCandidate(ctx, tn, t, sw)
	case fsm.SwitchPromoted:
		return co.confirmRoles(ctx, tn, t, sw)
	case fsm.SwitchCommitted:
		return co.broadcastFollow(ctx, t, sw)
	}
	return idle
}

// memberAddr returns a member's API address from the catalogue.
func (co *Coordinator) memberAddr(id string) (string, bool) {
	var (
		addr string
		ok   bool
	)
	co.c.FSM().View(func(s *fsm.State) {
		var m fsm.Member
		m, ok = s.Members[id]
		addr = m.HTTPAddr
	})
	return addr, ok
}

// chooseCandidate runs the old primary's diagnostic, chooses the candidate
// (ChooseCandidate) and commits switchover.begin.
func (co *Coordinator) chooseCandidate(ctx context.Context, tn *tenure, t *fsm.Txn, task *switchTask) time.Duration {
	members := co.members()
	oldAddr, _ := co.memberAddr(task.old)
	cctx, cancel := context.WithTimeout(ctx, probeCallTimeout)
	defer cancel()
	od, err := co.n.Diagnostic(cctx, oldAddr, true)
	if err != nil {
		return co.switchWaits(ctx, tn, t, fmt.Sprintf("the service's primary %s does not answer, so nothing could fence it before its upgrade (%v)", task.old, err))
	}
	diag := "healthy"
	if !od.Healthy {
		diag = "health check failing: " + od.HealthError
	}
	inBatch := map[string]bool{}
	for _, id := range task.batch {
		inBatch[id] = true
	}
	var others []fsm.Member
	for _, m := range members {
		if m.ID != task.old {
			others = append(others, m)
		}
	}
	replicas := make([]Replica, len(others))
	co.fanOut(len(others), func(i int) {
		m := others[i]
		r := Replica{ID: m.ID, InBatch: inBatch[m.ID], Upgraded: m.Version == task.toVersion}
		dctx, cancel := context.WithTimeout(ctx, co.opts.CallTimeout)
		defer cancel()
		if d, err := co.n.Diagnostic(dctx, m.HTTPAddr, false); err == nil {
			r.Reachable, r.Hooks, r.IdleCPU, r.IdleMem = true, d.ServiceHooks, d.IdleCPU, d.IdleMem
		}
		replicas[i] = r
	})
	addrs := map[string]string{}
	for _, m := range others {
		addrs[m.ID] = m.HTTPAddr
	}
	probe := func(r Replica) Replica {
		r.Probed = true
		pctx, cancel := context.WithTimeout(ctx, probeCallTimeout)
		defer cancel()
		p, err := co.n.ServiceProbe(pctx, addrs[r.ID], true)
		if err != nil {
			r.ProbeError = err.Error()
			return r
		}
		r.Role, r.RoleError, r.Lag, r.LagError = p.Role, p.RoleError, p.Lag, p.LagError
		d, err := co.n.Diagnostic(pctx, addrs[r.ID], true)
		if err != nil {
			r.ProbeError = err.Error()
			return r
		}
		r.Healthy, r.HealthError = d.Healthy, d.HealthError
		return r
	}
	chosen, ok, rejections := ChooseCandidate(replicas, t.MaxLag, co.opts.Weights, probe)
	if !ok {
		var why []string
		for _, r := range rejections {
			why = append(why, r.ID+": "+r.Reason)
		}
		reason := fmt.Sprintf("no replica can take over as the service's primary before %s upgrades (%s)", task.old, strings.Join(why, "; "))
		if len(why) == 0 {
			reason = fmt.Sprintf("no other member to take over as the service's primary before %s upgrades", task.old)
		}
		return co.switchWaits(ctx, tn, t, reason)
	}
	begin := fsm.SwitchoverBegin{TxnID: t.ID, Node: task.old, Candidate: chosen.ID, Diagnostic: diag, CandidateLag: *chosen.Lag}
	if _, err := co.c.Apply(ctx, fsm.CmdSwitchoverBegin, begin); err != nil {
		co.log.Warn("switch-over begin not committed", "txn", t.ID, "old_primary", task.old, "candidate", chosen.ID, "error", err)
		return time.Second
	}
	co.log.Info("switch-over begun", "txn", t.ID, "old_primary", task.old, "candidate", chosen.ID,
		"candidate_lag", *chosen.Lag, "max_lag", t.MaxLag, "diagnostic", diag)
	co.opts.Metrics.IncrCounter([]string{"coordinator", "switchover", "begun"}, 1)
	tn.switchover = switchTenure{}
	return 0
}

// switchWaits handles a switch-over that cannot begin: the reason is noted
// on the transaction and the search tried again every second, until
// candidatePatience has passed since the first failure; then the
// transaction is paused with the reason.
func (co *Coordinator) switchWaits(ctx context.Context, tn *tenure, t *fsm.Txn, reason string) time.Duration {
	now := co.opts.Now()
	if tn.switchover.waitingSince.IsZero() {
		tn.switchover.waitingSince = now
	}
	if now.Sub(tn.switchover.waitingSince) < candidatePatience {
		co.note(ctx, tn, t, reason+"; retrying")
		return successorRetry
	}
	if _, err := co.c.Apply(ctx, fsm.CmdTxnPause, fsm.TxnControl{TxnID: t.ID, Reason: reason}); err != nil {
		co.log.Error("no switch-over candidate, and pausing the transaction failed; retrying", "txn", t.ID, "reason", reason, "error", err)
		return successorRetry
	}
	co.log.Warn("transaction paused: no switch-over of the service's primary", "txn", t.ID, "reason", reason)
	co.opts.Metrics.IncrCounter([]string{"coordinator", "switchover", "paused"}, 1)
	tn.switchover.waitingSince = time.Time{}
	return idle
}

// actionRequest is the request that runs a hook of sw's phase on a node.
func (co *Coordinator) actionRequest(t *fsm.Txn, sw fsm.Switchover) api.ServiceActionRequest {
	req := api.ServiceActionRequest{TxnID: t.ID, OldPrimary: sw.OldPrimary, NewPrimary: sw.Candidate, Phase: string(sw.Phase)}
	co.c.FSM().View(func(s *fsm.State) { req.Index = s.Index })
	return req
}

// runAction runs action on node for sw. It returns the hook's result, or,
// when the call got no answer or was refused, a wait before trying again
// (a refusal as stale means the state moved: the next turn reads it).
func (co *Coordinator) runAction(ctx context.Context, t *fsm.Txn, sw fsm.Switchover, action, node string) (api.ServiceActionResult, time.Duration, bool) {
	addr, ok := co.memberAddr(node)
	if !ok {
		return api.ServiceActionResult{}, 0, false
	}
	// The node bounds the hook by its own hook timeout; the call is bounded
	// by what is left of the switch-over's time, so that a node cut off
	// mid-call does not hold the coordinator past the switch-over's end.
	left := sw.StartedAt.Add(time.Duration(t.StepTimeout)).Sub(co.opts.Now())
	cctx, cancel := context.WithTimeout(ctx, max(left, minActionTimeout))
	defer cancel()
	res, err := co.n.ServiceAction(cctx, addr, action, co.actionRequest(t, sw))
	switch {
	case errors.Is(err, api.ErrStale):
		co.log.Debug("service action refused as stale", "action", action, "node", node, "error", err)
		return res, 200 * time.Millisecond, false
	case err != nil:
		co.log.Warn("service action got no answer; trying again", "txn", t.ID, "action", action, "node", node, "error", err)
		return res, time.Second, false
	}
	return res, 0, true
}

// advance commits sw's next phase.
func (co *Coordinator) advance(ctx context.Context, t *fsm.Txn, sw fsm.Switchover, phase fsm.SwitchPhase, note string) time.Duration {
	cmd := fsm.SwitchoverPhase{TxnID: t.ID, Node: sw.OldPrimary, Primary: sw.Candidate, Phase: phase, Note: note}
	if _, err := co.c.Apply(ctx, fsm.CmdSwitchoverPhase, cmd); err != nil {
		co.log.Warn("switch-over phase not committed", "txn", t.ID, "phase", phase, "error", err)
		return time.Second
	}
	return 0
}

// demoteOld runs the old primary's demote (fencing it, maybe handing the
// role over) and commits demoted.
func (co *Coordinator) demoteOld(ctx context.Context, t *fsm.Txn, sw fsm.Switchover) time.Duration {
	res, wait, ok := co.runAction(ctx, t, sw, api.HookDemote, sw.OldPrimary)
	if !ok {
		return wait
	}
	if res.Error != "" {
		return co.failSwitchover(ctx, t, sw, fmt.Sprintf("demote on %s failed: %s", sw.OldPrimary, res.Error))
	}
	co.log.Info("old primary demoted", "txn", t.ID, "old_primary", sw.OldPrimary, "candidate", sw.Candidate, "ran", res.Ran)
	return co.advance(ctx, t, sw, fsm.SwitchDemoted, "")
}

// promoteCandidate makes the candidate the primary unless its role already
// says so: it checks the candidate's lag against the limit right before
// promote, waiting while it is over, and commits promoted.
func (co *Coordinator) promoteCandidate(ctx context.Context, tn *tenure, t *fsm.Txn, sw fsm.Switchover) time.Duration {
	addr, _ := co.memberAddr(sw.Candidate)
	pctx, cancel := context.WithTimeout(ctx, probeCallTimeout)
	p, err := co.n.ServiceProbe(pctx, addr, true)
	cancel()
	if err != nil {
		co.log.Warn("candidate does not answer; trying again", "txn", t.ID, "candidate", sw.Candidate, "error", err)
		return time.Second
	}
	if p.Role == api.RolePrimary {
		co.log.Info("candidate already primary after demote", "txn", t.ID, "candidate", sw.Candidate)
		return co.advance(ctx, t, sw, fsm.SwitchPromoted, "")
	}
	if p.Lag == nil || *p.Lag > t.MaxLag {
		co.note(ctx, tn, t, fmt.Sprintf("the switch-over from %s to %s waits for %s's lag to come within --max-lag %d", sw.OldPrimary, sw.Candidate, sw.Candidate, t.MaxLag))
		return switchRetry
	}
	res, wait, ok := co.runAction(ctx, t, sw, api.HookPromote, sw.Candidate)
	if !ok {
		return wait
	}
	switch {
	case res.Error != "":
		return co.failSwitchover(ctx, t, sw, fmt.Sprintf("promote on %s failed: %s", sw.Candidate, res.Error))
	case !res.Ran:
		return co.failSwitchover(ctx, t, sw, fmt.Sprintf("%s has no promote hook, and its role did not say primary after demote", sw.Candidate))
	}
	co.log.Info("candidate promoted", "txn", t.ID, "candidate", sw.Candidate, "lag", *p.Lag)
	return co.advance(ctx, t, sw, fsm.SwitchPromoted, "")
}

// confirmRoles asks every member's role hook and commits the candidate as
// the primary once it alone says primary (the old primary says replica or
// does not answer). Disagreement for confirmPatience fails the switch-over.
func (co *Coordinator) confirmRoles(ctx context.Context, tn *tenure, t *fsm.Txn, sw fsm.Switchover) time.Duration {
	members := co.members()
	probes := make([]api.ServiceProbe, len(members))
	errs := make([]error, len(members))
	co.fanOut(len(members), func(i int) {
		pctx, cancel := context.WithTimeout(ctx, probeCallTimeout)
		defer cancel()
		probes[i], errs[i] = co.n.ServiceProbe(pctx, members[i].HTTPAddr, false)
	})
	var primaries, seen []string
	for i, m := range members {
		switch {
		case errs[i] != nil:
			seen = append(seen, m.ID+" does not answer")
		case probes[i].RoleError != "":
			seen = append(seen, m.ID+"'s role hook fails")
		case probes[i].Role != "":
			seen = append(seen, m.ID+" says "+probes[i].Role)
		}
		if errs[i] == nil && probes[i].Role == api.RolePrimary {
			primaries = append(primaries, m.ID)
		}
	}
	if len(primaries) == 1 && primaries[0] == sw.Candidate {
		co.log.Info("switch-over committed: new primary", "txn", t.ID, "primary", sw.Candidate, "old_primary", sw.OldPrimary)
		return co.advance(ctx, t, sw, fsm.SwitchCommitted, "")
	}
	now := co.opts.Now()
	if tn.switchover.confirmSince.IsZero() {
		tn.switchover.confirmSince = now
	}
	if now.Sub(tn.switchover.confirmSince) >= confirmPatience {
		return co.failSwitchover(ctx, t, sw, "after promote the role hooks disagree: "+strings.Join(seen, "; "))
	}
	return switchRetry
}

// broadcastFollow runs follow on every other live member than the new
// primary (S5's broadcast) and commits done, noting the nodes that missed
// it: those recorded unreachable, and those whose call failed.
func (co *Coordinator) broadcastFollow(ctx context.Context, t *fsm.Txn, sw fsm.Switchover) time.Duration {
	var others []fsm.Member
	var notes []string
	for _, m := range co.members() {
		switch {
		case m.ID == sw.Candidate:
		case m.Liveness != nil && m.Liveness.Status == fsm.LivenessUnreachable:
			notes = append(notes, fmt.Sprintf("%s is unreachable: no follow", m.ID))
		default:
			others = append(others, m)
		}
	}
	missed := make([]string, len(others))
	req := co.actionRequest(t, sw)
	co.fanOut(len(others), func(i int) {
		cctx, cancel := context.WithTimeout(ctx, followCallTimeout)
		defer cancel()
		res, err := co.n.ServiceAction(cctx, others[i].HTTPAddr, api.HookFollow, req)
		switch {
		case err != nil:
			missed[i] = fmt.Sprintf("%s did not run follow: %v", others[i].ID, err)
		case res.Error != "":
			missed[i] = fmt.Sprintf("follow on %s failed: %s", others[i].ID, res.Error)
		}
	})
	for _, m := range missed {
		if m != "" {
			notes = append(notes, m)
		}
	}
	note := strings.Join(notes, "; ")
	if note != "" {
		co.log.Warn("follow did not run everywhere", "txn", t.ID, "primary", sw.Candidate, "note", note)
	}
	wait := co.advance(ctx, t, sw, fsm.SwitchDone, note)
	if wait == 0 {
		co.log.Info("switch-over done", "txn", t.ID, "primary", sw.Candidate, "old_primary", sw.OldPrimary, "took", co.opts.Now().Sub(sw.StartedAt))
		co.opts.Metrics.MeasureSince([]string{"coordinator", "switchover"}, sw.StartedAt)
	}
	return wait
}

// failSwitchover commits a failed switch-over; the transaction's failure
// policy then halts it or rolls it back. No service hook runs after it.
func (co *Coordinator) failSwitchover(ctx context.Context, t *fsm.Txn, sw fsm.Switchover, why string) time.Duration {
	cmd := fsm.SwitchoverFail{TxnID: t.ID, Node: sw.OldPrimary, Primary: sw.Candidate, Error: why}
	if _, err := co.c.Apply(ctx, fsm.CmdSwitchoverFail, cmd); err != nil {
		co.log.Error("switch-over failed, and recording it failed; retrying", "txn", t.ID, "reason", why, "error", err)
		return time.Second
	}
	co.log.Warn("switch-over failed", "txn", t.ID, "old_primary", sw.OldPrimary, "candidate", sw.Candidate, "reason", why)
	co.opts.Metrics.IncrCounter([]string{"coordinator", "switchover", "failed"}, 1)
	return idle
}
