package fsm

import (
	"encoding/json"
	"sort"
)

// ProtocolRange is the inclusive range of protocol versions a build speaks.
type ProtocolRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// Supports reports whether v lies within the range.
func (p ProtocolRange) Supports(v int) bool { return v >= p.Min && v <= p.Max }

// Member is one agent of the cluster as the catalogue records it.
type Member struct {
	ID       string            `json:"id"`
	RaftAddr string            `json:"raft_addr"`
	HTTPAddr string            `json:"http_addr"`
	Version  string            `json:"version"`
	Voter    bool              `json:"voter"`
	Protocol ProtocolRange     `json:"protocol"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// State is the whole replicated state. It is snapshotted and restored whole.
type State struct {
	// Index is the Raft index of the last entry applied.
	Index uint64 `json:"index"`
	// Members is the catalogue, keyed by member id.
	Members map[string]Member `json:"members"`
	// ProtocolVersion is the cluster's active protocol version (S1): what
	// every agent speaks, whatever newer version its build could.
	ProtocolVersion int `json:"protocol_version"`
}

// NewState returns the empty state of a new cluster at protocol version
// protocol.
func NewState(protocol int) *State {
	return &State{Members: map[string]Member{}, ProtocolVersion: protocol}
}

// Clone returns a deep copy that shares nothing with s.
func (s *State) Clone() *State {
	c := *s
	c.Members = make(map[string]Member, len(s.Members))
	for id, m := range s.Members {
		c.Members[id] = m.clone()
	}
	return &c
}

func (m Member) clone() Member {
	if m.Labels != nil {
		l := make(map[string]string, len(m.Labels))
		for k, v := range m.Labels {
			l[k] = v
		}
		m.Labels = l
	}
	return m
}

// MemberList returns the members sorted by id.
func (s *State) MemberList() []Member {
	ids := make([]string, 0, len(s.Members))
	for id := range s.Members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]Member, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.Members[id].clone())
	}
	return out
}

// MarshalSnapshot serialises the state for a snapshot. encoding/json writes
// map keys in sorted order, so equal states give equal bytes.
func (s *State) MarshalSnapshot() ([]byte, error) { return json.Marshal(s) }

// UnmarshalSnapshot restores a state written by MarshalSnapshot.
func UnmarshalSnapshot(b []byte) (*State, error) {
	s := &State{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, err
	}
	if s.Members == nil {
		s.Members = map[string]Member{}
	}
	return s, nil
}
