package fsm

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"
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
	// Build is the build the member reported with member.status; set only
	// once the cluster speaks protocol 2.
	Build *BuildInfo `json:"build,omitempty"`
	// Liveness is whether the leader reaches the member, as it last
	// recorded with member.liveness (protocol 3); nil until then.
	Liveness *Liveness `json:"liveness,omitempty"`
	// VersionError, when set, says why the member could not read the
	// version it runs (member.version_error, protocol 3): Version is then
	// the last one known, or empty when none is. A join, which reports a
	// version read anew, clears it.
	VersionError string `json:"version_error,omitempty"`
	// Role is the member's service role as Baton records it (protocol 3,
	// service.go): RolePrimary, RoleReplica, or "" without a role hook.
	Role string `json:"role,omitempty"`
	// ServiceAddr is the HOST:PORT the member's service listens on, from
	// the service_addr of its config file (member.service, protocol 3); ""
	// when it names none. A join keeps it.
	ServiceAddr string `json:"service_addr,omitempty"`
	// NodeKey is the public key the member's agent signs its requests
	// with ("ed25519:" and base64; member.key, protocol 3): its identity
	// to the other agents. Empty for a member of an older build, or one
	// that has not registered it yet.
	NodeKey string `json:"node_key,omitempty"`
	// Client marks a client agent (client.register, protocol 3;
	// clients.go): a member with no Raft state and no API of its own,
	// RaftAddr and HTTPAddr empty, never a voter.
	Client bool `json:"client,omitempty"`
}

// MaxVersionError bounds a member's VersionError.
const MaxVersionError = 1 << 10

// Liveness states of a member.
const (
	// LivenessAlive: the leader reaches the member.
	LivenessAlive = "alive"
	// LivenessUnreachable: the leader has not reached the member since
	// LastSeen.
	LivenessUnreachable = "unreachable"
)

// Liveness is the leader's record of whether it reaches a member.
type Liveness struct {
	// Status is LivenessAlive or LivenessUnreachable.
	Status string `json:"status"`
	// Since is when the leader recorded the status (its clock).
	Since time.Time `json:"since"`
	// LastSeen is the leader's last contact with the member when it was
	// recorded unreachable; zero for an alive member.
	LastSeen time.Time `json:"last_seen,omitempty"`
}

// State is the whole replicated state. It is snapshotted and restored whole.
type State struct {
	// Index is the Raft index of the last entry applied.
	Index uint64 `json:"index"`
	// Members is the catalogue, keyed by member id.
	Members map[string]Member `json:"members"`
	// ProtocolVersion is the cluster's active protocol version (S1): what
	// every agent speaks, whatever newer version its build could. It is 0
	// until the first member joins, which sets it to the newest protocol
	// that member speaks; only finalize raises it after that.
	ProtocolVersion int `json:"protocol_version"`
	// Txns holds the active transaction and the bounded history, by id.
	Txns map[string]*Txn `json:"txns"`
	// TxnOrder lists transaction ids oldest first.
	TxnOrder []string `json:"txn_order"`
	// Active is the id of the active transaction, or "".
	Active string `json:"active"`
	// Builds records, for every version a member has reported, the protocol
	// range it spoke, so that an upgrade to a version that cannot speak the
	// active protocol (a downgrade past finalize) is refused.
	Builds map[string]ProtocolRange `json:"builds,omitempty"`
	// Service records the service's primary (protocol 3, service.go).
	Service Service `json:"service,omitzero"`
	// Ring is the failover ring as ring.set stored it (protocol 3,
	// ring.go), or nil while none was set. It may still name members that
	// have left; readers take the coordinator's view (docs/ring.md).
	Ring []string `json:"ring,omitempty"`
	// Gateways are the registered gateways by name (protocol 3,
	// gateways.go).
	Gateways map[string]Gateway `json:"gateways,omitempty"`
	// Artifacts are the artifacts held by the cluster, by digest
	// (protocol 3, artifacts.go).
	Artifacts map[string]Artifact `json:"artifacts,omitempty"`
}

// MaxHistory bounds how many finished transactions are kept.
const MaxHistory = 100

// NewState returns the empty state of a new cluster at protocol version
// protocol.
func NewState(protocol int) *State {
	return &State{Members: map[string]Member{}, ProtocolVersion: protocol, Txns: map[string]*Txn{}}
}

// Clone returns a deep copy that shares nothing with s.
func (s *State) Clone() *State {
	c := *s
	c.Members = make(map[string]Member, len(s.Members))
	for id, m := range s.Members {
		c.Members[id] = m.clone()
	}
	c.Txns = make(map[string]*Txn, len(s.Txns))
	for id, t := range s.Txns {
		c.Txns[id] = t.clone()
	}
	c.TxnOrder = append([]string(nil), s.TxnOrder...)
	c.Ring = slices.Clone(s.Ring)
	c.Gateways = maps.Clone(s.Gateways)
	if s.Artifacts != nil {
		c.Artifacts = make(map[string]Artifact, len(s.Artifacts))
		for k, a := range s.Artifacts {
			a.Holders = append([]string(nil), a.Holders...)
			c.Artifacts[k] = a
		}
	}
	if s.Builds != nil {
		c.Builds = make(map[string]ProtocolRange, len(s.Builds))
		for v, p := range s.Builds {
			c.Builds[v] = p
		}
	}
	return &c
}

func (m Member) clone() Member {
	if m.Build != nil {
		b := *m.Build
		m.Build = &b
	}
	if m.Liveness != nil {
		l := *m.Liveness
		m.Liveness = &l
	}
	if m.Labels != nil {
		l := make(map[string]string, len(m.Labels))
		for k, v := range m.Labels {
			l[k] = v
		}
		m.Labels = l
	}
	return m
}

// noteBuild records the protocol range a version speaks.
func (s *State) noteBuild(version string, p ProtocolRange) {
	if version == "" {
		return
	}
	if s.Builds == nil {
		s.Builds = map[string]ProtocolRange{}
	}
	s.Builds[version] = p
}

// CheckTarget refuses a transaction to a version known to speak only
// protocols below the active one: after finalize, the old build cannot
// rejoin the cluster.
func (s *State) CheckTarget(version string) error {
	p, ok := s.Builds[version]
	if ok && p.Max < s.ProtocolVersion {
		return fmt.Errorf("%w: version %s speaks protocol %d-%d, below the cluster's active protocol %d; "+
			"a cluster cannot go back past a finalized protocol", ErrConflict, version, p.Min, p.Max, s.ProtocolVersion)
	}
	return nil
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

// ActiveTxn returns the active transaction, or nil.
func (s *State) ActiveTxn() *Txn {
	if s.Active == "" {
		return nil
	}
	return s.Txns[s.Active]
}

// LatestTxn returns the active transaction, or else the newest one, or nil.
func (s *State) LatestTxn() *Txn {
	if t := s.ActiveTxn(); t != nil {
		return t
	}
	if len(s.TxnOrder) == 0 {
		return nil
	}
	return s.Txns[s.TxnOrder[len(s.TxnOrder)-1]]
}

// TxnList returns copies of every kept transaction, oldest first.
func (s *State) TxnList() []*Txn {
	out := make([]*Txn, 0, len(s.TxnOrder))
	for _, id := range s.TxnOrder {
		out = append(out, s.Txns[id].clone())
	}
	return out
}

// Txn returns a copy of the transaction id, or nil.
func (s *State) Txn(id string) *Txn {
	if t, ok := s.Txns[id]; ok {
		return t.clone()
	}
	return nil
}
