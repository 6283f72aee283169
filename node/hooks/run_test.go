package hooks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/baton-upgrade/baton/rpc/api"
)

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name    string
		command string
		code    int
		err     string // "" means Err is nil
	}{
		{name: "success", command: "echo fine", code: 0},
		{name: "exit 3 with output", command: "echo first; echo boom >&2; exit 3", code: 3, err: "hook install exited 3: first | boom"},
		{name: "exit 1 without output", command: "exit 1", code: 1, err: "hook install exited 1"},
		{name: "command not found", command: "no-such-command-baton-test", code: 127, err: "hook install exited 127: "},
		{name: "killed by a signal", command: "kill -TERM $$", code: -1, err: "hook install killed by signal terminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Run(context.Background(), Spec{Name: "install", Command: tt.command, Timeout: time.Minute})
			require.Equal(t, tt.code, res.ExitCode)
			require.NotZero(t, res.PID)
			if tt.err == "" {
				require.NoError(t, res.Err)
				return
			}
			require.ErrorContains(t, res.Err, tt.err)
		})
	}
}

func TestRunEmptyCommand(t *testing.T) {
	res := Run(context.Background(), Spec{Name: "drain", Command: "  "})
	require.ErrorIs(t, res.Err, ErrEmptyCommand)
	require.Equal(t, -1, res.ExitCode)
	require.Zero(t, res.PID)
}

func TestRunTimeoutKillsTheWholeGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	res := Run(context.Background(), Spec{
		Name:    "install",
		Command: "sleep 30 & echo $! > " + pidFile + "; wait",
		Timeout: 500 * time.Millisecond,
	})
	require.ErrorIs(t, res.Err, ErrTimedOut)
	require.EqualError(t, res.Err, "hook install timed out after 500ms")
	require.Equal(t, -1, res.ExitCode)
	requireGone(t, readPID(t, pidFile))
}

func TestRunContextCancelKillsTheWholeGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan int, 1)
	go func() {
		// Cancel once the hook has written its child's pid (or give up
		// waiting, so the goroutine always ends).
		defer cancel()
		<-started
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(pidFile); err == nil {
				return
			}
		}
	}()
	res := Run(ctx, Spec{
		Name:    "restart",
		Command: "sleep 30 & echo $! > " + pidFile + "; wait",
		Started: func(pid int) { started <- pid },
	})
	require.ErrorIs(t, res.Err, context.Canceled)
	require.Contains(t, res.Err.Error(), "hook restart stopped")
	requireGone(t, readPID(t, pidFile))
	requireGone(t, res.PID)
}

func TestRunNotStartedWhenContextDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	res := Run(ctx, Spec{Name: "drain", Command: "true", Started: func(int) { called = true }})
	require.ErrorIs(t, res.Err, context.Canceled)
	require.False(t, called)
}

func TestRunStartedGetsThePID(t *testing.T) {
	var got int
	res := Run(context.Background(), Spec{Name: "health", Command: "echo $$", Started: func(pid int) { got = pid }})
	require.NoError(t, res.Err)
	require.Equal(t, res.PID, got)
	require.Equal(t, strconv.Itoa(got), strings.TrimSpace(res.Output))
}

func TestRunOutputTailIsBounded(t *testing.T) {
	res := Run(context.Background(), Spec{
		Name:    "install",
		Command: "head -c 100000 /dev/zero | tr '\\0' a; echo; echo the-end; exit 2",
	})
	require.True(t, res.Truncated)
	require.Len(t, res.Output, TailSize, "exactly the last TailSize bytes are kept")
	require.True(t, strings.HasSuffix(res.Output, "aaa\nthe-end\n"))
	require.Regexp(t, `^hook install exited 2: …a+ \| the-end$`, res.Err.Error())
	require.LessOrEqual(t, len(res.Err.Error()), len("hook install exited 2: ")+ErrorExcerptBytes)
}

