package executor

import (
	"runtime"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/node/config"
	"github.com/baton-upgrade/baton/node/journal"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// TestSelfRestartResumesInTheNewProcess plays an agent that upgrades
// itself: install replaces the binary, restart "self" re-executes it (here
// the goroutine ends, as it would with exec), and the next executor, built
// as the new version, finishes the step from the journal without running
// install or restarting again, reporting its own build version.
func TestSelfRestartResumesInTheNewProcess(t *testing.T) {
	hooks := func(dir string) config.Hooks {
		return config.Hooks{Install: "echo install >> " + q(dir+"/calls"), Restart: config.RestartSelf, Timeout: 30 * time.Second}
	}
	f := newFixture(t, hooks)
	require.NoError(t, hooks(f.dir).CanUpgrade(), "a self-upgrading agent needs no version hook")

	reexecs := make(chan struct{}, 4)
	first := New(Options{NodeID: "n1", Hooks: hooks(f.dir), Journal: f.journal, BuildVersion: "1.0.0",
		SelfRestart: func() error {
			reexecs <- struct{}{}
			runtime.Goexit() // exec never returns
			return nil
		}})
	step := Step{TxnID: "t-1", Node: "n1", Attempt: 1, TargetVersion: "2.0.0", FromVersion: "1.0.0"}
	_, err := first.Start(step)
	require.NoError(t, err)
	select {
	case <-reexecs:
	case <-time.After(finishWait):
		t.Fatal("the agent never re-executed")
	}
	first.Close()
	rec, err := f.journal.Get(journal.Key{TxnID: "t-1", Attempt: 1})
	require.NoError(t, err)
	require.Equal(t, api.StepRunning, rec.State)

	// The new process: built as 2.0.0.
	second := New(Options{NodeID: "n1", Hooks: hooks(f.dir), Journal: f.journal, BuildVersion: "2.0.0",
		OnFinish:    func(s Step, st Status) { f.finished <- finished{step: s, status: st} },
		SelfRestart: func() error { reexecs <- struct{}{}; return nil }})
	t.Cleanup(second.Close)
	require.NoError(t, second.Resume())
	fin := f.wait()
	require.Equal(t, api.StepDone, fin.status.State, fin.status.Error)
	require.Equal(t, "2.0.0", fin.status.Version)
	require.Equal(t, []string{"install"}, f.lines("calls"), "install ran once")
	require.Empty(t, reexecs, "the new process does not restart again")
}
