package api

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// The service's roles and switch-over (docs/switchover.md), protocol 3.

// Service roles, as a member's role hook prints them and Member.Role shows
// them.
const (
	RolePrimary = "primary"
	RoleReplica = "replica"
)

// The service-role hooks by name: the hooks a node has (ServiceProbe.Hooks)
// and the actions of POST /v1/internal/service/{action}.
const (
	HookRole    = "role"
	HookPromote = "promote"
	HookDemote  = "demote"
	HookFollow  = "follow"
	HookLag     = "lag"
)

// ServiceProbe is a node's account of its service (GET
// /v1/internal/service, protocol 3): which service-role hooks it has, what
// its role hook printed and, when asked (?lag=true), what its lag hook
// printed. A hook that failed leaves its value empty and says why.
type ServiceProbe struct {
	ID string `json:"id"`
	// Hooks lists the service-role hooks the node has, in the order role,
	// promote, demote, follow, lag.
	Hooks []string `json:"hooks"`
	// Role is RolePrimary or RoleReplica; "" when the node has no role
	// hook, or the hook failed or printed something else (RoleError).
	Role      string `json:"role,omitempty"`
	RoleError string `json:"role_error,omitempty"`
	// Lag is what the lag hook printed; nil when it was not asked for, the
	// node has no lag hook, or the hook failed (LagError).
	Lag      *uint64 `json:"lag,omitempty"`
	LagError string  `json:"lag_error,omitempty"`
}

// Has reports whether the node has the service-role hook name.
func (p ServiceProbe) Has(name string) bool { return slices.Contains(p.Hooks, name) }

// ServiceActionRequest asks a node to run its promote, demote or follow hook
// for a switch-over (POST /v1/internal/service/{action}, protocol 3). The
// node runs it only when its own state shows the switch-over TxnID from
// OldPrimary to NewPrimary in Phase, once its state has reached Index:
// otherwise it answers ErrStale, and nothing runs.
type ServiceActionRequest struct {
	TxnID      string `json:"txn_id"`
	OldPrimary string `json:"old_primary"`
	NewPrimary string `json:"new_primary"`
	// Phase is the switch-over's phase the action belongs to: chosen for
	// demote, demoted for promote, committed for follow.
	Phase string `json:"phase"`
	// Index is the leader's state index when it decided the action.
	Index uint64 `json:"index"`
}

// ServiceActionResult is what a promote, demote or follow hook did. Ran is
// false when the node has no such hook (nothing ran, and that is not a
// failure); Error is set when the hook failed.
type ServiceActionResult struct {
	ID       string   `json:"id"`
	Action   string   `json:"action"`
	Ran      bool     `json:"ran"`
	ExitCode int      `json:"exit_code"`
	Output   string   `json:"output,omitempty"`
	Error    string   `json:"error,omitempty"`
	Took     Duration `json:"took"`
}

// Switchover is one switch-over of the service's primary, as a transaction
// shows it. Phase is one of chosen, demoted, promoted, committed, done or
// failed (docs/switchover.md).
type Switchover struct {
	OldPrimary   string    `json:"old_primary"`
	Candidate    string    `json:"candidate"`
	Phase        string    `json:"phase"`
	Diagnostic   string    `json:"diagnostic,omitempty"`
	CandidateLag uint64    `json:"candidate_lag"`
	MaxLag       uint64    `json:"max_lag"`
	StartedAt    time.Time `json:"started_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Note         string    `json:"note,omitempty"`
	Error        string    `json:"error,omitempty"`
}

// Switch-over phases (Switchover.Phase, Event.Phase).
const (
	SwitchChosen    = "chosen"
	SwitchDemoted   = "demoted"
	SwitchPromoted  = "promoted"
	SwitchCommitted = "committed"
	SwitchDone      = "done"
	SwitchFailed    = "failed"
)

// ServiceProbe asks this agent's node about its service: its role and, with
// lag, its lag. It runs the node's role and lag hooks (protocol 3; older
// agents answer ErrNotFound).
func (c *Client) ServiceProbe(ctx context.Context, lag bool) (ServiceProbe, error) {
	var out ServiceProbe
	q := url.Values{}
	if lag {
		q.Set("lag", "true")
	}
	_, err := c.Do(ctx, http.MethodGet, "/v1/internal/service", q, nil, &out)
	return out, err
}

// ServiceAction asks this agent's node to run its promote, demote or follow
// hook for a switch-over. A hook that failed is a result with Error set;
// an error is a refusal (ErrStale: the node's state does not show the
// switch-over in that phase) or a call that got no answer, after which the
// hook may or may not have run.
func (c *Client) ServiceAction(ctx context.Context, action string, req ServiceActionRequest) (ServiceActionResult, error) {
	var out ServiceActionResult
	_, err := c.Do(ctx, http.MethodPost, "/v1/internal/service/"+url.PathEscape(action), nil, req, &out)
	return out, err
}
