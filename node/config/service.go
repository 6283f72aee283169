package config

import "strings"

// The service-role hooks by name, as the node routes and the switch-over
// name them (docs/switchover.md).
const (
	HookRole    = "role"
	HookPromote = "promote"
	HookDemote  = "demote"
	HookFollow  = "follow"
	HookLag     = "lag"
)

// ServiceHook returns the command line of the service-role hook name, and
// whether it is configured. An unknown name is not configured.
func (h Hooks) ServiceHook(name string) (string, bool) {
	var cmd string
	switch name {
	case HookRole:
		cmd = h.Role
	case HookPromote:
		cmd = h.Promote
	case HookDemote:
		cmd = h.Demote
	case HookFollow:
		cmd = h.Follow
	case HookLag:
		cmd = h.Lag
	}
	return cmd, strings.TrimSpace(cmd) != ""
}

// ServiceHooks lists the service-role hooks this node has, in the order
// role, promote, demote, follow, lag; nil when it has none.
func (h Hooks) ServiceHooks() []string {
	var out []string
	for _, name := range []string{HookRole, HookPromote, HookDemote, HookFollow, HookLag} {
		if _, ok := h.ServiceHook(name); ok {
			out = append(out, name)
		}
	}
	return out
}