func TestTailSizeIsTheAPIsLimit(t *testing.T) {
	require.Equal(t, api.HookOutputLimit, TailSize)
}

func TestRunErrorQuotesTheLastLines(t *testing.T) {
	res := Run(context.Background(), Spec{
		Name:    "install",
		Command: "for i in 1 2 3 4 5 6; do echo step $i; done; echo; echo '  disk full  ' >&2; exit 3",
	})
	require.EqualError(t, res.Err, "hook install exited 3: step 3 | step 4 | step 5 | step 6 | disk full")
	require.False(t, res.Truncated)
}

func TestRunTerminateLetsTheHookExitOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "got-term")
	stop := make(chan struct{})
	started := make(chan int, 1)
	go func() {
		<-started
		waitForFile(t, filepath.Join(dir, "ready"))
		close(stop)
	}()
	res := Run(context.Background(), Spec{
		Name: "install",
		Command: "trap 'touch " + marker + "; exit 143' TERM; touch " + filepath.Join(dir, "ready") +
			"; while :; do sleep 0.05; done",
		Terminate:      stop,
		TerminateGrace: time.Minute,
		Started:        func(pid int) { started <- pid },
	})
	require.ErrorIs(t, res.Err, ErrTerminated)
	require.Contains(t, res.Err.Error(), "hook install terminated")
	require.FileExists(t, marker, "the hook got SIGTERM")
	require.Less(t, res.Duration, 30*time.Second, "a hook that exits on SIGTERM is not held for the grace period")
	requireGroupGone(t, res.PID)
}

func TestRunTerminateKillsAGroupThatIgnoresSIGTERM(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	stop := make(chan struct{})
	go func() {
		waitForFile(t, pidFile)
		close(stop)
	}()
	res := Run(context.Background(), Spec{
		Name:           "install",
		Command:        "trap '' TERM; sleep 30 & echo $! > " + pidFile + ".new; mv " + pidFile + ".new " + pidFile + "; wait",
		Terminate:      stop,
		TerminateGrace: 300 * time.Millisecond,
	})
	require.ErrorIs(t, res.Err, ErrTerminated)
	require.Contains(t, res.Err.Error(), "killed after 300ms")
	require.GreaterOrEqual(t, res.Duration, 300*time.Millisecond)
	requireGone(t, readPID(t, pidFile))
}

func TestRunTerminateKillsWhatTheShellLeftBehind(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	stop := make(chan struct{})
	go func() {
		waitForFile(t, pidFile)
		close(stop)
	}()
	// The shell exits on SIGTERM; its child ignores it and would run on.
	res := Run(context.Background(), Spec{
		Name:           "install",
		Command:        "(trap '' TERM; exec sleep 30) & echo $! > " + pidFile + ".new; mv " + pidFile + ".new " + pidFile + "; wait",
		Terminate:      stop,
		TerminateGrace: 300 * time.Millisecond,
	})
	require.ErrorIs(t, res.Err, ErrTerminated)
	requireGone(t, readPID(t, pidFile))
}

func TestRunNotStartedWhenTerminated(t *testing.T) {
	stop := make(chan struct{})
	close(stop)
	called := false
	res := Run(context.Background(), Spec{Name: "install", Command: "true", Terminate: stop, Started: func(int) { called = true }})
	require.ErrorIs(t, res.Err, ErrTerminated)
	require.Contains(t, res.Err.Error(), "not started")
	require.False(t, called)
	require.Zero(t, res.PID)
}

func TestRunShortOutputIsNotMarked(t *testing.T) {
	res := Run(context.Background(), Spec{Name: "install", Command: "echo out; echo err >&2"})
	require.NoError(t, res.Err)
	require.Equal(t, "out\nerr\n", res.Output)
	require.False(t, res.Truncated)
	require.Empty(t, res.Stdout)
}

