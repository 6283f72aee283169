package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// ClientRegistration is a client agent's registration with the servers
// (POST /v1/clients, protocol 3; docs/clients.md). It is signed with the
// node key it names: a first registration proves the key by itself, later
// ones must be signed with the key on record.
type ClientRegistration struct {
	ID       string            `json:"id"`
	Version  string            `json:"version"`
	Protocol ProtocolRange     `json:"protocol"`
	Labels   map[string]string `json:"labels,omitempty"`
	NodeKey  string            `json:"node_key"`
}

// PollRequest is a client agent's long poll for its work (POST
// /v1/clients/{id}/poll, protocol 3): it renews the client's lease and
// reports the attempts the client knows of, and the answer carries the
// steps and cancels the servers hold for it. A group leader relaying for
// its group serves the same route for its members.
type PollRequest struct {
	// Steps are the attempts this client knows of (running, or finished
	// with a notice not yet acknowledged), as its journal has them.
	Steps []StepStatus `json:"steps,omitempty"`
	// Version is the version the client last read.
	Version string `json:"version,omitempty"`
	// WaitMillis is how long the server may hold the poll when it has
	// nothing to send; capped at MaxPollWait.
	WaitMillis int64 `json:"wait_ms,omitempty"`
}

// MaxPollWait bounds how long a server holds a client's poll.
const MaxPollWait = 30 * time.Second

// CancelOrder asks a client to stop an attempt.
type CancelOrder struct {
	TxnID   string `json:"txn_id"`
	Attempt uint64 `json:"attempt"`
	Reason  string `json:"reason"`
}

// PollResponse is the servers' answer to a poll: the steps for the
// client to run (each an attempt committed with step.begin) and the
// attempts to stop. LeaseMillis is the lease the poll renewed: a client
// that does not poll again within it is recorded unreachable.
type PollResponse struct {
	Steps       []StepRequest `json:"steps"`
	Cancels     []CancelOrder `json:"cancels"`
	LeaseMillis int64         `json:"lease_ms"`
}

// RegisterClient registers a client agent (protocol 3) and returns its
// record.
func (c *Client) RegisterClient(ctx context.Context, reg ClientRegistration) (Member, error) {
	var out Member
	_, err := c.Do(ctx, http.MethodPost, "/v1/clients", nil, reg, &out)
	return out, err
}

// PollClient is client id's long poll for its work (protocol 3).
func (c *Client) PollClient(ctx context.Context, id string, req PollRequest) (PollResponse, error) {
	var out PollResponse
	_, err := c.Do(ctx, http.MethodPost, "/v1/clients/"+url.PathEscape(id)+"/poll", nil, req, &out)
	return out, err
}
