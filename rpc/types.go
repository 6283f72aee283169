package rpc

import (
	"time"

	"github.com/baton-upgrade/baton/fsm"
)

// Member is a catalogue record as the API shows it, with whether the member
// is the Raft leader as seen by the answering agent.
type Member struct {
	fsm.Member
	Leader bool `json:"leader"`
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

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
}

// IndexHeader carries the state machine index a read was served at; pass it
// back as ?index= to wait for the next change.
const IndexHeader = "X-Baton-Index"

// ForwardedHeader marks a request one agent forwarded to the leader, so that
// it is never forwarded twice.
const ForwardedHeader = "X-Baton-Forwarded-By"

// Event types beside the command types of the state machine (member.join,
// txn.start, step.begin, step.complete, step.fail, txn.finalize, …).
const (
	EventLeadershipGained = "leadership.gained"
	EventLeadershipLost   = "leadership.lost"
)

// Event is one thing an agent saw: an accepted command applied to its state
// machine (Time is the leader's stamp in the command) or a change of its own
// leadership (Time is the agent's clock). Index is the Raft index.
type Event struct {
	Seq      uint64    `json:"seq"`
	Index    uint64    `json:"index"`
	Type     string    `json:"type"`
	Time     time.Time `json:"time"`
	Agent    string    `json:"agent"`
	Txn      string    `json:"txn,omitempty"`
	Node     string    `json:"node,omitempty"`
	Attempt  uint64    `json:"attempt,omitempty"`
	Version  string    `json:"version,omitempty"`
	Protocol int       `json:"protocol,omitempty"`
	Rollback bool      `json:"rollback,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// Events is a page of events; pass Next as ?after= to wait for the next.
type Events struct {
	Events []Event `json:"events"`
	Next   uint64  `json:"next"`
}
