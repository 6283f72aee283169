package executor

import (
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/baton-upgrade/baton/node/config"
	"github.com/baton-upgrade/baton/node/journal"
	"github.com/baton-upgrade/baton/rpc/api"
)

// installUntilTerm is an install that says what it does, runs until it is
// signalled, and on SIGTERM says so and exits.
func installUntilTerm(dir string) string {
	return "echo install >> " + q(filepath.Join(dir, "calls")) +
		"; trap 'echo got SIGTERM >&2; exit 143' TERM; echo unpacking; touch " + q(filepath.Join(dir, "installing")) +
		"; while :; do sleep 0.05; done"
}

// TestCancelStopsTheRunningInstall: a step cancelled at its deadline is
// stopped on its node: its install gets SIGTERM, nothing after it runs, the
// attempt ends failed and is reported once, and the node is free for the
// next step.
func TestCancelStopsTheRunningInstall(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Install = installUntilTerm(dir)
		return h
	})
	_, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	waitForFile(t, f.path("installing"))

	st, err := f.exec.Cancel("txn-1", 1, "step timed out after 4s")
	require.NoError(t, err)
	require.Equal(t, api.StepRunning, st.State, "the answer comes at once, while the hook is being stopped")
	require.Equal(t, "install", st.Hook)

	fin := f.wait()
	require.Equal(t, api.StepFailed, fin.status.State)
	require.Equal(t, "cancelled: step timed out after 4s; install was stopped while it ran, so the node may be partly installed", fin.status.Error)
	require.Equal(t, []string{"drain", "install"}, f.lines("calls"), "no hook starts after the cancel")

	rec, err := f.journal.Get(journal.Key{TxnID: "txn-1", Attempt: 1})
	require.NoError(t, err)
	require.Equal(t, api.StepFailed, rec.State)
	require.Equal(t, fin.status.Error, rec.Error)
	require.Equal(t, "step timed out after 4s", rec.CancelReason)
	install, ok := rec.Hook("install")
	require.True(t, ok)
	require.True(t, install.HasEnded())
	require.False(t, install.Interrupted, "how the install ended is known")
	// The shell may report its sleep's death ("Terminated") in between.
	require.Regexp(t, `^hook install terminated \(SIGTERM\): unpacking \| .*got SIGTERM$`, install.Error)
	require.NotContains(t, install.Error, "killed after", "it exited on SIGTERM, within the grace period")

	// Answered from the journal from now on, unchanged.
	again, err := f.exec.Cancel("txn-1", 1, "transaction aborted")
	require.NoError(t, err)
	require.Equal(t, api.StepFailed, again.State)
	require.Equal(t, fin.status.Error, again.Error)
	f.exec.Close()
	require.Equal(t, 1, f.onFinishCalls())
}

func TestCancelFreesTheNodeForTheNextStep(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Install = installUntilTerm(dir)
		return h
	})
	_, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	waitForFile(t, f.path("installing"))
	next := upgradeStep(1)
	next.TxnID = "txn-2"
	_, err = f.exec.Start(next)
	require.ErrorIs(t, err, ErrBusy)

	_, err = f.exec.Cancel("txn-1", 1, "transaction aborted")
	require.NoError(t, err)
	require.Equal(t, api.StepFailed, f.wait().status.State)
	_, err = f.exec.Start(next)
	require.NoError(t, err, "the cancelled attempt no longer holds the node")
	f.exec.Cancel("txn-2", 1, "test over")
	f.wait()
}

func TestCancelKillsAHookThatIgnoresSIGTERM(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Install = "trap '' TERM; sleep 60 & echo $! > " + q(filepath.Join(dir, "sleep.pid")) + "; wait"
		return h
	})
	_, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	sleepPID := readPID(t, f.path("sleep.pid"))

	start := time.Now()
	_, err = f.exec.Cancel("txn-1", 1, "transaction aborted")
	require.NoError(t, err)
	fin := f.wait()
	require.GreaterOrEqual(t, time.Since(start), testCancelGrace, "SIGKILL waits for the grace period")
	require.Equal(t, api.StepFailed, fin.status.State)
	require.Contains(t, fin.status.Error, "cancelled: transaction aborted")
	requireGone(t, sleepPID)
	rec, err := f.journal.Get(journal.Key{TxnID: "txn-1", Attempt: 1})
	require.NoError(t, err)
	install, _ := rec.Hook("install")
	require.Contains(t, install.Error, "killed after "+testCancelGrace.String())
}

// TestCancelBetweenHooks: a hook that exits 0 on SIGTERM does not let the
// sequence go on.
func TestCancelBetweenHooks(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Drain = "echo drain >> " + q(filepath.Join(dir, "calls")) + "; trap 'exit 0' TERM; touch " +
			q(filepath.Join(dir, "draining")) + "; while :; do sleep 0.05; done"
		return h
	})
	_, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	waitForFile(t, f.path("draining"))
	_, err = f.exec.Cancel("txn-1", 1, "transaction aborted")
	require.NoError(t, err)
	fin := f.wait()
	require.Equal(t, api.StepFailed, fin.status.State)
	require.Equal(t, "cancelled: transaction aborted; drain was stopped while it ran", fin.status.Error)
	require.Equal(t, []string{"drain"}, f.lines("calls"), "install never starts")
	rec, err := f.journal.Get(journal.Key{TxnID: "txn-1", Attempt: 1})
	require.NoError(t, err)
	_, began := rec.Hook("install")
	require.False(t, began, "install is not even journaled as begun")
}

