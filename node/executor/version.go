package executor

import (
	"context"
	"errors"
	"strings"

	"github.com/baton-upgrade/baton/node/hooks"
)

// CurrentVersion returns the version installed on this node: what the
// version hook prints (trimmed), or Options.BuildVersion when there is no
// version hook. ctx bounds the hook, as does the hook timeout. When the
// hook fails or prints nothing, the error says so in the words of a hook
// error ("hook version exited 4: <its last lines>", "hook version printed
// nothing").
func (e *Executor) CurrentVersion(ctx context.Context) (string, error) {
	command := e.Hooks().Version
	if strings.TrimSpace(command) == "" {
		return e.opts.BuildVersion, nil
	}
	res := hooks.Run(ctx, hooks.Spec{
		Name:          HookVersion,
		Command:       command,
		Env:           hooks.Env(hooks.StepEnv{NodeID: e.opts.NodeID}),
		Timeout:       e.Hooks().EffectiveTimeout(),
		CaptureStdout: true,
	})
	if res.Err != nil {
		return "", res.Err
	}
	v := strings.TrimSpace(res.Stdout)
	if v == "" {
		return "", errors.New("hook version printed nothing")
	}
	return v, nil
}
