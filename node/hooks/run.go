package hooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Shell runs every hook command line, as `Shell -c COMMAND`.
const Shell = "/bin/sh"

// pipeDrainDelay bounds how long Run waits for output after the hook's shell
// has exited: a background child (a daemon a restart hook launched) may keep
// the output pipe open forever.
const pipeDrainDelay = 2 * time.Second

var (
	// ErrTimedOut is wrapped by Result.Err when the hook ran past its
	// timeout and was killed.
	ErrTimedOut = errors.New("timed out")
	// ErrEmptyCommand is wrapped by Result.Err when Spec.Command is blank.
	ErrEmptyCommand = errors.New("empty command")
)

// Spec describes one hook run.
type Spec struct {
	// Name names the hook in errors ("install", "health").
	Name string
	// Command is the shell command line, run with Shell -c.
	Command string
	// Env is added to the agent's own environment; later entries win.
	Env []string
	// Dir is the working directory; "" means the agent's.
	Dir string
	// Timeout bounds the run; zero or negative means only ctx bounds it.
	Timeout time.Duration
	// Started, when set, is called with the hook's pid right after the
	// process starts and before Run waits for it. It runs on Run's
	// goroutine; the hook's timeout is already counting.
	Started func(pid int)
	// CaptureStdout keeps standard output alone (bounded like Output) in
	// Result.Stdout as well, for hooks whose output is a value (version).
	CaptureStdout bool
}

// Result is the outcome of one hook run.
type Result struct {
	// ExitCode is the exit status, or -1 when the hook did not start or was
	// killed by a signal.
	ExitCode int
	// Output is the tail (TailSize bytes) of stdout and stderr interleaved,
	// starting with "…(truncated)" when earlier output was dropped.
	Output string
	// Stdout is the tail of standard output alone when Spec.CaptureStdout.
	Stdout string
	// Err is nil when the hook exited 0. Otherwise it says why, naming the
	// hook: "hook install exited 3: <last line of output>", "hook install
	// timed out after 5s" (wraps ErrTimedOut), or, when ctx ended, an error
	// wrapping ctx.Err().
	Err error
	// Duration is the wall time from start to exit.
	Duration time.Duration
	// PID is the hook's process (and process group) id; 0 if not started.
	PID int
}

// Run runs spec to completion and reports how it went; failures are in
// Result.Err, never a panic. When ctx ends or spec.Timeout passes, the hook's
// whole process group is killed with SIGKILL and Run returns once the shell
// has been reaped.
func Run(ctx context.Context, spec Spec) Result {
	begin := time.Now()
	res := run(ctx, spec)
	res.Duration = time.Since(begin)
	return res
}

func run(ctx context.Context, spec Spec) Result {
	res := Result{ExitCode: -1}
	if strings.TrimSpace(spec.Command) == "" {
		res.Err = fmt.Errorf("hook %s: %w", spec.Name, ErrEmptyCommand)
		return res
	}
	if err := ctx.Err(); err != nil {
		res.Err = fmt.Errorf("hook %s not started: %w", spec.Name, err)
		return res
	}

	output := newTailBuffer(TailSize)
	var stdout *tailBuffer
	cmd := exec.Command(Shell, "-c", spec.Command)
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.Dir = spec.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = pipeDrainDelay
	cmd.Stdout, cmd.Stderr = output, output
	if spec.CaptureStdout {
		stdout = newTailBuffer(TailSize)
		cmd.Stdout = io.MultiWriter(output, stdout)
	}

	var timeout <-chan time.Time
	if spec.Timeout > 0 {
		timer := time.NewTimer(spec.Timeout)
		defer timer.Stop()
		timeout = timer.C
	}
	if err := cmd.Start(); err != nil {
		res.Err = fmt.Errorf("hook %s: start %s: %w", spec.Name, Shell, err)
		return res
	}
	res.PID = cmd.Process.Pid
	if spec.Started != nil {
		spec.Started(res.PID)
	}

	waitErr, stopped := wait(ctx, cmd, timeout, spec.Timeout)
	res.Output = output.String()
	if stdout != nil {
		res.Stdout = stdout.String()
	}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	res.Err = describeExit(spec.Name, cmd.ProcessState, waitErr, stopped, res.Output)
	return res
}

// wait waits for cmd to exit, killing its process group when ctx ends or
// timeout fires. stopped is non-nil when Run killed the hook, and says why.
func wait(ctx context.Context, cmd *exec.Cmd, timeout <-chan time.Time, limit time.Duration) (waitErr, stopped error) {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err, nil
	case <-timeout:
		stopped = fmt.Errorf("%w after %s", ErrTimedOut, limit)
	case <-ctx.Done():
		stopped = fmt.Errorf("stopped: %w", context.Cause(ctx))
	}
	killGroup(cmd.Process.Pid)
	return <-done, stopped
}

// killGroup sends SIGKILL to the process group led by pid. ESRCH (already
// gone) is expected and ignored; nothing else can usefully be done about
// other errors here.
func killGroup(pid int) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

func describeExit(name string, state *os.ProcessState, waitErr, stopped error, output string) error {
	if stopped != nil {
		return fmt.Errorf("hook %s %w", name, stopped)
	}
	if state == nil {
		return fmt.Errorf("hook %s: wait: %w", name, waitErr)
	}
	if state.Success() {
		// exec.ErrWaitDelay here only means a background child kept the
		// output pipe open after the hook exited 0: not a failure.
		return nil
	}
	var what string
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		what = fmt.Sprintf("hook %s killed by signal %s", name, ws.Signal())
	} else {
		what = fmt.Sprintf("hook %s exited %d", name, state.ExitCode())
	}
	if line := lastLine(output); line != "" {
		return fmt.Errorf("%s: %s", what, line)
	}
	return errors.New(what)
}
