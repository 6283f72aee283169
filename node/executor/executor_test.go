package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/baton-upgrade/baton/node/config"
	"github.com/baton-upgrade/baton/node/journal"
	"github.com/baton-upgrade/baton/rpc/api"
)

// finishWait bounds every wait for a step to finish: generous, since hooks
// are real processes on a possibly loaded machine.
const finishWait = 60 * time.Second

// testCancelGrace is the fixture's time between SIGTERM and SIGKILL when a
// step is cancelled.
const testCancelGrace = 500 * time.Millisecond

type finished struct {
	step   Step
	status Status
}

// fixture is a node: a directory its hooks write to, a journal, and an
// executor whose OnFinish reports on a channel.
type fixture struct {
	t        *testing.T
	dir      string
	journal  *journal.Journal
	exec     *Executor
	finished chan finished
	mu       sync.Mutex
	count    int // OnFinish calls
}

func newFixture(t *testing.T, mkHooks func(dir string) config.Hooks) *fixture {
	t.Helper()
	dir := t.TempDir()
	j, err := journal.Open(filepath.Join(dir, "journal.db"))
	require.NoError(t, err)
	f := &fixture{t: t, dir: dir, journal: j, finished: make(chan finished, 16)}
	t.Cleanup(func() { _ = j.Close() })
	writeFile(t, f.path("version"), "1.0.0\n")
	f.exec = f.newExecutor(mkHooks(dir))
	return f
}

// newExecutor makes a further executor on the fixture's journal, as an
// agent restarted on the same data dir would.
func (f *fixture) newExecutor(h config.Hooks) *Executor {
	e := New(Options{
		NodeID:             "n1",
		Hooks:              h,
		Journal:            f.journal,
		ArtifactDir:        filepath.Join(f.dir, "artifacts"),
		AllowHTTPArtifacts: true,
		Logger:             hclog.New(&hclog.LoggerOptions{Output: testWriter{f.t}, Level: hclog.Debug}),
		HealthInterval:     10 * time.Millisecond,
		CancelGrace:        testCancelGrace,
		BuildVersion:       "0.9.0-build",
		OnFinish: func(s Step, st Status) {
			f.mu.Lock()
			f.count++
			f.mu.Unlock()
			f.finished <- finished{step: s, status: st}
		},
	})
	f.t.Cleanup(e.Close)
	return e
}

func (f *fixture) path(name string) string {
	return filepath.Join(f.dir, name)
}

// wait returns the next finished step.
func (f *fixture) wait() finished {
	f.t.Helper()
	select {
	case fin := <-f.finished:
		return fin
	case <-time.After(finishWait):
		f.t.Fatalf("no step finished within %s", finishWait)
		return finished{}
	}
}

func (f *fixture) onFinishCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}

// lines returns the lines of a file hooks append to; none if it is absent.
func (f *fixture) lines(name string) []string {
	f.t.Helper()
	raw, err := os.ReadFile(f.path(name))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(f.t, err)
	return strings.Fields(string(raw))
}

// standardHooks install the target version by writing it to a file the
// version hook prints, and log every call in order to "calls".
func standardHooks(dir string) config.Hooks {
	calls := q(filepath.Join(dir, "calls"))
	version := q(filepath.Join(dir, "version"))
	return config.Hooks{
		Drain:    "echo drain >> " + calls,
		Install:  "echo install >> " + calls + "; echo \"$BATON_TARGET_VERSION\" > " + version,
		Restart:  "echo restart >> " + calls,
		Health:   "echo health >> " + calls,
		Version:  "echo version >> " + calls + "; cat " + version,
		Rollback: "echo rollback >> " + calls + "; echo \"$BATON_TARGET_VERSION\" > " + version,
		Timeout:  time.Minute,
	}
}

func upgradeStep(attempt uint64) Step {
	return Step{TxnID: "txn-1", Node: "n1", Attempt: attempt, TargetVersion: "2.0.0", FromVersion: "1.0.0", ProtocolVersion: 1}
}

