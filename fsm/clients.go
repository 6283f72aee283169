package fsm

import (
	"fmt"
	"time"
)

// ClientRegister records a client agent in the catalogue (protocol 3): a
// member that holds no Raft state, has no API of its own (it pulls its
// steps from the servers, docs/clients.md), and signs its requests with
// the node key it registers here.
type ClientRegister struct {
	Member Member `json:"member"`
}

// validateClientAddrs checks the addresses of a client's record: a client
// has neither a Raft address nor an API the servers call.
func validateClientAddrs(m Member) error {
	if m.RaftAddr != "" {
		return fmt.Errorf("%w: client %q has raft_addr %q: a client agent holds no Raft state", ErrInvalid, m.ID, clip(m.RaftAddr))
	}
	if m.HTTPAddr != "" {
		return fmt.Errorf("%w: client %q has http_addr %q: the servers never call a client agent", ErrInvalid, m.ID, clip(m.HTTPAddr))
	}
	if m.Voter {
		return fmt.Errorf("%w: client %q is marked a voter: a client agent never votes", ErrInvalid, m.ID)
	}
	return nil
}

// CheckClientRegister reports whether c may be applied, without changing
// anything: the record must be a valid client with a node key, speaking
// the cluster's protocol; an id held by a server is a conflict, and so is
// a client already on record with another key (a client's identity is
// its key: one that lost it is removed and registers again).
func (s *State) CheckClientRegister(c ClientRegister) error {
	m := c.Member
	if !m.Client {
		return fmt.Errorf("%w: client.register of %q without client set", ErrInvalid, m.ID)
	}
	if err := validateMember(m, s.limits()); err != nil {
		return err
	}
	if err := ValidateNodeKey(m.NodeKey); err != nil {
		return fmt.Errorf("client %q: %w", m.ID, err)
	}
	if old, ok := s.Members[m.ID]; ok {
		if !old.Client {
			return fmt.Errorf("%w: member id %q is already taken by a server at raft address %s", ErrConflict, m.ID, old.RaftAddr)
		}
		if old.NodeKey != "" && old.NodeKey != m.NodeKey {
			return fmt.Errorf("%w: client %q already has another node key on record", ErrConflict, m.ID)
		}
	}
	if s.ProtocolVersion > 0 && !m.Protocol.Supports(s.ProtocolVersion) {
		return fmt.Errorf("%w: client %q speaks protocol %d-%d but the cluster's active protocol is %d",
			ErrConflict, m.ID, m.Protocol.Min, m.Protocol.Max, s.ProtocolVersion)
	}
	return nil
}

func (s *State) applyClientRegister(_ time.Time, c ClientRegister) error {
	if err := s.CheckClientRegister(c); err != nil {
		return err
	}
	m := c.Member
	// What others recorded about the client stays, as for a re-join.
	m.Build, m.Liveness, m.Role, m.ServiceAddr = nil, nil, "", ""
	if old, ok := s.Members[m.ID]; ok {
		m.Build, m.Liveness = old.Build, old.Liveness
	}
	s.Members[m.ID] = m.clone()
	s.noteBuild(m.Version, m.Protocol)
	return nil
}
