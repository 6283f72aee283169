package fsm

import (
	"fmt"
	"time"
)

func (s *State) applyMemberJoin(_ time.Time, c MemberJoin) error {
	m := c.Member
	if err := s.CheckJoin(m); err != nil {
		return err
	}
	if old, ok := s.Members[m.ID]; ok {
		// A re-join refreshes what the member says of itself (its version
		// read anew, so no VersionError); what others recorded about it
		// stays.
		if m.Build == nil {
			m.Build = old.Build
		}
		m.Liveness = old.Liveness
		m.Role = old.Role // service.go: the leader's record, not the member's
		// ring.go: reported with member.service, never by a join.
		m.ServiceAddr = old.ServiceAddr
		m.NodeKey = old.NodeKey
	} else {
		m.Role, m.ServiceAddr, m.NodeKey = "", "", ""
	}
	if s.ProtocolVersion == 0 {
		// The first member of a new cluster sets its protocol: the newest
		// the member speaks. It comes from the log, so every server agrees.
		s.ProtocolVersion = m.Protocol.Max
	}
	s.Members[m.ID] = m.clone()
	s.noteBuild(m.Version, m.Protocol)
	return nil
}

// CheckJoin reports whether m may join (or re-join) the catalogue, without
// changing anything. A member may re-join from the same Raft address with new
// details; an id held by another Raft address, or an address held by another
// id, is a conflict. A member must speak the cluster's active protocol.
func (s *State) CheckJoin(m Member) error {
	if m.Client {
		return fmt.Errorf("%w: member %q is a client agent: clients register with client.register, never member.join", ErrInvalid, m.ID)
	}
	if err := validateMember(m, s.limits()); err != nil {
		return err
	}
	if old, ok := s.Members[m.ID]; ok && old.Client {
		return fmt.Errorf("%w: member id %q is already taken by a client agent", ErrConflict, m.ID)
	}
	if old, ok := s.Members[m.ID]; ok && old.RaftAddr != m.RaftAddr {
		return fmt.Errorf("%w: member id %q is already taken by raft address %s", ErrConflict, m.ID, old.RaftAddr)
	}
	// The clash with the lowest id is reported, as a walk in id order would
	// find it; the map is walked without sorting or copying it, since a
	// join with thousands of members happens thousands of times.
	clash := ""
	for id, o := range s.Members {
		if id != m.ID && (o.RaftAddr == m.RaftAddr || o.HTTPAddr == m.HTTPAddr) && (clash == "" || id < clash) {
			clash = id
		}
	}
	if clash != "" && s.Members[clash].RaftAddr == m.RaftAddr {
		return fmt.Errorf("%w: raft address %s is already used by member %q", ErrConflict, m.RaftAddr, clash)
	}
	if clash != "" {
		return fmt.Errorf("%w: http address %s is already used by member %q", ErrConflict, m.HTTPAddr, clash)
	}
	if s.ProtocolVersion > 0 && !m.Protocol.Supports(s.ProtocolVersion) {
		return fmt.Errorf("%w: member %q speaks protocol %d-%d but the cluster's active protocol is %d",
			ErrConflict, m.ID, m.Protocol.Min, m.Protocol.Max, s.ProtocolVersion)
	}
	return nil
}

func (s *State) applyMemberLeave(_ time.Time, c MemberLeave) error {
	if err := s.CheckLeave(c.ID); err != nil {
		return err
	}
	delete(s.Members, c.ID)
	return nil
}

// CheckLeave reports whether member id may leave the catalogue with
// member.leave, without changing anything: it must be a member, and must
// have no pending or running step in the active transaction (a forced
// removal, member.force-leave, fails that step instead).
func (s *State) CheckLeave(id string) error {
	if _, ok := s.Members[id]; !ok {
		return fmt.Errorf("%w: member %q", ErrNotFound, id)
	}
	if t := s.ActiveTxn(); t != nil {
		if st := t.Step(id); st != nil && (st.State == StepPending || st.State == StepRunning) {
			return fmt.Errorf("%w: member %q has a %s step in transaction %s: abort it first", ErrConflict, id, st.State, t.ID)
		}
	}
	return nil
}

