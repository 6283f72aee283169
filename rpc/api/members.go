package api

import "time"

// ProtocolRange is the inclusive range of protocol versions a build speaks.
type ProtocolRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// Supports reports whether v lies within the range.
func (p ProtocolRange) Supports(v int) bool { return v >= p.Min && v <= p.Max }

// BuildInfo is the build a member runs, as it reports it (protocol 2).
type BuildInfo struct {
	Version   string        `json:"version"`
	Protocol  ProtocolRange `json:"protocol"`
	GoVersion string        `json:"go_version"`
}

// Member is a catalogue record as the API shows it. Leader says whether the
// member is the Raft leader as the answering agent sees it; it may be stale
// by the time the client reads it.
type Member struct {
	ID       string            `json:"id"`
	RaftAddr string            `json:"raft_addr"`
	HTTPAddr string            `json:"http_addr"`
	Version  string            `json:"version"`
	Voter    bool              `json:"voter"`
	Protocol ProtocolRange     `json:"protocol"`
	Labels   map[string]string `json:"labels,omitempty"`
	// Build is what the member last reported with member.status; nil until
	// the cluster speaks protocol 2 and the member has reported.
	Build  *BuildInfo `json:"build,omitempty"`
	Leader bool       `json:"leader"`
	// Status is whether the leader reaches the member: MemberAlive,
	// MemberUnreachable, or MemberUnknown when nothing is recorded (the
	// cluster speaks a protocol older than 3, or the leader has not
	// recorded it yet). An answer without the field comes from an older
	// build: read it as unknown.
	Status string `json:"status,omitempty"`
	// StatusSince is when the leader recorded Status (its clock).
	StatusSince time.Time `json:"status_since,omitzero"`
	// LastSeen is the leader's last contact with an unreachable member.
	LastSeen time.Time `json:"last_seen,omitzero"`
	// Role is the member's service role as Baton records it (protocol 3):
	// RolePrimary, RoleReplica, or empty when the member has no role hook
	// or the cluster speaks an older protocol.
	Role string `json:"role,omitempty"`
}

// Member statuses.
const (
	MemberAlive       = "alive"
	MemberUnreachable = "unreachable"
	MemberUnknown     = "unknown"
)

// JoinRequest asks the cluster to admit a member (POST /v1/members). The
// leader decides whether the member votes: Voter is accepted for the sake
// of agents that send their whole catalogue record, and ignored.
type JoinRequest struct {
	ID       string            `json:"id"`
	RaftAddr string            `json:"raft_addr"`
	HTTPAddr string            `json:"http_addr"`
	Version  string            `json:"version"`
	Voter    bool              `json:"voter,omitempty"`
	Protocol ProtocolRange     `json:"protocol"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// MemberStatus is a member's committed build report, the answer to
// POST /v1/members/{id}/status.
type MemberStatus struct {
	ID    string    `json:"id"`
	Build BuildInfo `json:"build"`
}

// LeaderInfo names the current Raft leader.
type LeaderInfo struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr"`
}

// TransferRequest asks the leader to hand leadership to To, or to any
// suitable voter when To is empty.
type TransferRequest struct {
	To string `json:"to"`
}

// TransferResponse names the leader after a transfer.
type TransferResponse struct {
	Leader string `json:"leader"`
}

// Health is an agent's view of itself and of Raft.
type Health struct {
	ID              string `json:"id"`
	RaftState       string `json:"raft_state"`
	Leader          string `json:"leader"`
	AppliedIndex    uint64 `json:"applied_index"`
	LastIndex       uint64 `json:"last_index"`
	ProtocolVersion int    `json:"protocol_version"`
}

// ProtocolInfo is the cluster's active protocol version and the range each
// member speaks, keyed by member id (GET /v1/protocol).
type ProtocolInfo struct {
	Active  int                      `json:"active"`
	Members map[string]ProtocolRange `json:"members"`
}
