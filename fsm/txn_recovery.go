package fsm

import (
	"fmt"
	"strings"
	"time"
)

// This file holds the protocol-3 commands that keep a transaction's record
// true to what happened on its nodes: a step whose node already runs the
// target is done without running anything (step.skip), a rollback that
// failed halts the transaction as rollback-failed instead of ending it as if
// it had worked (txn.halt), and an operator takes such a transaction on
// again (txn.recover).

// CheckSkip reports whether node's step of t may be skipped now: t runs,
// the step is pending in the current batch, and the catalogue says the
// node already runs t's target version. It changes nothing.
func (s *State) CheckSkip(t *Txn, st *Step) error {
	if t.State != TxnRunning {
		return fmt.Errorf("%w: transaction %s is %s: no step may begin or be skipped", ErrStale, t.ID, t.State)
	}
	if st.State != StepPending {
		return fmt.Errorf("%w: step %s of %s is %s, not pending", ErrStale, st.Node, t.ID, st.State)
	}
	if cur := t.CurrentBatch(); st.Batch != cur {
		return fmt.Errorf("%w: step %s is in batch %d, but batch %d is not done", ErrConflict, st.Node, st.Batch+1, cur+1)
	}
	m, ok := s.Members[st.Node]
	if !ok {
		return fmt.Errorf("%w: %s is no longer a member", ErrConflict, st.Node)
	}
	if m.Version != t.TargetVersion {
		return fmt.Errorf("%w: %s runs %s, not the target %s: its step must run", ErrConflict, st.Node, orDefault(m.Version, "an unknown version"), t.TargetVersion)
	}
	return nil
}

func (s *State) applyStepSkip(now time.Time, c StepSkip) error {
	t, st, err := s.activeStep(c.TxnID, c.Node)
	if err != nil {
		return err
	}
	if err := s.CheckSkip(t, st); err != nil {
		return err
	}
	t.setStepState(st, StepDone)
	st.Skipped, st.Rollback = true, false
	st.FromVersion, st.ToVersion = t.TargetVersion, t.TargetVersion
	st.StartedAt, st.FinishedAt, st.Error = now, now, ""
	t.UpdatedAt, t.LastProgressAt = now, now
	if t.Count(StepDone) == len(t.Steps) {
		t.State, t.Reason = TxnFinalizing, ""
	}
	return nil
}

// NeedsRollback reports whether st is still to be rolled back when its
// transaction rolls back: a step that ran to done (a skipped one changed
// nothing), an upgrade that failed (it may have changed something), or a
// rollback an operator asked to retry (pending with Rollback set). A
// rollback that failed is not tried again until txn.recover asks for it.
func NeedsRollback(st Step) bool {
	switch st.State {
	case StepDone:
		return !st.Skipped
	case StepFailed:
		return !st.Rollback
	case StepPending:
		return st.Rollback
	}
	return false
}

// rollbackFailures lists, in step order, the nodes whose rollback failed.
func rollbackFailures(t *Txn) []string {
	var out []string
	for _, st := range t.Steps {
		if st.State == StepFailed && st.Rollback {
			out = append(out, st.Node)
		}
	}
	return out
}

// CheckHalt reports whether the aborting transaction t may halt as
// rollback-failed: it rolls back, nothing runs, nothing is left to roll
// back, and at least one rollback failed. It changes nothing.
func CheckHalt(t *Txn) error {
	if t.State != TxnAborting || !t.RollbackRequested {
		return fmt.Errorf("%w: transaction %s is %s without a rollback: only a rollback halts this way", ErrConflict, t.ID, t.State)
	}
	if n := t.Count(StepRunning); n > 0 {
		return fmt.Errorf("%w: %d steps of %s still run", ErrConflict, n, t.ID)
	}
	for _, st := range t.Steps {
		if NeedsRollback(st) {
			return fmt.Errorf("%w: %s of %s is still to be rolled back", ErrConflict, st.Node, t.ID)
		}
	}
	if len(rollbackFailures(t)) == 0 {
		return fmt.Errorf("%w: no rollback of %s failed: it finishes aborted", ErrConflict, t.ID)
	}
	return nil
}

func (s *State) applyTxnHalt(now time.Time, c TxnControl) error {
	t, err := s.controlled(c)
	if err != nil {
		return err
	}
	if err := CheckHalt(t); err != nil {
		return err
	}
	t.State, t.UpdatedAt = TxnRollbackFailed, now
	t.Reason = joinReason("rollback failed on "+strings.Join(rollbackFailures(t), ", "), t.Reason)
	return nil
}

func (s *State) applyTxnRecover(now time.Time, c TxnRecover) error {
	t, err := s.controlled(TxnControl{TxnID: c.TxnID})
	if err != nil {
		return err
	}
	if t.State != TxnRollbackFailed {
		return fmt.Errorf("%w: transaction %s is %s; only a rollback-failed transaction is recovered this way", ErrConflict, t.ID, t.State)
	}
	if c.Rollback {
		nodes := rollbackFailures(t)
		for i := range t.Steps {
			if st := &t.Steps[i]; st.State == StepFailed && st.Rollback {
				t.setStepState(st, StepPending)
			}
		}
		t.State, t.RollbackRequested = TxnAborting, true
		t.Reason = "rollback retried on " + strings.Join(nodes, ", ")
	} else {
		for i := range t.Steps {
			st := &t.Steps[i]
			if st.State == StepDone {
				continue
			}
			t.setStepState(st, StepPending)
			st.Rollback, st.ToVersion = false, t.TargetVersion
		}
		t.State, t.RollbackRequested, t.Reason = TxnRunning, false, ""
	}
	t.UpdatedAt, t.LastProgressAt = now, now
	return nil
}
