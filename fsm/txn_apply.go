package fsm

import (
	"fmt"
	"slices"
	"time"
)

// ValidateTxn checks a transaction about to start against the state: fields
// in range (the limits of validate.go from LimitsProtocol on), every step a
// distinct member, batches in order. It changes nothing. A second active transaction is a conflict (I1).
func (s *State) ValidateTxn(t Txn) error {
	if a := s.ActiveTxn(); a != nil {
		return fmt.Errorf("%w: transaction %s is already %s; abort it or wait for it to end", ErrConflict, a.ID, a.State)
	}
	if err := ValidateTxnID(t.ID); err != nil {
		return err
	}
	if _, ok := s.Txns[t.ID]; ok {
		return fmt.Errorf("%w: transaction id %q is already used", ErrConflict, t.ID)
	}
	if err := validateVersion(t.TargetVersion, s.limits()); err != nil {
		return err
	}
	if err := s.CheckTarget(t.TargetVersion); err != nil {
		return err
	}
	if err := s.validateTxnArtifact(t); err != nil { // artifacts.go
		return err
	}
	if t.Strategy == "" {
		return fmt.Errorf("%w: transaction without a strategy", ErrInvalid)
	}
	if t.MaxParallel < 1 {
		return fmt.Errorf("%w: max-parallel %d: want at least 1", ErrInvalid, t.MaxParallel)
	}
	if err := ValidateOnFailure(t.OnFailure); err != nil {
		return err
	}
	if t.StepTimeout <= 0 || t.ProgressDeadline <= 0 {
		return fmt.Errorf("%w: step timeout and progress deadline must be positive", ErrInvalid)
	}
	if s.limits() {
		if err := ValidateDuration("step_timeout", time.Duration(t.StepTimeout)); err != nil {
			return err
		}
		if err := ValidateDuration("progress_deadline", time.Duration(t.ProgressDeadline)); err != nil {
			return err
		}
	}
	if err := s.validateSteps(t.Steps); err != nil {
		return err
	}
	if err := validateGroups(t); err != nil { // groups.go
		return err
	}
	return s.checkTxnRing(t) // ring.go
}

func (s *State) validateSteps(steps []Step) error {
	if len(steps) == 0 {
		return fmt.Errorf("%w: transaction without steps", ErrInvalid)
	}
	seen := map[string]bool{}
	for i, st := range steps {
		if _, ok := s.Members[st.Node]; !ok {
			return fmt.Errorf("%w: step for unknown member %q", ErrNotFound, st.Node)
		}
		if seen[st.Node] {
			return fmt.Errorf("%w: two steps for member %q", ErrInvalid, st.Node)
		}
		seen[st.Node] = true
		prev := 0
		if i > 0 {
			prev = steps[i-1].Batch
		}
		if st.Batch < prev || st.Batch > prev+1 || (i == 0 && st.Batch != 0) {
			return fmt.Errorf("%w: step batches must start at 0 and rise by at most 1, got %d after %d", ErrInvalid, st.Batch, prev)
		}
	}
	return nil
}

func (s *State) applyTxnStart(now time.Time, c TxnStart) error {
	t := c.Txn
	if err := s.ValidateTxn(t); err != nil {
		return err
	}
	t.State, t.Reason, t.RollbackRequested, t.ProtocolVersion = TxnRunning, "", false, 0
	t.CreatedAt, t.UpdatedAt, t.LastProgressAt, t.FinishedAt = now, now, now, time.Time{}
	t.Steps = append([]Step(nil), t.Steps...)
	s.startService(&t) // service.go
	if s.ProtocolVersion < CommandProtocol(CmdRingSet) {
		t.Ring = nil // ring.go: an older build drops the field it does not know
	}
	t.Ring = slices.Clone(t.Ring)
	s.startGroups(&t) // groups.go
	for i := range t.Steps {
		st := &t.Steps[i]
		v := s.Members[st.Node].Version
		*st = Step{Node: st.Node, Batch: st.Batch, State: StepPending,
			PriorVersion: v, FromVersion: v, ToVersion: t.TargetVersion}
	}
	t.reindex()
	s.Txns[t.ID] = &t
	s.TxnOrder = append(s.TxnOrder, t.ID)
	s.Active = t.ID
	return nil
}