func TestFullUpgrade(t *testing.T) {
	f := newFixture(t, standardHooks)
	st, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	require.Equal(t, api.StepRunning, st.State)

	fin := f.wait()
	require.Equal(t, upgradeStep(1), fin.step)
	require.Equal(t, api.StepDone, fin.status.State, fin.status.Error)
	require.Equal(t, "2.0.0", fin.status.Version)
	require.Empty(t, fin.status.Error)
	require.Equal(t, []string{"drain", "install", "restart", "health", "version"}, f.lines("calls"))

	st, ok := f.exec.Status("txn-1", 1)
	require.True(t, ok)
	require.Equal(t, api.StepDone, st.State)
	require.Equal(t, "2.0.0", st.Version)

	rec, err := f.journal.Get(journal.Key{TxnID: "txn-1", Attempt: 1})
	require.NoError(t, err)
	var names []string
	for _, h := range rec.Hooks {
		names = append(names, h.Name)
		require.True(t, h.Succeeded(), h.Name)
		require.NotZero(t, h.PID, h.Name)
	}
	require.Equal(t, []string{"drain", "install", "restart", "health", "version"}, names)

	unacked, err := f.exec.Unacked()
	require.NoError(t, err)
	require.Len(t, unacked, 1)
	require.Equal(t, api.StepDone, unacked[0].State)
	require.NoError(t, f.exec.MarkAcked("txn-1", 1))
	unacked, err = f.exec.Unacked()
	require.NoError(t, err)
	require.Empty(t, unacked)
}

func TestOptionalHooksMayBeAbsent(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Drain, h.Restart, h.Health = "", "", ""
		return h
	})
	_, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	fin := f.wait()
	require.Equal(t, api.StepDone, fin.status.State, fin.status.Error)
	require.Equal(t, []string{"install", "version"}, f.lines("calls"))
}

func TestInstallFailure(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Install = "echo unpacking; echo disk full >&2; exit 3"
		return h
	})
	_, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	fin := f.wait()
	require.Equal(t, api.StepFailed, fin.status.State)
	require.Equal(t, "hook install exited 3: unpacking | disk full", fin.status.Error)
	require.Equal(t, "unpacking\ndisk full\n", fin.status.Output)
	require.Equal(t, []string{"drain"}, f.lines("calls"), "nothing runs after a failed install")

	st, ok := f.exec.Status("txn-1", 1)
	require.True(t, ok)
	require.Equal(t, fin.status.Error, st.Error)
	require.Equal(t, fin.status.Output, st.Output)
}

func TestVersionMismatchFails(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Install = "true" // installs nothing: the node stays on 1.0.0
		return h
	})
	_, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	fin := f.wait()
	require.Equal(t, api.StepFailed, fin.status.State)
	require.Equal(t, "version hook printed 1.0.0, want 2.0.0", fin.status.Error)
	require.Equal(t, "1.0.0", fin.status.Version)
}

func TestStartTwiceRunsInstallOnce(t *testing.T) {
	f := newFixture(t, standardHooks)
	_, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	again, err := f.exec.Start(upgradeStep(1)) // re-sent while it may still run
	require.NoError(t, err)
	require.Equal(t, "txn-1", again.TxnID)

	fin := f.wait()
	require.Equal(t, api.StepDone, fin.status.State, fin.status.Error)
	after, err := f.exec.Start(upgradeStep(1)) // re-sent after it finished
	require.NoError(t, err)
	require.Equal(t, api.StepDone, after.State)
	require.Equal(t, "2.0.0", after.Version)

	f.exec.Close()
	require.Equal(t, 1, count(f.lines("calls"), "install"))
	require.Equal(t, 1, f.onFinishCalls())
}

