package executor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/baton-upgrade/baton/node/config"
	"github.com/baton-upgrade/baton/node/journal"
	"github.com/baton-upgrade/baton/rpc/api"
)

// The crash tests run a step in a child process (this test binary, in
// TestCrashHelper) and kill it with SIGKILL at one point: between two
// journal records (after the nth write returned), or from inside a hook.
// What the kernel holds of the journal then is what a kill leaves; a new
// executor on the same directory resumes the step as a restarted agent
// would, and the test checks invariant I2 (install ran at most once in the
// attempt) and that the outcome matches what the node runs.

const (
	crashHelperEnv = "BATON_EXECUTOR_CRASH_DIR"
	crashAfterEnv  = "BATON_EXECUTOR_CRASH_AFTER_WRITE"
	crashInHookEnv = "BATON_EXECUTOR_CRASH_IN_HOOK"
)

// pidRecords is how many journal writes a step has made once the pid of
// each hook is journaled: the attempt, then begin and pid of each hook
// after the end of the one before.
var pidRecords = map[string]int{HookDrain: 3, HookInstall: 6, HookRestart: 9, HookHealth: 12, HookVersion: 15}

// crashHooks are standardHooks in which hook inHook (if any) kills the
// agent once its pid is journaled, then goes on with its work, as a hook
// outliving its agent does. Install takes a moment after the kill, so a
// resume that did not wait for it would read the old version. (A kill
// before the pid is journaled is a kill between two records.)
func crashHooks(dir, inHook string) config.Hooks {
	h := standardHooks(dir)
	if inHook == "" {
		return h
	}
	writes := q(filepath.Join(dir, "writes"))
	kill := "if [ ! -e " + q(filepath.Join(dir, "killed")) + " ]; then : > " + q(filepath.Join(dir, "killed")) +
		"; while [ \"$(wc -l < " + writes + ")\" -lt " + strconv.Itoa(pidRecords[inHook]) + " ]; do sleep 0.01; done" +
		"; kill -9 $PPID; sleep 0.3; fi; "
	switch inHook {
	case HookDrain:
		h.Drain = kill + h.Drain
	case HookInstall:
		h.Install = kill + h.Install
	case HookRestart:
		h.Restart = kill + h.Restart
	case HookHealth:
		h.Health = kill + h.Health
	case HookVersion:
		h.Version = kill + h.Version
	}
	return h
}