// activeStep finds the active transaction id and its step of node.
func (s *State) activeStep(txnID, node string) (*Txn, *Step, error) {
	t, ok := s.Txns[txnID]
	if !ok {
		return nil, nil, fmt.Errorf("%w: transaction %q", ErrNotFound, txnID)
	}
	if s.Active != txnID {
		return nil, nil, fmt.Errorf("%w: transaction %s is %s, not active", ErrStale, txnID, t.State)
	}
	st := t.Step(node)
	if st == nil {
		return nil, nil, fmt.Errorf("%w: transaction %s has no step for %q", ErrNotFound, txnID, node)
	}
	return t, st, nil
}

func (s *State) applyStepBegin(now time.Time, c StepBegin) error {
	t, st, err := s.activeStep(c.TxnID, c.Node)
	if err != nil {
		return err
	}
	if c.Attempt != st.Attempt+1 {
		return fmt.Errorf("%w: step %s of %s: attempt %d begun, but the next attempt is %d", ErrStale, c.Node, t.ID, c.Attempt, st.Attempt+1)
	}
	if err := s.checkStepMember(t, c.Node); err != nil {
		return err
	}
	if c.Rollback {
		if err := canBeginRollback(t, st); err != nil {
			return err
		}
	} else if err := canBeginUpgrade(t, st); err != nil {
		return err
	} else if err := s.checkNotPrimary(c.Node); err != nil { // service.go
		return err
	}
	if err := checkRingNeighbours(t, c.Node); err != nil { // ring.go
		return err
	}
	t.setStepState(st, StepRunning)
	st.Attempt, st.Rollback, st.Skipped = c.Attempt, c.Rollback, false
	st.StartedAt, st.FinishedAt, st.Error = now, time.Time{}, ""
	if m, ok := s.Members[c.Node]; ok {
		st.FromVersion = m.Version
	}
	st.ToVersion = t.TargetVersion
	if c.Rollback {
		st.ToVersion = st.PriorVersion
	}
	st.beginAttempt(now)
	t.UpdatedAt, t.LastProgressAt = now, now
	return nil
}

// canBeginUpgrade enforces, in the state machine itself, that no step begins
// unless the transaction runs (I8), that batches run in order, and that no
// more than max-parallel steps run at once (I3).
func canBeginUpgrade(t *Txn, st *Step) error {
	if t.State != TxnRunning {
		return fmt.Errorf("%w: transaction %s is %s: no step may begin", ErrStale, t.ID, t.State)
	}
	if st.State != StepPending {
		return fmt.Errorf("%w: step %s of %s is %s, not pending", ErrStale, st.Node, t.ID, st.State)
	}
	if cur := t.CurrentBatch(); st.Batch != cur {
		return fmt.Errorf("%w: step %s is in batch %d, but batch %d is not done", ErrConflict, st.Node, st.Batch+1, cur+1)
	}
	if n := t.Count(StepRunning); n >= t.MaxParallel {
		return fmt.Errorf("%w: %d steps already run, max-parallel is %d", ErrConflict, n, t.MaxParallel)
	}
	return nil
}

// canBeginRollback allows one rollback at a time, of a step that was done
// or failed (or, once txn.recover retried the rollback, is pending to roll
// back), while an aborting transaction rolls back.
func canBeginRollback(t *Txn, st *Step) error {
	if t.State != TxnAborting || !t.RollbackRequested {
		return fmt.Errorf("%w: transaction %s is %s without a rollback: no rollback may begin", ErrStale, t.ID, t.State)
	}
	if st.State != StepDone && st.State != StepFailed && (st.State != StepPending || !st.Rollback) {
		return fmt.Errorf("%w: step %s of %s is %s: only done or failed steps roll back", ErrStale, st.Node, t.ID, st.State)
	}
	if t.Count(StepRunning) > 0 {
		return fmt.Errorf("%w: a step of %s still runs", ErrConflict, t.ID)
	}
	return nil
}

