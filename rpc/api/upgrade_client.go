package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// StartUpgrade starts a transaction. ErrConflict means another one is
// active; ErrInvalid, that the request is refused as it is.
func (c *Client) StartUpgrade(ctx context.Context, req StartRequest) (Txn, error) {
	var out Txn
	_, err := c.Do(ctx, http.MethodPost, "/v1/upgrades", nil, req, &out)
	return out, err
}

// PlanUpgrade computes a transaction's plan without starting it.
func (c *Client) PlanUpgrade(ctx context.Context, req StartRequest) (Plan, error) {
	var out Plan
	_, err := c.Do(ctx, http.MethodPost, "/v1/upgrades/plan", nil, req, &out)
	return out, err
}

// Upgrade reads a transaction: an id, "active", or "latest" (the active
// one, else the newest). It returns the state index it was read at;
// ErrNotFound when there is no such transaction.
func (c *Client) Upgrade(ctx context.Context, id string, w Wait) (Txn, uint64, error) {
	var out Txn
	idx, err := c.Do(ctx, http.MethodGet, "/v1/upgrades/"+url.PathEscape(id), w.query(), nil, &out)
	return out, idx, err
}

// UpgradeLive reads a transaction as Upgrade does, and asks the node of
// each running step which hook it runs (Step.Hook): a read that costs a
// call to those nodes, for watchers that show it. A node that does not
// answer leaves its step's Hook empty.
func (c *Client) UpgradeLive(ctx context.Context, id string, w Wait) (Txn, uint64, error) {
	var out Txn
	q := w.query()
	q.Set("live", "true")
	idx, err := c.Do(ctx, http.MethodGet, "/v1/upgrades/"+url.PathEscape(id), q, nil, &out)
	return out, idx, err
}

// Upgrades lists the transactions kept, oldest first.
func (c *Client) Upgrades(ctx context.Context) ([]Txn, error) {
	var out []Txn
	_, err := c.Do(ctx, http.MethodGet, "/v1/upgrades", nil, nil, &out)
	return out, err
}

// ControlUpgrade applies action (ActionPause, ActionResume, ActionRetry or
// ActionAbort) to the transaction id, or "active", with req's options
// (Rollback for abort, Forward for retry). ErrConflict means the
// transaction's state does not allow the action.
func (c *Client) ControlUpgrade(ctx context.Context, id, action string, req ControlRequest) (Txn, error) {
	var out Txn
	var body any
	if action == ActionAbort || req != (ControlRequest{}) {
		body = req
	}
	_, err := c.Do(ctx, http.MethodPost, fmt.Sprintf("/v1/upgrades/%s/%s", url.PathEscape(id), action), nil, body, &out)
	return out, err
}

// Notice sends a completion notice; it reaches the leader through any
// agent. ErrStale means the attempt is no longer current and never will be.
func (c *Client) Notice(ctx context.Context, n Notice) error {
	_, err := c.Do(ctx, http.MethodPost, "/v1/internal/notices", nil, n, nil)
	return err
}

// RunStep asks this agent's node to run a step; the agent runs it itself,
// never forwarding it. ErrConflict means the node is busy or leads.
func (c *Client) RunStep(ctx context.Context, req StepRequest) (StepStatus, error) {
	var out StepStatus
	_, err := c.Do(ctx, http.MethodPost, "/v1/internal/steps", nil, req, &out)
	return out, err
}

// StepStatus asks this agent's node about an attempt; ErrNotFound means it
// never heard of it.
func (c *Client) StepStatus(ctx context.Context, txnID string, attempt uint64) (StepStatus, error) {
	var out StepStatus
	_, err := c.Do(ctx, http.MethodGet, fmt.Sprintf("/v1/internal/steps/%s/%d", url.PathEscape(txnID), attempt), nil, nil, &out)
	return out, err
}

// Diagnostic probes this agent's node.
//
// With health false the node skips its health hook (Healthy is then not
// checked): enough to learn that it answers and what it runs.
func (c *Client) Diagnostic(ctx context.Context, health bool) (Diagnostic, error) {
	var out Diagnostic
	var q url.Values
	if !health {
		q = url.Values{"health": {"false"}}
	}
	_, err := c.Do(ctx, http.MethodGet, "/v1/internal/diagnostic", q, nil, &out)
	return out, err
}

// CancelStep asks this agent's node to stop an attempt: its running hook's
// process group gets SIGTERM, then SIGKILL after a grace period, and the
// attempt ends failed with reason. It answers the attempt's status; an
// attempt already finished is left as it was. ErrNotFound means the node
// never heard of it.
func (c *Client) CancelStep(ctx context.Context, txnID string, attempt uint64, reason string) (StepStatus, error) {
	var out StepStatus
	_, err := c.Do(ctx, http.MethodPost, fmt.Sprintf("/v1/internal/steps/%s/%d/cancel", url.PathEscape(txnID), attempt),
		nil, CancelRequest{Reason: reason}, &out)
	return out, err
}

// NodeStepLogs asks this agent's node for the hook output of every attempt
// of txnID it ran, oldest first.
func (c *Client) NodeStepLogs(ctx context.Context, txnID string) ([]StepLogs, error) {
	var out []StepLogs
	_, err := c.Do(ctx, http.MethodGet, fmt.Sprintf("/v1/internal/steps/%s/logs", url.PathEscape(txnID)), nil, nil, &out)
	return out, err
}

// UpgradeLogs gathers the hook output of transaction id from every node
// that took part (node and hook narrow it when not empty).
func (c *Client) UpgradeLogs(ctx context.Context, id, node, hook string) ([]StepLogs, error) {
	q := url.Values{}
	if node != "" {
		q.Set("node", node)
	}
	if hook != "" {
		q.Set("hook", hook)
	}
	var out []StepLogs
	_, err := c.Do(ctx, http.MethodGet, "/v1/upgrades/"+url.PathEscape(id)+"/logs", q, nil, &out)
	return out, err
}