func TestNewAttemptRunsAgain(t *testing.T) {
	f := newFixture(t, standardHooks)
	for attempt := uint64(1); attempt <= 2; attempt++ {
		_, err := f.exec.Start(upgradeStep(attempt))
		require.NoError(t, err)
		fin := f.wait()
		require.Equal(t, attempt, fin.status.Attempt)
		require.Equal(t, api.StepDone, fin.status.State, fin.status.Error)
	}
	require.Equal(t, 2, count(f.lines("calls"), "install"))
}

func TestArtifactReachesInstall(t *testing.T) {
	payload := []byte("release 2.0.0")
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Install = "cp \"$BATON_ARTIFACT_PATH\" " + q(filepath.Join(dir, "installed")) + "; " + h.Install
		return h
	})
	step := upgradeStep(1)
	step.ArtifactURL, step.ArtifactSHA256 = serveArtifact(t, payload), sha256hex(payload)
	_, err := f.exec.Start(step)
	require.NoError(t, err)
	fin := f.wait()
	require.Equal(t, api.StepDone, fin.status.State, fin.status.Error)
	got, err := os.ReadFile(f.path("installed"))
	require.NoError(t, err)
	require.Equal(t, payload, got)
}

func TestArtifactDigestMismatchNeverInstalls(t *testing.T) {
	f := newFixture(t, standardHooks)
	step := upgradeStep(1)
	step.ArtifactURL, step.ArtifactSHA256 = serveArtifact(t, []byte("tampered")), sha256hex([]byte("release 2.0.0"))
	_, err := f.exec.Start(step)
	require.NoError(t, err)
	fin := f.wait()
	require.Equal(t, api.StepFailed, fin.status.State)
	require.Contains(t, fin.status.Error, "digest mismatch")
	require.Contains(t, fin.status.Error, step.ArtifactSHA256)
	require.NotContains(t, fin.status.Error, sha256hex([]byte("tampered")), "the computed digest is never told")
	require.Empty(t, f.lines("calls"), "no hook may run without a verified artifact")
}

// A step naming a local file is refused before any hook runs, and its
// error tells nothing of the file.
func TestArtifactFromALocalFileIsRefused(t *testing.T) {
	f := newFixture(t, standardHooks)
	step := upgradeStep(1)
	step.ArtifactURL, step.ArtifactSHA256 = "file:///etc/shadow", sha256hex([]byte("release 2.0.0"))
	_, err := f.exec.Start(step)
	require.NoError(t, err)
	fin := f.wait()
	require.Equal(t, api.StepFailed, fin.status.State)
	require.Contains(t, fin.status.Error, `scheme "file" is not allowed`)
	require.Empty(t, f.lines("calls"), "no hook may run without a verified artifact")
}

// serveArtifact serves body over loopback http and returns its URL.
func serveArtifact(t *testing.T, body []byte) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }))
	t.Cleanup(srv.Close)
	return srv.URL + "/release.tgz"
}

func TestRefusedWithoutInstallOrVersionHook(t *testing.T) {
	f := newFixture(t, func(string) config.Hooks { return config.Hooks{Drain: "true"} })
	_, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	fin := f.wait()
	require.Equal(t, api.StepFailed, fin.status.State)
	require.Contains(t, fin.status.Error, "upgrade.install and upgrade.version")
}

func TestInvalidStepChangesNothing(t *testing.T) {
	f := newFixture(t, standardHooks)
	for _, step := range []Step{
		{Node: "n1", Attempt: 1, TargetVersion: "2.0.0"},
		{TxnID: "t", Node: "n2", Attempt: 1, TargetVersion: "2.0.0"},
		{TxnID: "t", Node: "n1", Attempt: 1},
	} {
		_, err := f.exec.Start(step)
		require.ErrorIs(t, err, ErrInvalidStep)
	}
	recs, err := f.journal.Records()
	require.NoError(t, err)
	require.Empty(t, recs)
}

