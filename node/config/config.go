package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultTimeout bounds each hook when the upgrade block sets no timeout.
const DefaultTimeout = 5 * time.Minute

// ErrCannotUpgrade is returned (wrapped) by Hooks.CanUpgrade when a hook
// that every upgrade needs is not configured.
var ErrCannotUpgrade = errors.New("node cannot take part in an upgrade")

// File is the decoded agent config file (node.Config is what an agent is
// started with, of which the file gives the hooks and labels).
type File struct {
	// Upgrade holds the `upgrade` block. The block is optional: without it
	// Upgrade is the zero Hooks and the node cannot be upgraded.
	Upgrade Hooks
	// Labels are free-form key/value pairs the node reports about itself
	// (zone, rack, role); nil when the file has none.
	Labels map[string]string
	// ServiceAddr is the HOST:PORT the node's service listens on (the
	// top-level service_addr), which gateways send clients to; "" when
	// the file names none.
	ServiceAddr string
}

// Hooks are this node's hook command lines, each run with /bin/sh -c, and
// the timeout that bounds each of them. An empty command means the hook is
// not configured.
type Hooks struct {
	Drain    string
	Install  string
	Restart  string
	Health   string
	Version  string
	Rollback string
	// Service roles (docs/switchover.md): role prints primary or replica;
	// promote makes this node's service the primary; demote fences the old
	// primary (optional); follow points this node at a new primary
	// (optional); lag prints how far this node's data trails the primary.
	Role    string
	Promote string
	Demote  string
	Follow  string
	Lag     string
	// Timeout bounds each single hook run. Load sets it to DefaultTimeout
	// when the upgrade block omits it; the zero Hooks has Timeout 0, for
	// which EffectiveTimeout returns DefaultTimeout.
	Timeout time.Duration
}

// CanUpgrade returns nil when the hooks an upgrade needs (install and
// version) are set, and otherwise an error wrapping ErrCannotUpgrade that
// names the missing ones.
func (h Hooks) CanUpgrade() error {
	var missing []string
	if strings.TrimSpace(h.Install) == "" {
		missing = append(missing, "upgrade.install")
	}
	if strings.TrimSpace(h.Version) == "" && !h.SelfRestart() {
		missing = append(missing, "upgrade.version")
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s not set in the agent config", ErrCannotUpgrade, strings.Join(missing, " and "))
}

// RestartSelf is the restart hook value that makes the agent re-execute
// its own executable after install: the way an agent upgrades itself
// without a supervisor.
const RestartSelf = "self"

// SelfRestart reports whether the restart hook is RestartSelf. Such an
// agent upgrades itself, so without a version hook it reports its own
// build's version.
func (h Hooks) SelfRestart() bool { return strings.TrimSpace(h.Restart) == RestartSelf }

// EffectiveTimeout is Timeout, or DefaultTimeout when Timeout is not positive.
func (h Hooks) EffectiveTimeout() time.Duration {
	if h.Timeout <= 0 {
		return DefaultTimeout
	}
	return h.Timeout
}