// checkNotice accepts a notice for the current, running attempt. A repeat of
// a notice already applied returns dup=true and is accepted without effect,
// so a node may resend until acknowledged; a notice for any other attempt is
// stale.
func checkNotice(t *Txn, st *Step, attempt uint64, final StepState) (dup bool, err error) {
	if attempt != st.Attempt {
		return false, fmt.Errorf("%w: notice for attempt %d of %s in %s, but attempt %d is current", ErrStale, attempt, st.Node, t.ID, st.Attempt)
	}
	if st.State == final {
		return true, nil
	}
	if st.State != StepRunning {
		return false, fmt.Errorf("%w: notice for %s in %s, whose step is %s", ErrStale, st.Node, t.ID, st.State)
	}
	return false, nil
}

func (s *State) applyStepComplete(now time.Time, c StepComplete) error {
	t, st, err := s.activeStep(c.TxnID, c.Node)
	if err != nil {
		return err
	}
	final := StepDone
	if st.Rollback {
		final = StepRolledBack
	}
	if dup, err := checkNotice(t, st, c.Attempt, final); dup || err != nil {
		return err
	}
	if c.Version != st.ToVersion {
		return fmt.Errorf("%w: %s reports version %q, but the step's target is %q", ErrInvalid, c.Node, clip(c.Version), st.ToVersion)
	}
	t.setStepState(st, final)
	st.FinishedAt, st.Error = now, ""
	st.endAttempt(final, now, "")
	if m, ok := s.Members[c.Node]; ok {
		m.Version = c.Version
		s.Members[c.Node] = m
	}
	t.UpdatedAt, t.LastProgressAt = now, now
	if t.Count(StepDone) == len(t.Steps) && (t.State == TxnRunning || t.State == TxnPaused) {
		t.State, t.Reason = TxnFinalizing, ""
	}
	return nil
}

func (s *State) applyStepFail(now time.Time, c StepFail) error {
	t, st, err := s.activeStep(c.TxnID, c.Node)
	if err != nil {
		return err
	}
	if dup, err := checkNotice(t, st, c.Attempt, StepFailed); dup || err != nil {
		return err
	}
	if c.Error == "" {
		return fmt.Errorf("%w: a step failure needs an error", ErrInvalid)
	}
	what := "step"
	if st.Rollback {
		what = "rollback"
	}
	t.setStepState(st, StepFailed)
	st.FinishedAt, st.Error = now, c.Error
	st.endAttempt(StepFailed, now, c.Error)
	t.UpdatedAt = now
	reason := fmt.Sprintf("%s on %s failed (attempt %d): %s", what, c.Node, c.Attempt, c.Error)
	switch {
	case t.State == TxnAborting:
		t.Reason = joinReason(t.Reason, reason)
	case t.OnFailure == OnFailureRollback:
		t.State, t.RollbackRequested, t.Reason = TxnAborting, true, reason+"; rolling back"
	default:
		t.State, t.Reason = TxnFailed, reason
	}
	return nil
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	return a + "; " + b
}

func (s *State) controlled(c TxnControl) (*Txn, error) {
	t, ok := s.Txns[c.TxnID]
	if !ok {
		return nil, fmt.Errorf("%w: transaction %q", ErrNotFound, c.TxnID)
	}
	return t, nil
}

func (s *State) applyTxnPause(now time.Time, c TxnControl) error {
	t, err := s.controlled(c)
	if err != nil {
		return err
	}
	if t.State != TxnRunning {
		return fmt.Errorf("%w: transaction %s is %s; only a running transaction can be paused", ErrConflict, t.ID, t.State)
	}
	t.State, t.Reason, t.UpdatedAt = TxnPaused, orDefault(c.Reason, "paused by an operator"), now
	return nil
}

func (s *State) applyTxnResume(now time.Time, c TxnControl) error {
	t, err := s.controlled(c)
	if err != nil {
		return err
	}
	if t.State != TxnPaused {
		hint := ""
		switch t.State {
		case TxnFailed:
			hint = ": `baton upgrade retry` runs its failed steps again, `abort` ends it"
		case TxnRollbackFailed:
			hint = ": `baton upgrade retry` retries the rollback, `retry --forward` upgrades again, `abort` ends it"
		}
		return fmt.Errorf("%w: transaction %s is %s; only a paused transaction can be resumed%s", ErrConflict, t.ID, t.State, hint)
	}
	// Time spent paused is not lack of progress.
	t.State, t.Reason, t.UpdatedAt, t.LastProgressAt = TxnRunning, "", now, now
	return nil
}

