package pull

import (
	"context"
	"fmt"

	"github.com/baton-upgrade/baton/coordinator"
	"github.com/baton-upgrade/baton/rpc/api"
)

// Nodes is the coordinator's Nodes for a cluster with client agents: calls
// to a client's address (coordinator.PullAddr) are served by Hub, every
// other call goes to Next (the agents' HTTP API).
type Nodes struct {
	Next coordinator.Nodes
	Hub  *Hub
}

var _ coordinator.Nodes = Nodes{}

// RunStep implements coordinator.Nodes: a client's step is offered to its
// next poll.
func (n Nodes) RunStep(ctx context.Context, addr string, req api.StepRequest) (api.StepStatus, error) {
	if id, ok := coordinator.PulledNode(addr); ok {
		if req.Node != id {
			return api.StepStatus{}, fmt.Errorf("step for %q offered to client %q", req.Node, id)
		}
		return n.Hub.Offer(req)
	}
	return n.Next.RunStep(ctx, addr, req)
}

// StepStatus implements coordinator.Nodes: a client's attempt is as its
// polls report it.
func (n Nodes) StepStatus(ctx context.Context, addr, txnID string, attempt uint64) (api.StepStatus, error) {
	if id, ok := coordinator.PulledNode(addr); ok {
		return n.Hub.Status(id, txnID, attempt)
	}
	return n.Next.StepStatus(ctx, addr, txnID, attempt)
}

// Diagnostic implements coordinator.Nodes.
func (n Nodes) Diagnostic(ctx context.Context, addr string, health bool) (api.Diagnostic, error) {
	if id, ok := coordinator.PulledNode(addr); ok {
		return n.Hub.Diagnostic(id)
	}
	return n.Next.Diagnostic(ctx, addr, health)
}

// CancelStep implements coordinator.Nodes: the cancel goes with the
// client's next poll.
func (n Nodes) CancelStep(ctx context.Context, addr, txnID string, attempt uint64, reason string) (api.StepStatus, error) {
	if id, ok := coordinator.PulledNode(addr); ok {
		return n.Hub.Cancel(id, txnID, attempt, reason)
	}
	return n.Next.CancelStep(ctx, addr, txnID, attempt, reason)
}

// NodeStepLogs implements coordinator.Nodes. A client keeps its hooks'
// output in its own journal; the servers cannot call it for them.
func (n Nodes) NodeStepLogs(ctx context.Context, addr, txnID string) ([]api.StepLogs, error) {
	if id, ok := coordinator.PulledNode(addr); ok {
		return nil, fmt.Errorf("client %s keeps its hooks' output in its own journal (%s/journal.db); the servers do not fetch it", id, "its --data-dir")
	}
	return n.Next.NodeStepLogs(ctx, addr, txnID)
}

// ServiceProbe implements coordinator.Nodes. Client agents take no part in
// a service's switch-over.
func (n Nodes) ServiceProbe(ctx context.Context, addr string, lag bool) (api.ServiceProbe, error) {
	if id, ok := coordinator.PulledNode(addr); ok {
		return api.ServiceProbe{}, fmt.Errorf("client %s has no service role", id)
	}
	return n.Next.ServiceProbe(ctx, addr, lag)
}

// ServiceAction implements coordinator.Nodes.
func (n Nodes) ServiceAction(ctx context.Context, addr, action string, req api.ServiceActionRequest) (api.ServiceActionResult, error) {
	if id, ok := coordinator.PulledNode(addr); ok {
		return api.ServiceActionResult{}, fmt.Errorf("client %s has no service role", id)
	}
	return n.Next.ServiceAction(ctx, addr, action, req)
}