// TestRollbackStepRunsTheForwardPhases: a rollback drains, runs rollback in
// place of install, restarts, waits for health and checks the version, with
// the versions' roles swapped: the target is the version rolled back to.
func TestRollbackStepRunsTheForwardPhases(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Restart = "echo restart >> " + q(filepath.Join(dir, "calls")) +
			"; echo \"$BATON_FROM_VERSION->$BATON_TARGET_VERSION\" >> " + q(filepath.Join(dir, "env"))
		return h
	})
	writeFile(t, f.path("version"), "2.0.0\n")
	step := Step{TxnID: "txn-1", Node: "n1", Attempt: 3, TargetVersion: "1.0.0", FromVersion: "2.0.0", Rollback: true}
	_, err := f.exec.Start(step)
	require.NoError(t, err)
	fin := f.wait()
	require.Equal(t, api.StepDone, fin.status.State, fin.status.Error)
	require.Equal(t, "1.0.0", fin.status.Version)
	require.Equal(t, []string{"drain", "rollback", "restart", "health", "version"}, f.lines("calls"))
	require.Equal(t, []string{"2.0.0->1.0.0"}, f.lines("env"), "BATON_FROM_VERSION is rolled back from, BATON_TARGET_VERSION to")
}

func TestRollbackThatFailsStopsTheSequence(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Rollback = "echo rollback >> " + q(filepath.Join(dir, "calls")) + "; echo no previous release kept >&2; exit 1"
		return h
	})
	writeFile(t, f.path("version"), "2.0.0\n")
	_, err := f.exec.Start(Step{TxnID: "txn-1", Attempt: 2, TargetVersion: "1.0.0", FromVersion: "2.0.0", Rollback: true})
	require.NoError(t, err)
	fin := f.wait()
	require.Equal(t, api.StepFailed, fin.status.State)
	require.Equal(t, "hook rollback exited 1: no previous release kept", fin.status.Error)
	require.Equal(t, []string{"drain", "rollback"}, f.lines("calls"), "nothing runs after a failed rollback")
}

func TestRollbackThatLeavesTheNodeUnhealthyFails(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Health = "echo health >> " + q(filepath.Join(dir, "calls")) + "; echo connection refused; exit 1"
		h.Timeout = 300 * time.Millisecond
		return h
	})
	writeFile(t, f.path("version"), "2.0.0\n")
	_, err := f.exec.Start(Step{TxnID: "txn-1", Attempt: 2, TargetVersion: "1.0.0", FromVersion: "2.0.0", Rollback: true})
	require.NoError(t, err)
	fin := f.wait()
	require.Equal(t, api.StepFailed, fin.status.State)
	require.Contains(t, fin.status.Error, "health hook did not pass within 300ms")
	require.Contains(t, fin.status.Error, "connection refused")
	require.NotContains(t, f.lines("calls"), "version")
}

// TestResumeNeverRerunsARollback: rollback is the at-most-once hook of a
// rollback step, as install is of an upgrade.
func TestResumeNeverRerunsARollback(t *testing.T) {
	f := newFixture(t, standardHooks)
	writeFile(t, f.path("version"), "1.0.0\n") // the crashed agent's rollback did its work
	step := Step{TxnID: "txn-1", Node: "n1", Attempt: 2, TargetVersion: "1.0.0", FromVersion: "2.0.0", Rollback: true}
	_, _, err := f.journal.Begin(journal.Step(step))
	require.NoError(t, err)
	key := step.Key()
	require.NoError(t, f.journal.HookBegin(key, "drain"))
	require.NoError(t, f.journal.HookEnd(key, "drain", journal.Outcome{}))
	require.NoError(t, f.journal.HookBegin(key, "rollback"))
	require.NoError(t, f.journal.HookStarted(key, "rollback", deadPID(t)))

	require.NoError(t, f.exec.Resume())
	fin := f.wait()
	require.Equal(t, api.StepDone, fin.status.State, fin.status.Error)
	require.Equal(t, []string{"restart", "health", "version"}, f.lines("calls"), "rollback must not run again")
}