func TestRunCaptureStdout(t *testing.T) {
	res := Run(context.Background(), Spec{Name: "version", Command: "echo warning >&2; echo 2.0.0", CaptureStdout: true})
	require.NoError(t, res.Err)
	require.Equal(t, "2.0.0\n", res.Stdout)
	require.Contains(t, res.Output, "warning")
}

func TestRunDoesNotWaitForADetachedDaemon(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "daemon.pid")
	// The daemon inherits the output pipe and outlives the hook.
	res := Run(context.Background(), Spec{
		Name:    "restart",
		Command: "sleep 30 & echo $! > " + pidFile + "; echo restarted",
		Timeout: time.Minute,
	})
	pid := readPID(t, pidFile)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	require.NoError(t, res.Err)
	require.Equal(t, 0, res.ExitCode)
	require.Contains(t, res.Output, "restarted")
}

func TestEnvReachesTheHook(t *testing.T) {
	t.Setenv("BATON_TEST_INHERITED", "from-agent")
	vars := StepEnv{
		NodeID: "n1", TxnID: "txn-7", Attempt: 3, TargetVersion: "2.0.0", FromVersion: "1.0.0",
		ArtifactURL: "https://example.test/app.tgz", ArtifactSHA256: strings.Repeat("ab", 32),
		ArtifactPath: "/var/lib/baton/artifacts/x", ProtocolVersion: 4,
	}
	res := Run(context.Background(), Spec{Name: "install", Command: "env", Env: Env(vars)})
	require.NoError(t, res.Err)
	for _, want := range []string{
		"BATON_NODE_ID=n1", "BATON_TXN_ID=txn-7", "BATON_ATTEMPT=3",
		"BATON_TARGET_VERSION=2.0.0", "BATON_FROM_VERSION=1.0.0",
		"BATON_ARTIFACT_URL=https://example.test/app.tgz",
		"BATON_ARTIFACT_SHA256=" + vars.ArtifactSHA256,
		"BATON_ARTIFACT_PATH=/var/lib/baton/artifacts/x", "BATON_PROTOCOL_VERSION=4",
		"BATON_TEST_INHERITED=from-agent",
	} {
		require.Contains(t, strings.Split(res.Output, "\n"), want)
	}
}

func TestEnvOverridesInherited(t *testing.T) {
	t.Setenv("BATON_NODE_ID", "stale")
	res := Run(context.Background(), Spec{Name: "version", Command: "echo $BATON_NODE_ID", Env: Env(StepEnv{NodeID: "n2"})})
	require.NoError(t, res.Err)
	require.Equal(t, "n2\n", res.Output)
}

func TestExcerpt(t *testing.T) {
	require.Equal(t, "", excerpt(""))
	require.Equal(t, "a | b", excerpt("a\nb\n\n  \n"))
	require.Equal(t, "only", excerpt("  only  "))
	require.Equal(t, "c | d | e | f | g", excerpt("a\nb\nc\nd\r\ne\nf\ng\n"))
	long := excerpt(strings.Repeat("é", 2000))
	require.LessOrEqual(t, len(long), ErrorExcerptBytes)
	require.True(t, strings.HasPrefix(long, "…é"), "cut at a character boundary")
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	waitForFile(t, path)
	var pid int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	return pid
}

func waitForFile(t *testing.T, path string) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, err := os.Stat(path)
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "waiting for %s", path)
}

// requireGone waits until pid has exited. A zombie counts as gone: the test
// binary's container may have no init that reaps orphans.
func requireGone(t *testing.T, pid int) {
	t.Helper()
	require.Eventually(t, func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
		}
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		return len(fields) > 0 && fields[0] == "Z"
	}, 10*time.Second, 20*time.Millisecond, "process %d still running", pid)
}

// requireGroupGone waits until no process is left in process group pgid
// but zombies.
func requireGroupGone(t *testing.T, pgid int) {
	t.Helper()
	require.Eventually(t, func() bool { return !groupAlive(pgid) }, 10*time.Second, 20*time.Millisecond,
		"process group %d still has live members", pgid)
}
