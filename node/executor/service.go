package executor

import "github.com/baton-upgrade/baton/node/hooks"

// env returns the variables of a step's hooks: the step's own, then what
// Options.ServiceEnv adds (the service's primary and the members file),
// read as each phase begins.
func (e *Executor) env(v hooks.StepEnv) []string {
	out := hooks.Env(v)
	if e.opts.ServiceEnv != nil {
		out = append(out, e.opts.ServiceEnv()...)
	}
	return out
}