// RemovedError is the error a forced removal gives the member's unfinished
// step.
func RemovedError(id string) string { return fmt.Sprintf("member %s was removed", id) }

func (s *State) applyMemberForceLeave(now time.Time, c MemberForceLeave) error {
	if err := ValidateID(c.ID); err != nil {
		return err
	}
	if _, ok := s.Members[c.ID]; !ok {
		return fmt.Errorf("%w: member %q", ErrNotFound, c.ID)
	}
	if t := s.ActiveTxn(); t != nil {
		if st := t.Step(c.ID); st != nil {
			switch st.State {
			case StepRunning:
				// Exactly what a failure notice of the attempt does, so
				// that a removal and a failure read alike in history.
				f := StepFail{TxnID: t.ID, Node: c.ID, Attempt: st.Attempt, Error: RemovedError(c.ID)}
				if err := s.applyStepFail(now, f); err != nil {
					return err
				}
			case StepPending:
				failUnbegun(t, st, now, RemovedError(c.ID))
			}
		}
	}
	delete(s.Members, c.ID)
	return nil
}

// failUnbegun fails a step that never began (no attempt, nothing ran on its
// node) with why, and applies the transaction's failure policy as a
// failure notice would.
func failUnbegun(t *Txn, st *Step, now time.Time, why string) {
	t.setStepState(st, StepFailed)
	st.FinishedAt, st.Error = now, why
	t.UpdatedAt = now
	reason := fmt.Sprintf("step on %s failed before it began: %s", st.Node, why)
	switch {
	case t.State == TxnAborting:
		t.Reason = joinReason(t.Reason, reason)
	case t.OnFailure == OnFailureRollback:
		t.State, t.RollbackRequested, t.Reason = TxnAborting, true, reason+"; rolling back"
	default:
		t.State, t.Reason = TxnFailed, reason
	}
}

// checkStepMember refuses, from protocol 3 on, to run a step (begin it,
// retry it, roll it back) whose member is no longer in the catalogue: no
// node would run it, and the step would only wait for its deadline. A
// member that joins again under the same id takes the step back. Before
// protocol 3 these commands were accepted, and a log of that time must
// replay as it applied.
func (s *State) checkStepMember(t *Txn, node string) error {
	if s.ProtocolVersion < CommandProtocol(CmdMemberForceLeave) {
		return nil
	}
	if _, ok := s.Members[node]; !ok {
		return fmt.Errorf("%w: member %s was removed, so its step in %s cannot run: abort the transaction and start another, "+
			"or join a node under the id %s first", ErrConflict, node, t.ID, node)
	}
	return nil
}

// CheckMove reports whether c may move a member to another Raft address,
// without changing anything: the member exists at c.PriorRaftAddr (or is
// already at c.RaftAddr, which makes the move a harmless repeat), and no
// other member holds c.RaftAddr.
func (s *State) CheckMove(c MemberMove) error {
	if err := ValidateID(c.ID); err != nil {
		return err
	}
	if err := ValidateAddr("raft_addr", c.RaftAddr); err != nil {
		return err
	}
	if err := ValidateAddr("prior_raft_addr", c.PriorRaftAddr); err != nil {
		return err
	}
	m, ok := s.Members[c.ID]
	if !ok {
		return fmt.Errorf("%w: member %q", ErrNotFound, c.ID)
	}
	if m.RaftAddr == c.RaftAddr {
		return nil
	}
	if m.RaftAddr != c.PriorRaftAddr {
		return fmt.Errorf("%w: member %q is at raft address %s, not %s: only the agent with its data dir can move it",
			ErrConflict, c.ID, m.RaftAddr, c.PriorRaftAddr)
	}
	for id, o := range s.Members {
		if id != c.ID && o.RaftAddr == c.RaftAddr {
			return fmt.Errorf("%w: raft address %s is already used by member %q", ErrConflict, c.RaftAddr, id)
		}
	}
	return nil
}