func (s *State) applyTxnRetry(now time.Time, c TxnControl) error {
	t, err := s.controlled(c)
	if err != nil {
		return err
	}
	if t.State != TxnFailed {
		return fmt.Errorf("%w: transaction %s is %s; only a failed transaction can be retried", ErrConflict, t.ID, t.State)
	}
	for i := range t.Steps {
		if t.Steps[i].State == StepFailed {
			if err := s.checkStepMember(t, t.Steps[i].Node); err != nil {
				return err
			}
		}
	}
	for i := range t.Steps {
		if t.Steps[i].State == StepFailed {
			t.setStepState(&t.Steps[i], StepPending)
		}
	}
	t.State, t.Reason, t.UpdatedAt, t.LastProgressAt = TxnRunning, "", now, now
	return nil
}

func (s *State) applyTxnAbort(now time.Time, c TxnAbort) error {
	t, err := s.controlled(TxnControl{TxnID: c.TxnID})
	if err != nil {
		return err
	}
	switch t.State {
	case TxnDone, TxnAborted:
		return fmt.Errorf("%w: transaction %s is already %s", ErrConflict, t.ID, t.State)
	case TxnAborting:
		t.RollbackRequested = t.RollbackRequested || c.Rollback
		return nil
	}
	t.State, t.RollbackRequested, t.UpdatedAt = TxnAborting, c.Rollback, now
	t.Reason = joinReason(t.Reason, orDefault(c.Reason, "aborted by an operator"))
	return nil
}

func (s *State) applyTxnFinish(now time.Time, c TxnFinish) error {
	t, err := s.controlled(TxnControl{TxnID: c.TxnID})
	if err != nil {
		return err
	}
	if t.State != TxnAborting {
		return fmt.Errorf("%w: transaction %s is %s; only an aborting transaction finishes this way", ErrConflict, t.ID, t.State)
	}
	if n := t.Count(StepRunning); n > 0 {
		return fmt.Errorf("%w: %d steps of %s still run", ErrConflict, n, t.ID)
	}
	t.State, t.Reason = TxnAborted, joinReason(t.Reason, c.Reason)
	s.end(t, now)
	return nil
}

// CheckFinalize reports whether the transaction may finalize to protocol
// version v: every step done, v not below the active version, and every
// member speaking v (I6). It changes nothing.
func (s *State) CheckFinalize(t *Txn, v int) error {
	if t.State != TxnFinalizing {
		return fmt.Errorf("%w: transaction %s is %s, not finalizing", ErrConflict, t.ID, t.State)
	}
	if v < s.ProtocolVersion {
		return fmt.Errorf("%w: protocol %d is below the active protocol %d", ErrInvalid, v, s.ProtocolVersion)
	}
	for _, m := range s.MemberList() {
		if !m.Protocol.Supports(v) {
			return fmt.Errorf("%w: member %s speaks protocol %d-%d, not %d", ErrConflict, m.ID, m.Protocol.Min, m.Protocol.Max, v)
		}
	}
	return nil
}

func (s *State) applyTxnFinalize(now time.Time, c TxnFinalize) error {
	t, err := s.controlled(TxnControl{TxnID: c.TxnID})
	if err != nil {
		return err
	}
	if err := s.CheckFinalize(t, c.ProtocolVersion); err != nil {
		return err
	}
	s.ProtocolVersion = c.ProtocolVersion
	t.State, t.ProtocolVersion, t.Reason = TxnDone, c.ProtocolVersion, ""
	s.end(t, now)
	return nil
}

func (s *State) applyTxnNote(now time.Time, c TxnControl) error {
	t, err := s.controlled(c)
	if err != nil {
		return err
	}
	if t.State.Terminal() {
		return fmt.Errorf("%w: transaction %s is already %s", ErrConflict, t.ID, t.State)
	}
	t.Reason, t.UpdatedAt = c.Reason, now
	return nil
}

// end makes t terminal, clears the active slot and trims the history.
func (s *State) end(t *Txn, now time.Time) {
	t.UpdatedAt, t.FinishedAt = now, now
	if s.Active == t.ID {
		s.Active = ""
	}
	for len(s.TxnOrder) > MaxHistory {
		oldest := s.TxnOrder[0]
		if oldest == s.Active {
			break
		}
		delete(s.Txns, oldest)
		s.TxnOrder = s.TxnOrder[1:]
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
