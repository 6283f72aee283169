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
		// A re-join refreshes what the member says of itself; what others
		// recorded about it stays.
		if m.Build == nil {
			m.Build = old.Build
		}
		m.Liveness = old.Liveness
		m.Role = old.Role // service.go: the leader's record, not the member's
	} else {
		m.Role = ""
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
	if err := ValidateMember(m); err != nil {
		return err
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
	if _, ok := s.Members[c.ID]; !ok {
		return fmt.Errorf("%w: member %q", ErrNotFound, c.ID)
	}
	if t := s.ActiveTxn(); t != nil {
		if st := t.Step(c.ID); st != nil && (st.State == StepPending || st.State == StepRunning) {
			return fmt.Errorf("%w: member %q has a %s step in transaction %s: abort it first", ErrConflict, c.ID, st.State, t.ID)
		}
	}
	delete(s.Members, c.ID)
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
	if err := ValidateVersion(c.Build.Version); err != nil {
		return err
	}
	b := c.Build
	m.Build = &b
	s.Members[c.ID] = m
	s.noteBuild(b.Version, b.Protocol)
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
