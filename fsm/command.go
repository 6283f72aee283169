package fsm

import (
	"encoding/json"
	"fmt"
	"time"
)

// CommandType names a command in the replicated log.
type CommandType string

// The command types. A type, once released, keeps its meaning forever: the
// log of an old cluster must stay readable by every newer build.
const (
	CmdMemberJoin   CommandType = "member.join"
	CmdMemberLeave  CommandType = "member.leave"
	CmdMemberReport CommandType = "member.report"
	// CmdMemberStatus is new in protocol 2: a member's report of the build
	// it runs. It is proposed only once the cluster's active protocol is 2.
	CmdMemberStatus CommandType = "member.status"
	// CmdMemberLiveness is new in protocol 3: the leader's record that it
	// reaches a member, or no longer does.
	CmdMemberLiveness CommandType = "member.liveness"
	// CmdMemberVersionError is new in protocol 3: a member's word that its
	// version hook fails, or works again.
	CmdMemberVersionError CommandType = "member.version_error"
	// CmdMemberForceLeave is new in protocol 3: the removal of a member
	// whatever its steps (a dead node's), which fails its unfinished step.
	CmdMemberForceLeave CommandType = "member.force-leave"
	// CmdMemberMove is new in protocol 3: a member that restarted from its
	// own data dir at another Raft address.
	CmdMemberMove CommandType = "member.move"
	// CmdMemberKey is new in protocol 3: the public key a member's agent
	// signs its requests to other agents with (docs/security.md).
	CmdMemberKey CommandType = "member.key"
	// CmdClientRegister is new in protocol 3: a client agent's record in
	// the catalogue (a member with no Raft state, docs/clients.md).
	CmdClientRegister CommandType = "client.register"
)

// LatestProtocol is the newest protocol version this source implements: the
// highest version in commandProtocol. A build stamped with a lower maximum
// never proposes or applies the commands above it.
const LatestProtocol = 3

// commandProtocol is the protocol version that introduced each command
// type; types not listed are protocol 1. A command is proposed only when
// the active protocol is at least its version (so an older build never
// receives it), and a build applies only commands of the protocols it
// speaks. Every new command type or field follows this rule: see
// docs/protocol.md.
var commandProtocol = map[CommandType]int{
	CmdMemberStatus:       2,
	CmdMemberLiveness:     3,
	CmdMemberForceLeave:   3,
	CmdMemberMove:         3,
	CmdMemberVersionError: 3,
	CmdMemberKey:          3,
	CmdStepSkip:           3,
	CmdTxnHalt:            3,
	CmdTxnRecover:         3,
	// The service's roles and switch-over (fsm/service.go).
	CmdServiceRoles:    3,
	CmdSwitchoverBegin: 3,
	CmdSwitchoverPhase: 3,
	CmdSwitchoverFail:  3,
	// The failover ring and the gateway registry (ring.go, gateways.go).
	CmdRingSet:         3,
	CmdMemberService:   3,
	CmdGatewayRegister: 3,
	CmdGatewayLeave:    3,
	CmdGatewayExpire:   3,
	// The groups of a grouped transaction (fsm/groups.go).
	CmdGroupActing: 3,
	// The artifacts held by the cluster (fsm/artifacts.go).
	CmdArtifactAdd:  3,
	CmdArtifactHeld: 3,
	// Client agents (clients.go).
	CmdClientRegister: 3,
}

// CommandProtocol returns the protocol version that introduced t.
func CommandProtocol(t CommandType) int {
	if v, ok := commandProtocol[t]; ok {
		return v
	}
	return 1
}

// Envelope is the versioned frame of every log entry.
//
// Protocol is the protocol version the proposer encoded the entry at; Time is
// the leader's wall clock when it proposed the entry, the only clock the state
// machine ever sees. An entry marked Optional may be skipped by a build that
// does not know its Type; an unknown required entry is an error.
type Envelope struct {
	Type     CommandType     `json:"type"`
	Protocol int             `json:"protocol"`
	Optional bool            `json:"optional,omitempty"`
	Time     time.Time       `json:"time"`
	Data     json.RawMessage `json:"data"`
}

// Encode frames a command body in an envelope and serialises it.
func Encode(t CommandType, protocol int, now time.Time, body any) ([]byte, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", t, err)
	}
	return json.Marshal(Envelope{Type: t, Protocol: protocol, Time: now.UTC(), Data: data})
}

// Decode parses an envelope. It does not decode the body.
func Decode(b []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("%w: decode envelope: %v", ErrUndecodable, err)
	}
	if e.Type == "" {
		return e, fmt.Errorf("%w: envelope without a type", ErrUndecodable)
	}
	return e, nil
}

// MemberJoin adds a member to the catalogue, or refreshes the record of a
// member that joins again from the same Raft address.
type MemberJoin struct {
	Member Member `json:"member"`
}

// MemberLeave removes a member from the catalogue.
type MemberLeave struct {
	ID string `json:"id"`
}

// MemberForceLeave removes a member from the catalogue whatever its steps
// (protocol 3): its pending or running step in the active transaction fails
// with the error "member ID was removed", and the transaction follows its
// failure policy as for any failed step.
type MemberForceLeave struct {
	ID string `json:"id"`
}

// MemberMove records that a member restarted from its own data dir at
// another Raft address (protocol 3). PriorRaftAddr is the address the
// member's own Raft state held for it, which must be the catalogue's: a
// different node claiming the id cannot move it.
type MemberMove struct {
	ID            string `json:"id"`
	RaftAddr      string `json:"raft_addr"`
	PriorRaftAddr string `json:"prior_raft_addr"`
}

// BuildInfo describes the build a member runs (protocol 2).
type BuildInfo struct {
	Version   string        `json:"version"`
	Protocol  ProtocolRange `json:"protocol"`
	GoVersion string        `json:"go_version"`
}

// MemberStatus reports the build a member runs (protocol 2).
type MemberStatus struct {
	ID    string    `json:"id"`
	Build BuildInfo `json:"build"`
}

// MemberReport updates what a member says about itself: the version it runs
// and the protocol range it speaks.
type MemberReport struct {
	ID       string        `json:"id"`
	Version  string        `json:"version"`
	Protocol ProtocolRange `json:"protocol"`
}

// MemberVersionError records why a member cannot read the version it runs
// (protocol 3): its version hook failed, so the catalogue's version is the
// last one known (or none). An empty Error says the hook works again.
type MemberVersionError struct {
	ID    string `json:"id"`
	Error string `json:"error,omitempty"`
}

// MemberKey records the public key of a member's agent (protocol 3): its
// node identity, which every agent checks the member's signed requests
// against. Only the public half is ever replicated.
type MemberKey struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// MemberLiveness records whether the leader reaches a member (protocol 3).
// Time is the leader's stamp in the envelope.
type MemberLiveness struct {
	ID string `json:"id"`
	// Status is LivenessAlive or LivenessUnreachable.
	Status string `json:"status"`
	// LastSeen is the leader's last contact with an unreachable member.
	LastSeen time.Time `json:"last_seen,omitempty"`
}
