// Package pull is the servers' side of the client agents' pull protocol
// (docs/clients.md): the leader's mailbox of steps and cancels for each
// client, the reports its polls bring, and its lease.
//
// The coordinator talks to a client as to any node, through
// coordinator.Nodes, at the pseudo-address coordinator.PullAddr(id): Nodes
// routes such calls to the Hub instead of calling the client, which has no
// API. A step "delivered" to a client is offered in its mailbox and taken
// by its next poll; a check of it reads what the client's polls report; a
// cancel is handed over with the next poll. Everything in the Hub is held
// in memory for one tenure of leadership only: the FSM holds the steps
// (step.begin, write-ahead) and the client's journal holds the attempts,
// so a new leader's coordinator, which checks every running step at the
// start of its tenure, offers again what the client does not report.
package pull

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
)

// DefaultLease is how long a client that stopped polling stays alive in
// the leader's eyes.
const DefaultLease = 10 * time.Second

// key names one attempt of a client.
type key struct {
	txn     string
	attempt uint64
}

// client is what the leader holds for one client agent.
type client struct {
	lastSeen time.Time // the end of its last poll, or the tenure's start
	polling  int       // polls held open now
	version  string
	reports  map[key]api.StepStatus
	offers   map[key]api.StepRequest
	// sent are the offers the last poll answered with: running until the
	// next poll, which reports them or drops them (the client did not take
	// them, or never got the answer; the coordinator offers again).
	sent    map[key]bool
	cancels map[key]string
	wake    chan struct{}
}

// Hub holds the leader's side of every client's pull protocol. Its
// methods are safe for concurrent use.
type Hub struct {
	lease time.Duration
	now   func() time.Time

	mu      sync.Mutex
	start   time.Time
	clients map[string]*client
}

// New returns a Hub whose clients' leases last lease after their last
// poll (DefaultLease when zero); now is the clock (time.Now when nil).
func New(lease time.Duration, now func() time.Time) *Hub {
	if lease <= 0 {
		lease = DefaultLease
	}
	if now == nil {
		now = time.Now
	}
	return &Hub{lease: lease, now: now, start: now(), clients: map[string]*client{}}
}

// Lease is the lease a poll renews.
func (h *Hub) Lease() time.Duration { return h.lease }

// Reset forgets everything: a new tenure of leadership starts with every
// client's lease running from now (a client is given a full lease to find
// the new leader) and no offer, report or cancel. Every poll held open
// answers at once, with nothing: at a loss of leadership, its client
// polls again and finds the new leader.
func (h *Hub) Reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.start = h.now()
	for _, c := range h.clients {
		wake(c) // a poll held across the change answers at once
	}
	h.clients = map[string]*client{}
}

func (h *Hub) get(id string) *client {
	c := h.clients[id]
	if c == nil {
		c = &client{lastSeen: h.start, reports: map[key]api.StepStatus{}, offers: map[key]api.StepRequest{},
			sent: map[key]bool{}, cancels: map[key]string{}, wake: make(chan struct{}, 1)}
		h.clients[id] = c
	}
	return c
}

