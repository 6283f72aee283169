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
	// VersionError, when set, says why the member could not read the
	// version it runs ("version hook failed: exited 4: …"); Version is then
	// the last one known, or empty when none is (protocol 3).
	VersionError string `json:"version_error,omitempty"`
	// Client marks a client agent (protocol 3, docs/clients.md): no Raft
	// state, no API of its own (RaftAddr and HTTPAddr empty); it pulls
	// its steps from the servers.
	Client bool `json:"client,omitempty"`
	// Role is the member's service role as Baton records it (protocol 3):
	// RolePrimary, RoleReplica, or empty when the member has no role hook
	// or the cluster speaks an older protocol.
	Role string `json:"role,omitempty"`
	// ServiceAddr is the HOST:PORT the member's service listens on, from
	// service_addr in its agent's config file (protocol 3); empty when it
	// names none, or from an older build.
	ServiceAddr string `json:"service_addr,omitempty"`
	// NodeKey is the public key the member's agent signs its requests to
	// other agents with ("ed25519:" and base64; protocol 3): its node
	// identity. Empty for a member that has registered none.
	NodeKey string `json:"node_key,omitempty"`
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
	// PriorRaftAddr, when set and unlike RaftAddr, is the Raft address the
	// agent's own Raft state holds for it: the agent restarted from its
	// data dir at a new --raft-addr, and the leader moves it there in the
	// Raft configuration and the catalogue, keeping its suffrage (protocol
	// 3; an agent sends it only to a cluster that speaks protocol 3).
	PriorRaftAddr string `json:"prior_raft_addr,omitempty"`
}

// MemberKey is the public key of a member's node identity (POST
// /v1/members/{id}/key, protocol 3): "ed25519:" and the base64 of 32 bytes.
type MemberKey struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// MemberStatus is a member's committed build report, the answer to
// POST /v1/members/{id}/status.
type MemberStatus struct {
	ID    string    `json:"id"`
	Build BuildInfo `json:"build"`
}

// MemberVersionError is a member's word that its version hook fails, with
// why, or works again (an empty Error): the body and answer of POST
// /v1/members/{id}/version_error (protocol 3).
type MemberVersionError struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

// RemoveResponse is the answer to DELETE /v1/members/{id}.
type RemoveResponse struct {
	// Removed is the id of the member removed.
	Removed string `json:"removed"`
	// Forced says the removal was forced (?force=true).
	Forced bool `json:"forced,omitempty"`
	// FailedStepIn names the transaction whose unfinished step of the
	// member the forced removal failed.
	FailedStepIn string `json:"failed_step_in,omitempty"`
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
	// RaftAddr is the address this agent's Raft listens on (empty from
	// builds before protocol 3).
	RaftAddr string `json:"raft_addr,omitempty"`
	// Term is the agent's current Raft term (zero from builds before
	// protocol 3).
	Term uint64 `json:"term,omitempty"`
	// LastContact is how long ago the agent last heard from the leader, as
	// a duration such as "35ms"; "0s" on the leader, "never" for an agent
	// that has not heard from one since it started, empty from builds
	// before protocol 3.
	LastContact string `json:"last_contact,omitempty"`
	// ClusterID names the cluster whose state the agent's data dir holds:
	// made by the member that bootstrapped the cluster, learned by the
	// others when they join. Empty where unknown (a cluster bootstrapped
	// by an older build).
	ClusterID string `json:"cluster_id,omitempty"`
}

// RaftReport is the Raft configuration and the state of each server, as
// the answering agent sees them (GET /v1/operator/raft, protocol 3).
//
// The agent asks every server's /v1/health (a second at most each, all at
// once) for its Raft state, its leader, its last contact with the leader
// and its log indexes: hashicorp/raft does not publish what the leader
// knows of each follower. Lag is the leader's last log index minus the
// server's, both read within the same report, so entries appended between
// the two reads show as a lag of a few entries.
type RaftReport struct {
	// Observer is the agent that answered; ?consistent=true makes it the
	// leader.
	Observer string `json:"observer"`
	// Leader is the leader's id as the observer knows it; empty when it
	// knows none.
	Leader string `json:"leader"`
	// Term is the observer's current Raft term.
	Term uint64 `json:"term"`
	// ConfigIndex is the log index of the configuration shown: the
	// observer's latest, committed or not, unless read with
	// ?consistent=true (then committed).
	ConfigIndex uint64 `json:"config_index"`
	// LeaderLastIndex is the leader's last log index, which Lag is
	// measured against; zero when the leader did not answer.
	LeaderLastIndex uint64 `json:"leader_last_index,omitempty"`
	// Voters is the number of voters in the configuration, and Quorum how
	// many of them a leader needs.
	Voters int `json:"voters"`
	Quorum int `json:"quorum"`
	// Servers are the configuration's servers in id order.
	Servers []RaftServer `json:"servers"`
	// Diagnosis says, when the observer knows no leader, what it can
	// reach and what a quorum needs; empty with a leader.
	Diagnosis string `json:"diagnosis,omitempty"`
}

// RaftServer is one server of a RaftReport.
type RaftServer struct {
	ID string `json:"id"`
	// Address is the server's Raft address in the configuration.
	Address string `json:"address"`
	// HTTPAddr is its API address, from the catalogue.
	HTTPAddr string `json:"http_addr,omitempty"`
	// Suffrage is "voter", "nonvoter" or "staging".
	Suffrage string `json:"suffrage"`
	// Leader says whether it is the leader the observer knows.
	Leader bool `json:"leader"`
	// Status is the catalogue's liveness record of the member (the
	// leader's observation of its heartbeats): MemberAlive,
	// MemberUnreachable or MemberUnknown.
	Status string `json:"status"`
	// Reachable says whether the server's API answered the observer; Error
	// says why not.
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	// RaftState is the server's own Raft state (Leader, Follower,
	// Candidate), and LeaderSeen the leader it knows; both empty when it
	// did not answer.
	RaftState  string `json:"raft_state,omitempty"`
	LeaderSeen string `json:"leader_seen,omitempty"`
	// LastContact is the server's own report of how long ago it last heard
	// from the leader (see Health.LastContact).
	LastContact string `json:"last_contact,omitempty"`
	// LastIndex and AppliedIndex are the server's log indexes as it
	// reported them.
	LastIndex    uint64 `json:"last_index,omitempty"`
	AppliedIndex uint64 `json:"applied_index,omitempty"`
	// Lag is LeaderLastIndex minus LastIndex; absent when either is
	// unknown.
	Lag *uint64 `json:"lag,omitempty"`
}

// Raft suffrages of a RaftServer.
const (
	SuffrageVoter    = "voter"
	SuffrageNonvoter = "nonvoter"
	SuffrageStaging  = "staging"
)

// ProtocolInfo is the cluster's active protocol version and the range each
// member speaks, keyed by member id (GET /v1/protocol).
type ProtocolInfo struct {
	Active  int                      `json:"active"`
	Members map[string]ProtocolRange `json:"members"`
}
