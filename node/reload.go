package node

import (
	"reflect"
	"strings"

	"github.com/baton-upgrade/baton/node/config"
)

// ReloadHooks replaces this node's upgrade hooks with those of a reloaded
// config file (SIGHUP): every hook begun from now on is the new one, in new
// steps and in a step already running; a hook already running finishes as
// it began. Labels and addresses are read at start only.
func (a *Agent) ReloadHooks(h config.Hooks) {
	old := a.exec.Hooks()
	a.exec.SetHooks(h)
	a.health.forget() // the next diagnostic runs the new health hook
	a.log.Info("hooks reloaded", "changed", changedHooks(old, h))
}

// changedHooks names the fields of the upgrade block that differ.
func changedHooks(old, new config.Hooks) []string {
	var out []string
	o, n := reflect.ValueOf(old), reflect.ValueOf(new)
	for i := range o.NumField() {
		if !reflect.DeepEqual(o.Field(i).Interface(), n.Field(i).Interface()) {
			out = append(out, strings.ToLower(o.Type().Field(i).Name))
		}
	}
	return out
}