// TestCrashHelper is the child process of the crash tests; it does nothing
// in a normal run.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashHelperEnv)
	if dir == "" {
		t.Skip("the child process of the crash tests")
	}
	after, _ := strconv.Atoi(os.Getenv(crashAfterEnv))
	writes := 0
	j, err := journal.OpenWith(filepath.Join(dir, "journal.db"), journal.Options{AfterWrite: func(durable bool) {
		writes++
		f, err := os.OpenFile(filepath.Join(dir, "writes"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err == nil {
			fmt.Fprintln(f, durable)
			_ = f.Close()
		}
		if writes == after {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
	}})
	require.NoError(t, err)
	done := make(chan struct{})
	e := New(Options{
		NodeID: "n1", Hooks: crashHooks(dir, os.Getenv(crashInHookEnv)), Journal: j,
		Logger:         hclog.NewNullLogger(),
		HealthInterval: 10 * time.Millisecond, BuildVersion: "0.9.0-build",
		OnFinish: func(Step, Status) { close(done) },
	})
	_, err = e.Start(upgradeStep(1))
	require.NoError(t, err)
	select {
	case <-done:
	case <-time.After(finishWait):
		t.Fatal("the step did not finish")
	}
}

// runCrashed runs the step in a child process that dies at the given
// point, and returns the durable flags of the writes it made.
func runCrashed(t *testing.T, dir string, afterWrite int, inHook string) []string {
	t.Helper()
	writeFile(t, filepath.Join(dir, "version"), "1.0.0\n")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashHelperEnv+"="+dir, crashAfterEnv+"="+strconv.Itoa(afterWrite), crashInHookEnv+"="+inHook)
	out, err := cmd.CombinedOutput()
	if afterWrite > 0 || inHook != "" {
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "the child should have been killed: %s", out)
		ws, ok := exit.Sys().(syscall.WaitStatus)
		require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "the child should have been killed: %v\n%s", err, out)
	} else {
		require.NoError(t, err, "%s", out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "writes"))
	require.NoError(t, err)
	return splitLines(string(raw))
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// resumeAfterCrash opens the journal the child left, resumes as a
// restarted agent does (the leader re-sends the step if the node has no
// record of it), and returns how the attempt ended.
func resumeAfterCrash(t *testing.T, dir string) journal.Record {
	t.Helper()
	j, err := journal.Open(filepath.Join(dir, "journal.db"))
	require.NoError(t, err)
	defer j.Close()
	fins := make(chan Status, 4)
	e := New(Options{
		NodeID: "n1", Hooks: standardHooks(dir), Journal: j,
		Logger:         hclog.New(&hclog.LoggerOptions{Output: testWriter{t}, Level: hclog.Debug}),
		HealthInterval: 10 * time.Millisecond, BuildVersion: "0.9.0-build",
		OnFinish: func(_ Step, st Status) { fins <- st },
	})
	defer e.Close()
	key := upgradeStep(1).Key()
	rec, err := j.Get(key)
	switch {
	case err == nil && rec.State != api.StepRunning:
		// Finished before the crash: only its notice is left to send.
		unacked, err := e.Unacked()
		require.NoError(t, err)
		require.Len(t, unacked, 1)
		return rec
	case err == nil:
		require.NoError(t, e.Resume())
	default:
		require.ErrorIs(t, err, journal.ErrNotFound)
		_, err = e.Start(upgradeStep(1))
		require.NoError(t, err)
	}
	select {
	case <-fins:
	case <-time.After(finishWait):
		t.Fatal("the resumed step did not finish")
	}
	rec, err = j.Get(key)
	require.NoError(t, err)
	return rec
}

// checkResumed asserts I2 and a correct outcome: install ran at most once,
// and the attempt is done exactly when the node runs the target version.
func checkResumed(t *testing.T, dir string, rec journal.Record) {
	t.Helper()
	f := &fixture{t: t, dir: dir}
	calls := f.lines("calls")
	require.LessOrEqual(t, count(calls, "install"), 1, "install ran twice: %v", calls)
	version := f.lines("version")
	if rec.State == api.StepDone {
		require.Equal(t, []string{"2.0.0"}, version)
		require.Equal(t, 1, count(calls, "install"))
		return
	}
	require.Equal(t, api.StepFailed, rec.State)
	require.Equal(t, "version hook printed 1.0.0, want 2.0.0", rec.Error, "calls %v", calls)
	require.Zero(t, count(calls, "install"), "a failed attempt here is one whose install never ran")
}

func TestCrashBetweenAnyTwoJournalRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the step in a child process once per record")
	}
	// A clean run counts the records a step writes, and which are durable.
	clean := runCrashed(t, t.TempDir(), 0, "")
	durable := count(clean, "true")
	t.Logf("a step writes %d records, %d of them fsync'd: %v", len(clean), durable, clean)
	require.Equal(t, 5, durable, "the attempt, install's begin, pid and end, and the outcome")
	for n := 1; n <= len(clean); n++ {
		t.Run(fmt.Sprintf("after-write-%d", n), func(t *testing.T) {
			dir := t.TempDir()
			runCrashed(t, dir, n, "")
			checkResumed(t, dir, resumeAfterCrash(t, dir))
		})
	}
}

func TestCrashDuringEachHook(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the step in a child process once per hook")
	}
	for _, hook := range []string{HookDrain, HookInstall, HookRestart, HookHealth, HookVersion} {
		t.Run(hook, func(t *testing.T) {
			dir := t.TempDir()
			runCrashed(t, dir, 0, hook)
			rec := resumeAfterCrash(t, dir)
			checkResumed(t, dir, rec)
			require.Equal(t, api.StepDone, rec.State, "a crash inside a hook, install included, ends with the node upgraded")
		})
	}
}
