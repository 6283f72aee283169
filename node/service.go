package node

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/node/config"
	"github.com/baton-upgrade/baton/node/hooks"
	"github.com/baton-upgrade/baton/rpc"
	"github.com/baton-upgrade/baton/rpc/api"
)

// The node's side of the service's switch-over (docs/switchover.md): it
// runs this node's role and lag hooks when the leader probes it, and its
// promote, demote and follow hooks when the leader's switch-over calls for
// them, never for a switch-over its own replica of the state does not show
// in that phase.

var _ rpc.Service = (*Agent)(nil)

// readHookLimit bounds a role or lag hook: a probe must answer soon, and the
// leader probes again.
const readHookLimit = 10 * time.Second

// staleWait bounds how long a service action waits for this node's state
// to reach the index the leader decided at.
const staleWait = 5 * time.Second

// ServiceProbe implements rpc.Service: it runs the role hook and, when lag
// is true, the lag hook, and reports what they printed or why they failed.
func (a *Agent) ServiceProbe(ctx context.Context, lag bool) api.ServiceProbe {
	h := a.exec.Hooks()
	p := api.ServiceProbe{ID: a.cfg.ID, Hooks: h.ServiceHooks()}
	if p.Hooks == nil {
		p.Hooks = []string{}
	}
	if cmd, ok := h.ServiceHook(config.HookRole); ok {
		out, err := a.readHook(ctx, config.HookRole, cmd)
		switch {
		case err != nil:
			p.RoleError = err.Error()
		case out == api.RolePrimary || out == api.RoleReplica:
			p.Role = out
		default:
			p.RoleError = fmt.Sprintf("role hook printed %q, want primary or replica", clip(out))
		}
	}
	if cmd, ok := h.ServiceHook(config.HookLag); ok && lag {
		out, err := a.readHook(ctx, config.HookLag, cmd)
		if err == nil {
			var n uint64
			if n, err = strconv.ParseUint(out, 10, 64); err == nil {
				p.Lag = &n
			} else {
				err = fmt.Errorf("lag hook printed %q, want a non-negative integer", clip(out))
			}
		}
		if err != nil {
			p.LagError = err.Error()
		}
	}
	return p
}

// readHook runs a read-only service hook and returns its standard output,
// trimmed.
func (a *Agent) readHook(ctx context.Context, name, cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, min(a.exec.Hooks().EffectiveTimeout(), readHookLimit))
	defer cancel()
	env := append(hooks.Env(hooks.StepEnv{NodeID: a.cfg.ID, ProtocolVersion: a.protocolVersion()}), a.serviceEnv(hooks.ServiceEnv{})...)
	res := hooks.Run(ctx, hooks.Spec{Name: name, Command: cmd, Env: env, CaptureStdout: true})
	if res.Err != nil {
		return "", res.Err
	}
	return strings.TrimSpace(res.Stdout), nil
}

// clip shortens a hook's output for an error message.
func clip(s string) string {
	const limit = 80
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}

