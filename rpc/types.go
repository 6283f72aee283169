package rpc

import "github.com/baton-upgrade/baton/fsm"

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