func (s *State) applyMemberMove(_ time.Time, c MemberMove) error {
	if err := s.CheckMove(c); err != nil {
		return err
	}
	m := s.Members[c.ID]
	m.RaftAddr = c.RaftAddr
	s.Members[c.ID] = m
	return nil
}

func (s *State) applyMemberReport(_ time.Time, c MemberReport) error {
	m, ok := s.Members[c.ID]
	if !ok {
		return fmt.Errorf("%w: member %q", ErrNotFound, c.ID)
	}
	if err := ValidateProtocol(c.Protocol); err != nil {
		return err
	}
	if c.Version == "" {
		return fmt.Errorf("%w: member %q reported an empty version", ErrInvalid, c.ID)
	}
	if s.limits() && len(c.Version) > MaxVersionLen {
		return fmt.Errorf("%w: member %q reported a version of %d bytes: want at most %d", ErrInvalid, c.ID, len(c.Version), MaxVersionLen)
	}
	m.Version = c.Version
	m.Protocol = c.Protocol
	s.Members[c.ID] = m
	s.noteBuild(c.Version, c.Protocol)
	return nil
}

func (s *State) applyMemberStatus(_ time.Time, c MemberStatus) error {
	m, ok := s.Members[c.ID]
	if !ok {
		return fmt.Errorf("%w: member %q", ErrNotFound, c.ID)
	}
	if err := ValidateProtocol(c.Build.Protocol); err != nil {
		return err
	}
	if err := validateVersion(c.Build.Version, s.limits()); err != nil {
		return err
	}
	b := c.Build
	m.Build = &b
	s.Members[c.ID] = m
	s.noteBuild(b.Version, b.Protocol)
	return nil
}

func (s *State) applyMemberVersionError(_ time.Time, c MemberVersionError) error {
	m, ok := s.Members[c.ID]
	if !ok {
		return fmt.Errorf("%w: member %q", ErrNotFound, c.ID)
	}
	if len(c.Error) > MaxVersionError {
		return fmt.Errorf("%w: version error of %q: %d bytes, want at most %d", ErrInvalid, c.ID, len(c.Error), MaxVersionError)
	}
	m.VersionError = c.Error
	s.Members[c.ID] = m
	return nil
}

func (s *State) applyMemberKey(_ time.Time, c MemberKey) error {
	m, ok := s.Members[c.ID]
	if !ok {
		return fmt.Errorf("%w: member %q", ErrNotFound, c.ID)
	}
	if err := ValidateNodeKey(c.Key); err != nil {
		return err
	}
	if m.NodeKey != "" && m.NodeKey != c.Key {
		// A member's key is set once: a second key for the same member
		// is refused whoever proposes it, so two registrations racing
		// cannot swap a member's identity. A node that lost its key is
		// removed and joins again.
		return fmt.Errorf("%w: member %q already has another node key on record", ErrConflict, c.ID)
	}
	m.NodeKey = c.Key
	s.Members[c.ID] = m
	return nil
}

func (s *State) applyMemberLiveness(now time.Time, c MemberLiveness) error {
	m, ok := s.Members[c.ID]
	if !ok {
		return fmt.Errorf("%w: member %q", ErrNotFound, c.ID)
	}
	if c.Status != LivenessAlive && c.Status != LivenessUnreachable {
		return fmt.Errorf("%w: liveness %q: want %s or %s", ErrInvalid, c.Status, LivenessAlive, LivenessUnreachable)
	}
	if m.Liveness != nil && m.Liveness.Status == c.Status {
		return nil // already recorded; Since keeps the first time
	}
	l := Liveness{Status: c.Status, Since: now}
	if c.Status == LivenessUnreachable {
		l.LastSeen = c.LastSeen
	}
	m.Liveness = &l
	s.Members[c.ID] = m
	return nil
}