// ServiceAction implements rpc.Service: it runs this node's promote, demote
// or follow hook for the switch-over req names, once its own state shows
// that switch-over in req.Phase (waiting up to 5 s for its state to reach
// req.Index). Actions run one at a time, bounded by the hook timeout and
// not by the caller: a leader that stops waiting does not cut a promote
// short.
func (a *Agent) ServiceAction(ctx context.Context, action string, req api.ServiceActionRequest) (api.ServiceActionResult, error) {
	env := hooks.ServiceEnv{Primary: req.OldPrimary}
	switch action {
	case api.HookDemote:
		env.NewPrimary = req.NewPrimary
		if a.cfg.ID != req.OldPrimary {
			return api.ServiceActionResult{}, fmt.Errorf("%w: demote runs on the old primary %s, not on %s", fsm.ErrInvalid, req.OldPrimary, a.cfg.ID)
		}
	case api.HookPromote:
		env.OldPrimary = req.OldPrimary
		if a.cfg.ID != req.NewPrimary {
			return api.ServiceActionResult{}, fmt.Errorf("%w: promote runs on the candidate %s, not on %s", fsm.ErrInvalid, req.NewPrimary, a.cfg.ID)
		}
	case api.HookFollow:
		env.Primary = req.NewPrimary
		if a.cfg.ID == req.NewPrimary {
			return api.ServiceActionResult{}, fmt.Errorf("%w: follow runs on the nodes other than the new primary %s", fsm.ErrInvalid, req.NewPrimary)
		}
	default:
		return api.ServiceActionResult{}, fmt.Errorf("%w: service action %q: want promote, demote or follow", fsm.ErrInvalid, action)
	}
	if err := a.checkSwitchover(ctx, req); err != nil {
		return api.ServiceActionResult{}, err
	}
	out := api.ServiceActionResult{ID: a.cfg.ID, Action: action}
	cmd, ok := a.exec.Hooks().ServiceHook(action)
	if !ok {
		return out, nil
	}
	a.serviceMu.Lock()
	defer a.serviceMu.Unlock()
	// The phase may have moved while this waited for another action; the
	// hooks are idempotent, but a switch-over that moved on must not be
	// acted on.
	if err := a.checkSwitchover(ctx, req); err != nil {
		return api.ServiceActionResult{}, err
	}
	hctx, cancel := context.WithTimeout(a.ctx, a.exec.Hooks().EffectiveTimeout())
	defer cancel()
	vars := append(hooks.Env(hooks.StepEnv{NodeID: a.cfg.ID, TxnID: req.TxnID, ProtocolVersion: a.protocolVersion()}), a.serviceEnv(env)...)
	a.log.Info("running service hook", "hook", action, "txn", req.TxnID, "old_primary", req.OldPrimary, "new_primary", req.NewPrimary)
	res := hooks.Run(hctx, hooks.Spec{Name: action, Command: cmd, Env: vars})
	out.Ran, out.ExitCode, out.Output, out.Took = true, res.ExitCode, res.Output, api.Duration(res.Duration)
	if res.Err != nil {
		out.Error = res.Err.Error()
		a.log.Warn("service hook failed", "hook", action, "txn", req.TxnID, "error", res.Err)
	} else {
		a.log.Info("service hook done", "hook", action, "txn", req.TxnID, "took", res.Duration)
	}
	return out, nil
}

// checkSwitchover refuses an action for a switch-over this node's state
// does not show in req.Phase: a deposed leader, or one that read an older
// state, must not make this node act on a switch-over that moved on.
func (a *Agent) checkSwitchover(ctx context.Context, req api.ServiceActionRequest) error {
	wctx, cancel := context.WithTimeout(ctx, staleWait)
	defer cancel()
	if req.Index > 0 {
		if got := a.fsm.WaitIndex(wctx, req.Index-1); got < req.Index {
			return fmt.Errorf("%w: this node's state is at index %d, behind the leader's %d", fsm.ErrStale, got, req.Index)
		}
	}
	var err error
	a.fsm.View(func(s *fsm.State) {
		t := s.Txns[req.TxnID]
		if t == nil || s.Active != req.TxnID {
			err = fmt.Errorf("%w: transaction %s is not active here", fsm.ErrStale, req.TxnID)
			return
		}
		sw := t.CurrentSwitchover()
		switch {
		case sw == nil:
			err = fmt.Errorf("%w: transaction %s has no switch-over in progress", fsm.ErrStale, req.TxnID)
		case sw.OldPrimary != req.OldPrimary || sw.Candidate != req.NewPrimary:
			err = fmt.Errorf("%w: the switch-over of %s is from %s to %s", fsm.ErrStale, req.TxnID, sw.OldPrimary, sw.Candidate)
		case string(sw.Phase) != req.Phase:
			err = fmt.Errorf("%w: the switch-over from %s to %s is %s, not %s", fsm.ErrStale, sw.OldPrimary, sw.Candidate, sw.Phase, req.Phase)
		}
	})
	return err
}

// protocolVersion is the cluster's active protocol as this node knows it.
func (a *Agent) protocolVersion() int {
	var v int
	a.fsm.View(func(s *fsm.State) { v = s.ProtocolVersion })
	return v
}

// serviceEnv returns the service's variables for a hook about to start:
// v, with the recorded primary when v names none, and the members file
// written as the state is now.
func (a *Agent) serviceEnv(v hooks.ServiceEnv) []string {
	if v.Primary == "" {
		a.fsm.View(func(s *fsm.State) { v.Primary = s.ServicePrimary() })
	}
	path, err := a.members.write(a.fsm)
	if err != nil {
		a.log.Warn("could not write the members file for a hook", "error", err)
	}
	v.MembersFile = path
	return v.Env()
}

// stepServiceEnv is the executor's Options.ServiceEnv: the service's
// variables of a step's hooks.
func (a *Agent) stepServiceEnv() []string { return a.serviceEnv(hooks.ServiceEnv{}) }
