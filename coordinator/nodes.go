package coordinator

import (
	"context"
	"crypto/tls"
	"slices"

	"github.com/baton-upgrade/baton/coordinator/strategy"
	"github.com/baton-upgrade/baton/rpc/api"
)

// HTTPNodes calls other agents over their HTTP API.
type HTTPNodes struct {
	// Token is sent with writes.
	Token string
	// TLS, when set, makes the calls HTTPS: it verifies the nodes against
	// the CA and presents this agent's certificate (node.Agent.ClientTLS).
	TLS *tls.Config
}

// client is a client of the node whose API is at addr.
func (h HTTPNodes) client(addr string) *api.Client { return api.NewClientTLS(addr, h.Token, h.TLS) }

// RunStep implements Nodes.
func (h HTTPNodes) RunStep(ctx context.Context, addr string, req api.StepRequest) (api.StepStatus, error) {
	return h.client(addr).RunStep(ctx, req)
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