func TestRollbackNeedsARollbackHook(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Rollback = ""
		return h
	})
	_, err := f.exec.Start(Step{TxnID: "txn-1", Attempt: 1, TargetVersion: "1.0.0", Rollback: true})
	require.NoError(t, err)
	fin := f.wait()
	require.Equal(t, api.StepFailed, fin.status.State)
	require.Contains(t, fin.status.Error, "upgrade.rollback")
}

func TestHealthPolledUntilItPasses(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		counter := q(filepath.Join(dir, "health-count"))
		// Fails twice, then passes.
		h.Health = "n=$(cat " + counter + " 2>/dev/null || echo 0); n=$((n+1)); echo $n > " + counter + "; [ $n -ge 3 ]"
		return h
	})
	_, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	fin := f.wait()
	require.Equal(t, api.StepDone, fin.status.State, fin.status.Error)
	require.Equal(t, []string{"3"}, f.lines("health-count"))

	rec, err := f.journal.Get(journal.Key{TxnID: "txn-1", Attempt: 1})
	require.NoError(t, err)
	health, ok := rec.Hook("health")
	require.True(t, ok)
	require.Equal(t, 3, health.Runs)
}

func TestHealthThatNeverPassesFails(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Health = "echo not ready; exit 1"
		h.Timeout = 300 * time.Millisecond
		return h
	})
	_, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	fin := f.wait()
	require.Equal(t, api.StepFailed, fin.status.State)
	require.Contains(t, fin.status.Error, "health hook did not pass within 300ms")
	require.NotContains(t, f.lines("calls"), "version")
}

func TestBusyWhileAnotherStepRuns(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Install = "touch " + q(filepath.Join(dir, "installing")) + "; sleep 60"
		return h
	})
	_, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	waitForFile(t, f.path("installing"))

	st, ok := f.exec.Status("txn-1", 1)
	require.True(t, ok)
	require.Equal(t, api.StepRunning, st.State)
	require.Equal(t, "install", st.Hook)

	other := upgradeStep(1)
	other.TxnID = "txn-2"
	_, err = f.exec.Start(other)
	require.ErrorIs(t, err, ErrBusy)
}

func TestCloseCancelsAHangingHookAndResumeDoesNotReinstall(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Install = "echo install >> " + q(filepath.Join(dir, "calls")) +
			"; sleep 60 & echo $! > " + q(filepath.Join(dir, "sleep.pid")) + "; wait"
		return h
	})
	_, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	waitForFile(t, f.path("sleep.pid"))
	sleepPID := readPID(t, f.path("sleep.pid"))

	f.exec.Close()
	requireGone(t, sleepPID)
	require.Zero(t, f.onFinishCalls(), "an interrupted step is not finished")
	_, err = f.exec.Start(upgradeStep(2))
	require.ErrorIs(t, err, ErrClosed)
	rec, err := f.journal.Get(journal.Key{TxnID: "txn-1", Attempt: 1})
	require.NoError(t, err)
	require.Equal(t, api.StepRunning, rec.State)

	// The restarted agent does not run install again; the version hook
	// decides, and the node is still on 1.0.0.
	restarted := f.newExecutor(standardHooks(f.dir))
	require.NoError(t, restarted.Resume())
	fin := f.wait()
	require.Equal(t, api.StepFailed, fin.status.State)
	require.Equal(t, "version hook printed 1.0.0, want 2.0.0", fin.status.Error)
	require.Equal(t, 1, count(f.lines("calls"), "install"))
}

func TestResumeAfterCrashWithDeadInstallPID(t *testing.T) {
	f := newFixture(t, standardHooks)
	// The crashed agent's install had finished its work (the node runs
	// 2.0.0) and exited, but its end was never journaled.
	writeFile(t, f.path("version"), "2.0.0\n")
	key := beginInstall(t, f.journal, upgradeStep(1), deadPID(t))

	require.NoError(t, f.exec.Resume())
	fin := f.wait()
	require.Equal(t, api.StepDone, fin.status.State, fin.status.Error)
	require.Equal(t, "2.0.0", fin.status.Version)
	require.Equal(t, []string{"restart", "health", "version"}, f.lines("calls"), "install must not run again")

	rec, err := f.journal.Get(key)
	require.NoError(t, err)
	install, ok := rec.Hook("install")
	require.True(t, ok)
	require.True(t, install.Interrupted)
	require.Equal(t, 1, install.Runs)
}