func TestCancelWhileHealthIsPolled(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Health = "echo not ready; exit 1"
		return h
	})
	f.exec.Close()
	f.exec = New(Options{NodeID: "n1", Hooks: f.exec.opts.Hooks, Journal: f.journal, HealthInterval: time.Hour,
		OnFinish: func(s Step, st Status) { f.finished <- finished{step: s, status: st} }})
	t.Cleanup(f.exec.Close)
	_, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		rec, err := f.journal.Get(journal.Key{TxnID: "txn-1", Attempt: 1})
		require.NoError(t, err)
		health, ok := rec.Hook("health")
		return ok && health.HasEnded()
	}, finishWait, 10*time.Millisecond, "the first health poll never ended")
	_, err = f.exec.Cancel("txn-1", 1, "step timed out after 10m0s")
	require.NoError(t, err)
	fin := f.wait()
	require.Equal(t, api.StepFailed, fin.status.State)
	require.Equal(t, "cancelled: step timed out after 10m0s", fin.status.Error, "no hook ran when it came")
	require.NotContains(t, f.lines("calls"), "version")
}

func TestCancelOfAnAttemptAlreadyFinished(t *testing.T) {
	f := newFixture(t, standardHooks)
	_, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	fin := f.wait()
	require.Equal(t, api.StepDone, fin.status.State, fin.status.Error)

	st, err := f.exec.Cancel("txn-1", 1, "step timed out after 4s")
	require.NoError(t, err)
	require.Equal(t, api.StepDone, st.State)
	require.Equal(t, "2.0.0", st.Version)
	rec, err := f.journal.Get(journal.Key{TxnID: "txn-1", Attempt: 1})
	require.NoError(t, err)
	require.Empty(t, rec.CancelReason, "a finished attempt is left as it was")
	require.Equal(t, 1, f.onFinishCalls())
}

func TestCancelOfAnUnknownAttempt(t *testing.T) {
	f := newFixture(t, standardHooks)
	_, err := f.exec.Cancel("nope", 1, "x")
	require.ErrorIs(t, err, ErrNotFound)
	recs, err := f.journal.Records()
	require.NoError(t, err)
	require.Empty(t, recs)
}

// TestResumeFinishesACancelledAttemptWithoutRunningIt: the agent died after
// journaling the cancel, while its install still ran. The restarted agent
// does not go on with the attempt: it stops the install it left behind and
// finishes the attempt as cancelled.
func TestResumeFinishesACancelledAttemptWithoutRunningIt(t *testing.T) {
	f := newFixture(t, standardHooks)
	cmd := exec.Command("/bin/sh", "-c", "trap 'exit 143' TERM; while :; do sleep 0.05; done")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	key := beginInstall(t, f.journal, upgradeStep(1), cmd.Process.Pid)
	_, err := f.journal.RequestCancel(key, "transaction aborted")
	require.NoError(t, err)

	require.NoError(t, f.exec.Resume())
	fin := f.wait()
	require.Equal(t, api.StepFailed, fin.status.State)
	require.Equal(t, "cancelled: transaction aborted; install was stopped while it ran, so the node may be partly installed", fin.status.Error)
	select {
	case <-exited:
	case <-time.After(finishWait):
		t.Fatal("the install the previous agent left running was not stopped")
	}
	require.Empty(t, f.lines("calls"), "nothing runs for a cancelled attempt")
	rec, err := f.journal.Get(key)
	require.NoError(t, err)
	install, _ := rec.Hook("install")
	require.Equal(t, 1, install.Runs, "install is never run again (I2)")
	require.Contains(t, install.Error, "stopped by the cancel")
}

func TestResumeFinishesACancelledAttemptBetweenHooks(t *testing.T) {
	f := newFixture(t, standardHooks)
	step := upgradeStep(1)
	_, _, err := f.journal.Begin(journal.Step(step))
	require.NoError(t, err)
	require.NoError(t, f.journal.HookBegin(step.Key(), "drain"))
	require.NoError(t, f.journal.HookEnd(step.Key(), "drain", journal.Outcome{}))
	_, err = f.journal.RequestCancel(step.Key(), "step timed out after 4s")
	require.NoError(t, err)

	require.NoError(t, f.exec.Resume())
	fin := f.wait()
	require.Equal(t, api.StepFailed, fin.status.State)
	require.Equal(t, "cancelled: step timed out after 4s", fin.status.Error)
	require.Empty(t, f.lines("calls"))
}

// TestCancelCutShortByCloseFinishesAfterTheRestart: the agent stops while a
// cancelled install is still within its grace period. The install is
// killed with the agent's executor, and the next process finishes the
// attempt as cancelled without running anything.
func TestCancelCutShortByCloseFinishesAfterTheRestart(t *testing.T) {
	f := newFixture(t, standardHooks)
	h := standardHooks(f.dir)
	h.Install = "echo install >> " + q(f.path("calls")) + "; trap '' TERM; touch " + q(f.path("installing")) + "; sleep 60"
	f.exec.Close()
	first := New(Options{NodeID: "n1", Hooks: h, Journal: f.journal, CancelGrace: time.Hour,
		OnFinish: func(s Step, st Status) { f.finished <- finished{step: s, status: st} }})
	t.Cleanup(first.Close)
	_, err := first.Start(upgradeStep(1))
	require.NoError(t, err)
	waitForFile(t, f.path("installing"))
	_, err = first.Cancel("txn-1", 1, "transaction aborted")
	require.NoError(t, err)
	first.Close()
	select {
	case fin := <-f.finished:
		t.Fatalf("the attempt finished while the executor closed: %+v", fin.status)
	default:
	}

	restarted := f.newExecutor(h)
	require.NoError(t, restarted.Resume())
	fin := f.wait()
	require.Equal(t, api.StepFailed, fin.status.State)
	require.Equal(t, "cancelled: transaction aborted; install was stopped while it ran, so the node may be partly installed", fin.status.Error)
	require.Equal(t, []string{"drain", "install"}, f.lines("calls"), "nothing ran again")
}
