package executor

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/baton-upgrade/baton/node/config"
	"github.com/baton-upgrade/baton/node/journal"
	"github.com/baton-upgrade/baton/rpc/api"
)

// TestLogsKeepEachHooksOutput: every hook's stdout and stderr, per attempt,
// in the order the hooks ran.
func TestLogsKeepEachHooksOutput(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Install = "echo unpacking 2.0.0; echo disk full >&2; echo retrying; exit 3"
		return h
	})
	_, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	fin := f.wait()
	require.Equal(t, api.StepFailed, fin.status.State)
	require.Equal(t, "hook install exited 3: unpacking 2.0.0 | disk full | retrying", fin.status.Error)

	_, err = f.exec.Start(upgradeStep(2))
	require.NoError(t, err)
	f.wait()

	logs, err := f.exec.Logs("txn-1")
	require.NoError(t, err)
	require.Len(t, logs, 2)
	first := logs[0]
	require.Equal(t, "txn-1", first.TxnID)
	require.Equal(t, uint64(1), first.Attempt)
	require.Equal(t, []string{"drain", "install"}, hookNames(first.Hooks))
	install := first.Hooks[1]
	require.Equal(t, "unpacking 2.0.0\ndisk full\nretrying\n", install.Output)
	require.Equal(t, 3, install.ExitCode)
	require.False(t, install.Truncated)
	require.False(t, install.Began.IsZero())
	require.False(t, install.Ended.Before(install.Began))
	require.Equal(t, uint64(2), logs[1].Attempt)

	none, err := f.exec.Logs("txn-unknown")
	require.NoError(t, err)
	require.Empty(t, none)
}

func TestLogsKeepTheLastHookOutputLimitBytes(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Drain = "head -c 200000 /dev/zero | tr '\\0' a; echo; echo drained"
		return h
	})
	_, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	require.Equal(t, api.StepDone, f.wait().status.State)
	logs, err := f.exec.Logs("txn-1")
	require.NoError(t, err)
	drain := logs[0].Hooks[0]
	require.Equal(t, "drain", drain.Hook)
	require.True(t, drain.Truncated)
	require.Len(t, drain.Output, api.HookOutputLimit)
	require.True(t, strings.HasSuffix(drain.Output, "a\ndrained\n"))
}

// TestLogsShowAHookThatHasNotEnded: a running hook (or one the agent died
// in) is listed with its begin and no end.
func TestLogsShowAHookThatHasNotEnded(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Install = installUntilTerm(dir)
		return h
	})
	_, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	waitForFile(t, f.path("installing"))
	logs, err := f.exec.Logs("txn-1")
	require.NoError(t, err)
	require.Len(t, logs, 1)
	require.Equal(t, []string{"drain", "install"}, hookNames(logs[0].Hooks))
	install := logs[0].Hooks[1]
	require.False(t, install.Began.IsZero())
	require.True(t, install.Ended.IsZero())
	_, err = f.exec.Cancel("txn-1", 1, "test over")
	require.NoError(t, err)
	f.wait()

	logs, err = f.exec.Logs("txn-1")
	require.NoError(t, err)
	install = logs[0].Hooks[1]
	require.False(t, install.Ended.IsZero())
	require.True(t, strings.HasPrefix(install.Output, "unpacking\n") && strings.HasSuffix(install.Output, "got SIGTERM\n"),
		"what the install printed until it was stopped is kept: %q", install.Output)
}

func TestLogsOfAHookRunAgainAfterARestart(t *testing.T) {
	f := newFixture(t, standardHooks)
	step := upgradeStep(1)
	_, _, err := f.journal.Begin(journal.Step(step))
	require.NoError(t, err)
	require.NoError(t, f.journal.HookBegin(step.Key(), "drain"))
	require.NoError(t, f.exec.Resume())
	require.Equal(t, api.StepDone, f.wait().status.State)
	logs, err := f.exec.Logs("txn-1")
	require.NoError(t, err)
	require.Equal(t, []string{"drain", "install", "restart", "health", "version"}, hookNames(logs[0].Hooks))
	require.Equal(t, 2, logs[0].Hooks[0].Runs)
	require.Equal(t, "2.0.0\n", logs[0].Hooks[4].Output)
}

func hookNames(hs []HookLog) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Hook)
	}
	return out
}