func TestResumeWaitsForALiveInstall(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		// Restart fails if the old install had not finished before it.
		h.Restart = "test -f " + q(filepath.Join(dir, "install-finished")) + " && " + h.Restart
		return h
	})
	// The install the crashed agent started is still running.
	cmd := exec.Command("/bin/sh", "-c", "sleep 1; echo 2.0.0 > "+q(f.path("version"))+"; touch "+q(f.path("install-finished")))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() { <-exited })
	beginInstall(t, f.journal, upgradeStep(1), cmd.Process.Pid)

	require.NoError(t, f.exec.Resume())
	fin := f.wait()
	require.Equal(t, api.StepDone, fin.status.State, fin.status.Error)
	require.Equal(t, []string{"restart", "health", "version"}, f.lines("calls"))
}

func TestResumeRerunsUnfinishedDrain(t *testing.T) {
	f := newFixture(t, standardHooks)
	key := upgradeStep(1).Key()
	_, _, err := f.journal.Begin(journal.Step(upgradeStep(1)))
	require.NoError(t, err)
	require.NoError(t, f.journal.HookBegin(key, "drain"))

	require.NoError(t, f.exec.Resume())
	fin := f.wait()
	require.Equal(t, api.StepDone, fin.status.State, fin.status.Error)
	require.Equal(t, []string{"drain", "install", "restart", "health", "version"}, f.lines("calls"))
}

func TestResumeSkipsHooksThatSucceeded(t *testing.T) {
	f := newFixture(t, standardHooks)
	writeFile(t, f.path("version"), "2.0.0\n")
	key := upgradeStep(1).Key()
	_, _, err := f.journal.Begin(journal.Step(upgradeStep(1)))
	require.NoError(t, err)
	for _, hook := range []string{"drain", "install", "restart"} {
		require.NoError(t, f.journal.HookBegin(key, hook))
		require.NoError(t, f.journal.HookEnd(key, hook, journal.Outcome{}))
	}
	require.NoError(t, f.exec.Resume())
	fin := f.wait()
	require.Equal(t, api.StepDone, fin.status.State, fin.status.Error)
	require.Equal(t, []string{"health", "version"}, f.lines("calls"))
}

func TestResumeReportsAFailedInstallFromTheJournal(t *testing.T) {
	f := newFixture(t, standardHooks)
	key := upgradeStep(1).Key()
	_, _, err := f.journal.Begin(journal.Step(upgradeStep(1)))
	require.NoError(t, err)
	require.NoError(t, f.journal.HookBegin(key, "install"))
	require.NoError(t, f.journal.HookEnd(key, "install", journal.Outcome{ExitCode: 2, Error: "hook install exited 2: no space"}))

	require.NoError(t, f.exec.Resume())
	fin := f.wait()
	require.Equal(t, api.StepFailed, fin.status.State)
	require.Equal(t, "hook install exited 2: no space", fin.status.Error)
	require.Empty(t, f.lines("calls"))
}

func TestCurrentVersion(t *testing.T) {
	f := newFixture(t, standardHooks)
	v, err := f.exec.CurrentVersion(context.Background())
	require.NoError(t, err)
	require.Equal(t, "1.0.0", v)

	noHook := f.newExecutor(config.Hooks{})
	v, err = noHook.CurrentVersion(context.Background())
	require.NoError(t, err)
	require.Equal(t, "0.9.0-build", v)

	broken := f.newExecutor(config.Hooks{Version: "echo oops >&2; exit 4"})
	_, err = broken.CurrentVersion(context.Background())
	require.ErrorContains(t, err, "hook version exited 4: oops")
}

func TestStatusOfUnknownAttempt(t *testing.T) {
	f := newFixture(t, standardHooks)
	_, ok := f.exec.Status("nope", 1)
	require.False(t, ok)
}

