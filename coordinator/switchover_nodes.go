package coordinator

import (
	"context"

	"github.com/baton-upgrade/baton/rpc/api"
)

// ServiceNodes calls other agents' service routes (protocol 3): the
// switch-over and the role watch need them.
type ServiceNodes interface {
	// ServiceProbe runs a node's role hook and, with lag, its lag hook.
	ServiceProbe(ctx context.Context, httpAddr string, lag bool) (api.ServiceProbe, error)
	// ServiceAction runs a node's promote, demote or follow hook for a
	// switch-over. An error means it did not answer (the hook may or may
	// not have run) or refused (api.ErrStale: the node's state does not
	// show the switch-over in that phase); a hook that failed is a result
	// with Error set.
	ServiceAction(ctx context.Context, httpAddr, action string, req api.ServiceActionRequest) (api.ServiceActionResult, error)
}

// ServiceProbe implements ServiceNodes.
func (h HTTPNodes) ServiceProbe(ctx context.Context, addr string, lag bool) (api.ServiceProbe, error) {
	return h.client(addr).ServiceProbe(ctx, lag)
}

// ServiceAction implements ServiceNodes.
func (h HTTPNodes) ServiceAction(ctx context.Context, addr, action string, req api.ServiceActionRequest) (api.ServiceActionResult, error) {
	return h.client(addr).ServiceAction(ctx, action, req)
}
