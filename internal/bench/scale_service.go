package bench

import (
	"context"

	"github.com/baton-upgrade/baton/rpc/api"
)

// The simulated agents have no service-role hooks: the scale run never
// switches a service over.

// ServiceProbe implements coordinator.Nodes.
func (s *simAgents) ServiceProbe(context.Context, string, bool) (api.ServiceProbe, error) {
	return api.ServiceProbe{Hooks: []string{}}, nil
}

// ServiceAction implements coordinator.Nodes.
func (s *simAgents) ServiceAction(_ context.Context, _ string, action string, _ api.ServiceActionRequest) (api.ServiceActionResult, error) {
	return api.ServiceActionResult{Action: action}, nil
}