func wake(c *client) {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// alive reports whether c holds its lease at now: a poll is open, or the
// last ended within the lease.
func (h *Hub) alive(c *client, now time.Time) bool {
	return c.polling > 0 || now.Sub(c.lastSeen) <= h.lease
}

// Liveness reports whether client id holds its lease, and when it was
// last seen (the end of its last poll, or this tenure's start).
func (h *Hub) Liveness(id string) (alive bool, lastSeen time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.get(id)
	return h.alive(c, h.now()), c.lastSeen
}

// unreachable is the error of a call about a client without its lease.
func (h *Hub) unreachable(id string, c *client) error {
	return fmt.Errorf("client %s has not polled since %s (its lease of %s expired)", id, c.lastSeen.UTC().Format(time.RFC3339), h.lease)
}

// Offer puts a step in its client's mailbox for the client's next poll.
// It fails when the client does not hold its lease: the step stays begun,
// and the coordinator offers it again when it next checks it.
func (h *Hub) Offer(req api.StepRequest) (api.StepStatus, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.get(req.Node)
	k := key{req.TxnID, req.Attempt}
	if st, ok := c.reports[k]; ok {
		return st, nil // already taken
	}
	if !h.alive(c, h.now()) {
		return api.StepStatus{}, h.unreachable(req.Node, c)
	}
	c.offers[k] = req
	wake(c)
	return api.StepStatus{TxnID: req.TxnID, Node: req.Node, Attempt: req.Attempt, State: api.StepRunning}, nil
}

// Status is what the leader knows of an attempt of client id: what the
// client last reported, running while it is offered and not yet taken,
// and an api.ErrNotFound error when neither (the coordinator then offers
// it again). A client without its lease is an error: unreachable.
func (h *Hub) Status(id, txnID string, attempt uint64) (api.StepStatus, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.get(id)
	k := key{txnID, attempt}
	if !h.alive(c, h.now()) {
		return api.StepStatus{}, h.unreachable(id, c)
	}
	if st, ok := c.reports[k]; ok {
		return st, nil
	}
	if _, ok := c.offers[k]; ok || c.sent[k] {
		return api.StepStatus{TxnID: txnID, Node: id, Attempt: attempt, State: api.StepRunning}, nil
	}
	return api.StepStatus{}, &api.APIError{Status: http.StatusNotFound, Code: api.CodeNotFound,
		Message: fmt.Sprintf("client %s has not reported attempt %d of transaction %s", id, attempt, txnID)}
}

// Cancel hands a cancel of an attempt to client id with its next poll,
// and answers with what is known of the attempt.
func (h *Hub) Cancel(id, txnID string, attempt uint64, reason string) (api.StepStatus, error) {
	h.mu.Lock()
	c := h.get(id)
	k := key{txnID, attempt}
	delete(c.offers, k) // not taken yet: never to be
	delete(c.sent, k)
	c.cancels[k] = reason
	wake(c)
	h.mu.Unlock()
	st, err := h.Status(id, txnID, attempt)
	if errors.Is(err, api.ErrNotFound) {
		// Neither offered nor reported: if the client ever took it, its
		// next poll reports it and takes the cancel.
		return api.StepStatus{TxnID: txnID, Node: id, Attempt: attempt, State: api.StepRunning}, nil
	}
	return st, err
}

// Diagnostic answers the coordinator's probe of client id from its polls:
// a client that holds its lease answers, with the version it last read.
// A client is never a successor (not a voter), so its health hook is
// never asked for.
func (h *Hub) Diagnostic(id string) (api.Diagnostic, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.get(id)
	if !h.alive(c, h.now()) {
		return api.Diagnostic{}, h.unreachable(id, c)
	}
	return api.Diagnostic{ID: id, Healthy: true, Version: c.version}, nil
}

// Poll is client id's poll: it renews the lease, takes the client's
// reports (an offered attempt the client reports is taken; a cancel of an
// attempt it reports finished is done), and answers with the offers and
// cancels left, waiting up to req's wait for one when there is none.
func (h *Hub) Poll(ctx context.Context, id string, req api.PollRequest) api.PollResponse {
	wait := min(time.Duration(req.WaitMillis)*time.Millisecond, api.MaxPollWait)
	h.mu.Lock()
	c := h.get(id)
	c.polling++
	if req.Version != "" {
		c.version = req.Version
	}
	c.reports = make(map[key]api.StepStatus, len(req.Steps))
	for _, st := range req.Steps {
		k := key{st.TxnID, st.Attempt}
		c.reports[k] = st
		delete(c.offers, k)
	}
	clear(c.sent)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		if cur := h.clients[id]; cur == c {
			c.polling--
			c.lastSeen = h.now()
		}
		h.mu.Unlock()
	}()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		h.mu.Lock()
		resp := h.take(c)
		h.mu.Unlock()
		if len(resp.Steps) > 0 || len(resp.Cancels) > 0 || wait <= 0 {
			return resp
		}
		select {
		case <-ctx.Done():
			return resp
		case <-timer.C:
			return resp
		case <-c.wake:
			wait = -1 // answer with whatever is there now
		}
	}
}

// take is what c's poll answers with now, in a stable order: each offer
// and cancel is handed over once (an offer stays running, as sent, until
// the next poll; the coordinator sends a cancel again until the attempt
// ends).
func (h *Hub) take(c *client) api.PollResponse {
	resp := api.PollResponse{Steps: []api.StepRequest{}, Cancels: []api.CancelOrder{}, LeaseMillis: h.lease.Milliseconds()}
	for _, k := range slices.SortedFunc(maps.Keys(c.offers), cmpKey) {
		resp.Steps = append(resp.Steps, c.offers[k])
		c.sent[k] = true
	}
	clear(c.offers)
	for _, k := range slices.SortedFunc(maps.Keys(c.cancels), cmpKey) {
		resp.Cancels = append(resp.Cancels, api.CancelOrder{TxnID: k.txn, Attempt: k.attempt, Reason: c.cancels[k]})
	}
	clear(c.cancels)
	return resp
}

func cmpKey(a, b key) int {
	if a.txn != b.txn {
		if a.txn < b.txn {
			return -1
		}
		return 1
	}
	switch {
	case a.attempt < b.attempt:
		return -1
	case a.attempt > b.attempt:
		return 1
	}
	return 0
}