// beginInstall journals what a crashed agent leaves behind: the attempt
// begun, install begun with pid, and nothing after.
func beginInstall(t *testing.T, j *journal.Journal, step Step, pid int) journal.Key {
	t.Helper()
	_, _, err := j.Begin(journal.Step(step))
	require.NoError(t, err)
	key := step.Key()
	require.NoError(t, j.HookBegin(key, "install"))
	require.NoError(t, j.HookStarted(key, "install", pid))
	return key
}

// deadPID returns the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", "exit 0")
	require.NoError(t, cmd.Run())
	return cmd.Process.Pid
}

func TestProcessAlive(t *testing.T) {
	require.False(t, processAlive(deadPID(t), time.Now()))
	require.False(t, processAlive(0, time.Now()))
	require.True(t, processAlive(os.Getpid(), processStart(t)))
	require.False(t, processAlive(os.Getpid(), processStart(t).Add(-time.Hour)), "a pid started at another time is a reuse")
}

func processStart(t *testing.T) time.Time {
	t.Helper()
	_, started, ok := procStat(os.Getpid())
	if !ok || started.IsZero() {
		t.Skip("no /proc")
	}
	return started
}

func count(lines []string, want string) int {
	n := 0
	for _, l := range lines {
		if l == want {
			n++
		}
	}
	return n
}

func sha256hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// q single-quotes a path for the shell.
func q(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
}

func waitForFile(t *testing.T, path string) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, err := os.Stat(path)
		return err == nil
	}, finishWait, 10*time.Millisecond, "waiting for %s", path)
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	require.Eventually(t, func() bool {
		raw, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(raw)))
		return err == nil
	}, finishWait, 10*time.Millisecond)
	return pid
}

// requireGone waits for pid to exit; a zombie counts as gone.
func requireGone(t *testing.T, pid int) {
	t.Helper()
	require.Eventually(t, func() bool {
		return !processAlive(pid, time.Time{}) || isZombie(pid)
	}, finishWait, 20*time.Millisecond, "process %d still running", pid)
}

func isZombie(pid int) bool {
	state, _, ok := procStat(pid)
	return ok && state == "Z"
}

// testWriter sends executor logs to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestWhileIdleWaitsForTheStepAndHoldsOffNewOnes: what runs inside WhileIdle
// sees a node with no step running, and no step can start under it.
func TestWhileIdleWaitsForTheStepAndHoldsOffNewOnes(t *testing.T) {
	f := newFixture(t, func(dir string) config.Hooks {
		h := standardHooks(dir)
		h.Install = "touch " + q(filepath.Join(dir, "installing")) + "; sleep 1; echo \"$BATON_TARGET_VERSION\" > " + q(filepath.Join(dir, "version"))
		return h
	})
	_, err := f.exec.Start(upgradeStep(1))
	require.NoError(t, err)
	waitForFile(t, f.path("installing"))

	// A wait bounded below the install's length gives up with the
	// running attempt named, and runs nothing.
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	ran := false
	err = f.exec.WhileIdle(short, func() error { ran = true; return nil })
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.False(t, ran)

	ctx, cancel2 := context.WithTimeout(context.Background(), finishWait)
	defer cancel2()
	err = f.exec.WhileIdle(ctx, func() error {
		st, ok := f.exec.Status("txn-1", 1)
		require.True(t, ok)
		require.NotEqual(t, api.StepRunning, st.State, "fn ran while the step was running")
		other := upgradeStep(1)
		other.TxnID = "txn-2"
		_, err := f.exec.Start(other)
		require.ErrorIs(t, err, ErrBusy, "a step started while WhileIdle held the node")
		return nil
	})
	require.NoError(t, err)

	// Released afterwards.
	other := upgradeStep(1)
	other.TxnID = "txn-2"
	_, err = f.exec.Start(other)
	require.NoError(t, err)
	f.wait()
	f.wait()
}
