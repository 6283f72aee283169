package coordinator

import (
	"context"
	"crypto/tls"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/baton-upgrade/baton/coordinator/strategy"
	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// HTTPNodes calls other agents over their HTTP API.
type HTTPNodes struct {
	// Token is sent with every call.
	Token string
	// TLS, when set, makes the calls HTTPS: it verifies the nodes against
	// the CA and presents this agent's certificate (node.Agent.ClientTLS).
	TLS *tls.Config
	// Sign, when set, signs every call with this node's identity
	// (node.Agent.SignRequest): a node accepts steps only from the leader.
	Sign api.RequestHook
	// AppliedIndex, when set, is this agent's applied index, sent with
	// each step (api.CommitIndexHeader) so the node waits until its own
	// replica holds the step's begin before it checks it.
	AppliedIndex func() uint64
	// Nudge, when set, is called before each step is sent: it has the
	// leader tell its followers its commit index at once
	// (node.Agent.NudgeFollowers), so the node's wait for the step's begin
	// is a round trip, not Raft's idle replication tick.
	Nudge func()
}

// client is a client of the node whose API is at addr, signing as this
// node when Sign is set.
func (h HTTPNodes) client(addr string) *api.Client {
	c := api.NewClientTLS(addr, h.Token, h.TLS)
	if h.Sign != nil {
		c = c.WithHook(h.Sign)
	}
	return c
}

// RunStep implements Nodes.
func (h HTTPNodes) RunStep(ctx context.Context, addr string, req api.StepRequest) (api.StepStatus, error) {
	var index uint64
	if h.AppliedIndex != nil {
		index = h.AppliedIndex()
	}
	if h.Nudge != nil && index > 0 {
		h.Nudge()
	}
	c := api.NewClientTLS(addr, h.Token, h.TLS).WithHook(func(r *http.Request, body []byte) {
		if index > 0 {
			r.Header.Set(api.CommitIndexHeader, strconv.FormatUint(index, 10))
		}
		if h.Sign != nil {
			h.Sign(r, body)
		}
	})
	return c.RunStep(ctx, req)
}

// StepStatus implements Nodes.
func (h HTTPNodes) StepStatus(ctx context.Context, addr, txnID string, attempt uint64) (api.StepStatus, error) {
	return h.client(addr).StepStatus(ctx, txnID, attempt)
}

// Diagnostic implements Nodes.
func (h HTTPNodes) Diagnostic(ctx context.Context, addr string, health bool) (api.Diagnostic, error) {
	return h.client(addr).Diagnostic(ctx, health)
}

// CancelStep implements Nodes.
func (h HTTPNodes) CancelStep(ctx context.Context, addr, txnID string, attempt uint64, reason string) (api.StepStatus, error) {
	return h.client(addr).CancelStep(ctx, txnID, attempt, reason)
}

// NodeStepLogs implements Nodes.
func (h HTTPNodes) NodeStepLogs(ctx context.Context, addr, txnID string) ([]api.StepLogs, error) {
	return h.client(addr).NodeStepLogs(ctx, txnID)
}

func sortIDs(ids []string) { slices.SortFunc(ids, strategy.CompareID) }

// pullScheme prefixes the pseudo-address of a client agent (PullAddr).
const pullScheme = "pull:"

// PullAddr is the address the coordinator calls client agent id at: a
// client has no API (it pulls its steps, docs/clients.md), so the Nodes
// given to the coordinator serves calls to such an address from the
// leader's side of the pull protocol (node/pull) instead of calling out.
func PullAddr(id string) string { return pullScheme + id }

// PulledNode returns the client id of a PullAddr address, and whether addr
// is one.
func PulledNode(addr string) (string, bool) { return strings.CutPrefix(addr, pullScheme) }

// nodeAddr is the address the coordinator calls member m at.
func nodeAddr(m fsm.Member) string {
	if m.Client {
		return PullAddr(m.ID)
	}
	return m.HTTPAddr
}
