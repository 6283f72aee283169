package fsm

import (
	"errors"
	"fmt"
	"slices"
)

// ErrBadState marks a state that breaks an invariant the state machine
// relies on: a snapshot that no sequence of commands could have produced
// (crafted, or damaged), which Restore refuses.
var ErrBadState = errors.New("invalid state")

// Validate checks every invariant of the state that the state machine and
// its readers rely on: ids well formed and equal to their map keys, the
// history naming exactly the kept transactions, at most one active
// transaction and Active naming it, steps with valid nodes and states in
// batch order, valid protocol ranges, and one service primary at most. An
// error wraps ErrBadState and names the first broken invariant; a nil
// error means the state can be applied to and read without panicking.
func (s *State) Validate() error {
	if err := s.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadState, err)
	}
	return nil
}

func (s *State) validate() error {
	if s.Members == nil || s.Txns == nil {
		return errors.New("members and txns must be objects")
	}
	if s.ProtocolVersion < 0 {
		return fmt.Errorf("protocol_version %d is negative", s.ProtocolVersion)
	}
	if err := s.validateMembers(); err != nil {
		return err
	}
	for v, p := range s.Builds {
		if err := ValidateProtocol(p); err != nil {
			return fmt.Errorf("builds[%q]: %w", v, err)
		}
	}
	if err := s.validateTxns(); err != nil {
		return err
	}
	if err := s.validateRing(); err != nil { // ring.go
		return err
	}
	if err := s.validateArtifacts(); err != nil { // artifacts.go
		return err
	}
	return s.validateService()
}

func (s *State) validateMembers() error {
	for id, m := range s.Members {
		if id != m.ID {
			return fmt.Errorf("members[%q] holds member %q", id, m.ID)
		}
		if err := ValidateMember(m); err != nil {
			return fmt.Errorf("members[%q]: %w", id, err)
		}
		if m.NodeKey != "" {
			if err := ValidateNodeKey(m.NodeKey); err != nil {
				return fmt.Errorf("members[%q]: %w", id, err)
			}
		}
		if m.Role != "" && m.Role != RolePrimary && m.Role != RoleReplica {
			return fmt.Errorf("members[%q]: role %q", id, m.Role)
		}
	}
	return nil
}

func (s *State) validateTxns() error {
	if len(s.TxnOrder) != len(s.Txns) {
		return fmt.Errorf("txn_order names %d transactions, txns holds %d", len(s.TxnOrder), len(s.Txns))
	}
	seen := make(map[string]bool, len(s.TxnOrder))
	for _, id := range s.TxnOrder {
		if seen[id] {
			return fmt.Errorf("txn_order names %q twice", id)
		}
		seen[id] = true
		if _, ok := s.Txns[id]; !ok {
			return fmt.Errorf("txn_order names %q, which txns does not hold", id)
		}
	}
	for id, t := range s.Txns {
		if t == nil {
			return fmt.Errorf("txns[%q] is null", id)
		}
		if id != t.ID {
			return fmt.Errorf("txns[%q] holds transaction %q", id, t.ID)
		}
		if err := t.validate(); err != nil {
			return fmt.Errorf("transaction %q: %w", id, err)
		}
		if !t.State.Terminal() && id != s.Active {
			return fmt.Errorf("transaction %q is %s but active is %q: one active transaction at most", id, t.State, s.Active)
		}
	}
	if s.Active != "" {
		t, ok := s.Txns[s.Active]
		if !ok {
			return fmt.Errorf("active names %q, which txns does not hold", s.Active)
		}
		if t.State.Terminal() {
			return fmt.Errorf("active names %q, which is %s", s.Active, t.State)
		}
	}
	return nil
}

// txnStates lists every state a transaction can be in.
var txnStates = []TxnState{TxnRunning, TxnPaused, TxnFailed, TxnFinalizing, TxnDone, TxnAborting, TxnAborted, TxnRollbackFailed}

// switchPhases lists every phase a switch-over can be in.
var switchPhases = append(slices.Clone(switchOrder), SwitchFailed)

func (t *Txn) validate() error {
	if err := ValidateTxnID(t.ID); err != nil {
		return err
	}
	if !slices.Contains(txnStates, t.State) {
		return fmt.Errorf("state %q", t.State)
	}
	nodes := make(map[string]bool, len(t.Steps))
	batch := 0
	for i, st := range t.Steps {
		if err := ValidateID(st.Node); err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
		if nodes[st.Node] {
			return fmt.Errorf("step %d: node %q has two steps", i, st.Node)
		}
		nodes[st.Node] = true
		if st.Batch < batch {
			return fmt.Errorf("step %d: batch %d after batch %d: steps must be in batch order", i, st.Batch, batch)
		}
		batch = st.Batch
		if stateSlot(st.State) < 0 {
			return fmt.Errorf("step %d: state %q", i, st.State)
		}
	}
	for i, sw := range t.Switchovers {
		if !slices.Contains(switchPhases, sw.Phase) {
			return fmt.Errorf("switch-over %d: phase %q", i, sw.Phase)
		}
		if sw.Phase.InProgress() && i != len(t.Switchovers)-1 {
			return fmt.Errorf("switch-over %d is in progress but not the last", i)
		}
	}
	return validateGroups(*t)
}

// validateService checks that at most one member holds the primary role,
// and that it is the recorded primary.
func (s *State) validateService() error {
	if p := s.Service.Primary; p != "" {
		if err := ValidateID(p); err != nil {
			return fmt.Errorf("service primary: %w", err)
		}
	}
	for id, m := range s.Members {
		if m.Role == RolePrimary && id != s.Service.Primary {
			return fmt.Errorf("member %q holds the primary role but the recorded primary is %q", id, s.Service.Primary)
		}
	}
	return nil
}
