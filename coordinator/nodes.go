package coordinator

import (
	"context"
	"slices"

	"github.com/baton-upgrade/baton/coordinator/strategy"
	"github.com/baton-upgrade/baton/rpc/api"
)

// HTTPNodes calls other agents over their HTTP API.
type HTTPNodes struct {
	// Token is sent with writes.
	Token string
}

// RunStep implements Nodes.
func (h HTTPNodes) RunStep(ctx context.Context, addr string, req api.StepRequest) (api.StepStatus, error) {
	return api.NewClient(addr, h.Token).RunStep(ctx, req)
}

// StepStatus implements Nodes.
func (h HTTPNodes) StepStatus(ctx context.Context, addr, txnID string, attempt uint64) (api.StepStatus, error) {
	return api.NewClient(addr, h.Token).StepStatus(ctx, txnID, attempt)
}

// Diagnostic implements Nodes.
func (h HTTPNodes) Diagnostic(ctx context.Context, addr string, health bool) (api.Diagnostic, error) {
	return api.NewClient(addr, h.Token).Diagnostic(ctx, health)
}

// CancelStep implements Nodes.
func (h HTTPNodes) CancelStep(ctx context.Context, addr, txnID string, attempt uint64, reason string) (api.StepStatus, error) {
	return api.NewClient(addr, h.Token).CancelStep(ctx, txnID, attempt, reason)
}

// NodeStepLogs implements Nodes.
func (h HTTPNodes) NodeStepLogs(ctx context.Context, addr, txnID string) ([]api.StepLogs, error) {
	return api.NewClient(addr, h.Token).NodeStepLogs(ctx, txnID)
}

func sortIDs(ids []string) { slices.SortFunc(ids, strategy.CompareID) }
