package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc"
)

// term is the coordinator's memory for one term of leadership. Nothing in
// it is needed for correctness after a crash: it only avoids repeating work
// within the term.
type term struct {
	reconciledAt  map[string]time.Time // "txn/node/attempt" -> last check with the node
	handoffSince  time.Time            // first failed search for a successor
	lastNote      string
	finalizeRetry time.Time
}

// idle is how long the loop sleeps with nothing to watch but state changes.
const idle = time.Minute

// Run drives the active transaction until ctx ends (leadership lost or the
// agent stopping). It is woken by every change of the state machine and by
// the next deadline of a running step.
func (co *Coordinator) Run(ctx context.Context) {
	co.log.Info("coordinator started", "leader", co.c.ID())
	defer co.log.Info("coordinator stopped", "leader", co.c.ID())
	tm := &term{reconciledAt: map[string]time.Time{}}
	for {
		changed := co.c.FSM().Changed()
		st := co.c.FSM().Read()
		wait := co.drive(ctx, tm, st)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-changed:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// drive takes the next actions for the active transaction and returns how
// long to wait at most before looking again.
func (co *Coordinator) drive(ctx context.Context, tm *term, st *fsm.State) time.Duration {
	t := st.ActiveTxn()
	if t == nil {
		return idle
	}
	wait := co.watchRunning(ctx, tm, st, t)
	if t.State == fsm.TxnRunning {
		return min(wait, co.startBatch(ctx, tm, st, t))
	}
	if t.Count(fsm.StepRunning) > 0 {
		return wait
	}
	switch t.State {
	case fsm.TxnFinalizing:
		return min(wait, co.finalize(ctx, tm, st, t))
	case fsm.TxnAborting:
		return min(wait, co.unwind(ctx, tm, st, t))
	}
	return wait
}

// watchRunning checks every running step: it fails a step past its
// deadline, and checks with the node a step not checked recently (all of
// them after a change of leader), turning a finished attempt into its
// notice and re-sending an attempt the node never received. It returns the
// time until the next deadline or check.
func (co *Coordinator) watchRunning(ctx context.Context, tm *term, st *fsm.State, t *fsm.Txn) time.Duration {
	now := co.opts.Now()
	next := idle
	for _, s := range t.Steps {
		if s.State != fsm.StepRunning {
			continue
		}
		deadline := s.StartedAt.Add(time.Duration(t.StepTimeout))
		if progress := t.LastProgressAt.Add(time.Duration(t.ProgressDeadline)); progress.Before(deadline) {
			deadline = progress
		}
		if !now.Before(deadline) {
			co.failStep(ctx, t, s, fmt.Sprintf("no completion notice within the step timeout (%s) or progress deadline (%s)",
				time.Duration(t.StepTimeout), time.Duration(t.ProgressDeadline)))
			continue
		}
		next = min(next, deadline.Sub(now))
		key := fmt.Sprintf("%s/%s/%d", t.ID, s.Node, s.Attempt)
		if last, ok := tm.reconciledAt[key]; !ok || now.Sub(last) >= co.opts.ReconcileInterval {
			tm.reconciledAt[key] = now
			co.reconcile(ctx, st, t, s)
		}
		next = min(next, co.opts.ReconcileInterval)
	}
	return max(next, 10*time.Millisecond)
}

func (co *Coordinator) failStep(ctx context.Context, t *fsm.Txn, s fsm.Step, why string) {
	co.log.Warn("step failed", "txn", t.ID, "node", s.Node, "attempt", s.Attempt, "reason", why)
	_, err := co.c.Apply(ctx, fsm.CmdStepFail, fsm.StepFail{TxnID: t.ID, Node: s.Node, Attempt: s.Attempt, Error: why})
	if err != nil {
		co.log.Debug("step fail not committed", "error", err)
	}
}

// reconcile asks the node about a running attempt.
func (co *Coordinator) reconcile(ctx context.Context, st *fsm.State, t *fsm.Txn, s fsm.Step) {
	addr := st.Members[s.Node].HTTPAddr
	cctx, cancel := context.WithTimeout(ctx, co.opts.CallTimeout)
	defer cancel()
	status, err := co.n.StepStatus(cctx, addr, t.ID, s.Attempt)
	var apiErr *rpc.APIError
	switch {
	case errors.As(err, &apiErr) && errors.Is(err, fsm.ErrNotFound):
		co.log.Info("node does not know the attempt; sending it again", "txn", t.ID, "node", s.Node, "attempt", s.Attempt)
		co.send(ctx, st, t, s)
	case err != nil:
		co.log.Debug("node unreachable for a running step", "node", s.Node, "error", err)
	case status.State == rpc.StepDone || status.State == rpc.StepFailed:
		if err := co.Notice(ctx, status); err != nil {
			co.log.Debug("notice from reconciliation not committed", "error", err)
		}
	}
}

// send delivers a begun step to its node. A failure is only logged: the
// step stays running, and reconciliation or its deadline takes it on.
func (co *Coordinator) send(ctx context.Context, st *fsm.State, t *fsm.Txn, s fsm.Step) {
	req := rpc.StepRequest{TxnID: t.ID, Node: s.Node, Attempt: s.Attempt, TargetVersion: s.ToVersion,
		FromVersion: s.FromVersion, ArtifactURL: t.ArtifactURL, ArtifactSHA256: t.ArtifactSHA256,
		ProtocolVersion: st.ProtocolVersion, Rollback: s.Rollback, AllowLeader: t.AllowLeaderUpgrade}
	if s.Rollback {
		req.ArtifactURL, req.ArtifactSHA256 = "", ""
	}
	cctx, cancel := context.WithTimeout(ctx, co.opts.CallTimeout)
	defer cancel()
	if _, err := co.n.RunStep(cctx, st.Members[s.Node].HTTPAddr, req); err != nil {
		co.log.Warn("step not delivered yet", "txn", t.ID, "node", s.Node, "attempt", s.Attempt, "error", err)
	}
}

// begin commits the write-ahead begin of a step's next attempt, then sends
// it. It reports whether the begin committed.
func (co *Coordinator) begin(ctx context.Context, t *fsm.Txn, s fsm.Step, rollback bool) bool {
	attempt := s.Attempt + 1
	if _, err := co.c.Apply(ctx, fsm.CmdStepBegin, fsm.StepBegin{TxnID: t.ID, Node: s.Node, Attempt: attempt, Rollback: rollback}); err != nil {
		co.log.Warn("step begin not committed", "txn", t.ID, "node", s.Node, "attempt", attempt, "error", err)
		return false
	}
	st := co.c.FSM().Read()
	nt := st.Txns[t.ID]
	if nt == nil || nt.Step(s.Node) == nil {
		return false
	}
	co.log.Info("step begun", "txn", t.ID, "node", s.Node, "attempt", attempt, "rollback", rollback)
	metrics.IncrCounter([]string{"coordinator", "steps", "begun"}, 1)
	co.send(ctx, st, nt, *nt.Step(s.Node))
	return true
}

// startBatch begins every pending step of the current batch, after handing
// leadership off if the batch holds this node.
func (co *Coordinator) startBatch(ctx context.Context, tm *term, st *fsm.State, t *fsm.Txn) time.Duration {
	batch := t.CurrentBatch()
	var pending []fsm.Step
	var nodes []string
	for _, s := range t.Steps {
		if s.Batch == batch {
			nodes = append(nodes, s.Node)
			if s.State == fsm.StepPending {
				pending = append(pending, s)
			}
		}
	}
	if slices.Contains(nodes, co.c.ID()) && !t.AllowLeaderUpgrade {
		return co.handoff(ctx, tm, st, t, nodes)
	}
	tm.handoffSince = time.Time{}
	for _, s := range pending {
		if !co.begin(ctx, t, s, false) {
			return time.Second
		}
	}
	return idle
}

// unwind finishes an aborting transaction: with a rollback, it rolls back
// the steps that ran, newest first, one at a time; then it ends the
// transaction.
func (co *Coordinator) unwind(ctx context.Context, tm *term, st *fsm.State, t *fsm.Txn) time.Duration {
	if t.RollbackRequested {
		for i := len(t.Steps) - 1; i >= 0; i-- {
			s := t.Steps[i]
			if s.State == fsm.StepDone || (s.State == fsm.StepFailed && !s.Rollback) {
				if s.Node == co.c.ID() && !t.AllowLeaderUpgrade {
					return co.handoff(ctx, tm, st, t, []string{s.Node})
				}
				if !co.begin(ctx, t, s, true) {
					return time.Second
				}
				return idle
			}
		}
	}
	reason := ""
	if t.RollbackRequested {
		reason = "rollback finished"
	}
	if _, err := co.c.Apply(ctx, fsm.CmdTxnFinish, fsm.TxnFinish{TxnID: t.ID, Reason: reason}); err != nil {
		co.log.Warn("transaction finish not committed", "txn", t.ID, "error", err)
		return time.Second
	}
	co.log.Info("transaction aborted", "txn", t.ID)
	return idle
}

// note records a human-readable reason on the transaction, once per change.
func (co *Coordinator) note(ctx context.Context, tm *term, t *fsm.Txn, reason string) {
	if reason == tm.lastNote && reason == t.Reason {
		return
	}
	tm.lastNote = reason
	if _, err := co.c.Apply(ctx, fsm.CmdTxnNote, fsm.TxnControl{TxnID: t.ID, Reason: reason}); err != nil {
		co.log.Debug("note not committed", "error", err)
	}
}
