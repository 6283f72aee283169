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
	// ErrTerminated is wrapped by Result.Err when Spec.Terminate stopped
	// the hook, or kept it from starting.
	ErrTerminated = errors.New("terminated")
)

// DefaultTerminateGrace is how long a hook stopped through Spec.Terminate
// has between SIGTERM and SIGKILL when Spec.TerminateGrace is zero.
const DefaultTerminateGrace = 10 * time.Second

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
	// Standard output and error are then read through two pipes, so in
	// Output a line of one may come before a line of the other written
	// earlier; otherwise they share one pipe and keep their order.
	CaptureStdout bool
	// Terminate, when closed, stops the hook: its whole process group gets
	// SIGTERM, and SIGKILL once TerminateGrace has passed if anything of
	// it still runs. A hook not yet started when it is closed never
	// starts. Nil never stops the hook.
	Terminate <-chan struct{}
	// TerminateGrace is the time between SIGTERM and SIGKILL
	// (DefaultTerminateGrace when zero).
	TerminateGrace time.Duration
}

// Result is the outcome of one hook run.
type Result struct {
	// ExitCode is the exit status, or -1 when the hook did not start or was
	// killed by a signal.
	ExitCode int
	// Output is the tail (TailSize bytes) of stdout and stderr interleaved.
	Output string
	// Truncated says that earlier output was dropped from Output.
	Truncated bool
	// Stdout is the tail of standard output alone when Spec.CaptureStdout.
	Stdout string
	// Err is nil when the hook exited 0. Otherwise it says why, naming the
	// hook and quoting the last lines of its output (see excerpt): "hook
	// install exited 3: unpacking | disk full", "hook install timed out
	// after 5s" (wraps ErrTimedOut), "hook install terminated (SIGTERM)"
	// (wraps ErrTerminated), or, when ctx ended, an error wrapping
	// ctx.Err().
	Err error
	// Duration is the wall time from start to exit.
	Duration time.Duration
	// PID is the hook's process (and process group) id; 0 if not started.
	PID int
}

// Run runs spec to completion and reports how it went; failures are in
// Result.Err, never a panic. When ctx ends or spec.Timeout passes, the hook's
// whole process group is killed with SIGKILL and Run returns once the shell
// has been reaped. When spec.Terminate is closed, Run returns once nothing
// of the group runs any more, at most TerminateGrace (plus the reaping)
// after SIGTERM.
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
	select {
	case <-spec.Terminate:
		res.Err = fmt.Errorf("hook %s not started: %w", spec.Name, ErrTerminated)
		return res
	default:
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

	waitErr, stopped := wait(ctx, cmd, timeout, spec)
	res.Output, res.Truncated = output.Tail()
	if stdout != nil {
		res.Stdout, _ = stdout.Tail()
	}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	res.Err = describeExit(spec.Name, cmd.ProcessState, waitErr, stopped, res.Output)
	return res
}

// wait waits for cmd to exit, killing its process group when ctx ends or
// the timeout fires, and terminating it when spec.Terminate is closed.
// stopped is non-nil when Run stopped the hook, and says why.
func wait(ctx context.Context, cmd *exec.Cmd, timeout <-chan time.Time, spec Spec) (waitErr, stopped error) {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err, nil
	case <-timeout:
		stopped = fmt.Errorf("%w after %s", ErrTimedOut, spec.Timeout)
	case <-ctx.Done():
		stopped = fmt.Errorf("stopped: %w", context.Cause(ctx))
	case <-spec.Terminate:
		return terminate(ctx, cmd.Process.Pid, done, spec.TerminateGrace)
	}
	killGroup(cmd.Process.Pid)
	return <-done, stopped
}

// terminate sends SIGTERM to the hook's process group and waits until
// nothing of the group runs; whatever still runs when grace has passed (or
// ctx ends) gets SIGKILL. The group outlives its shell when a child ignores
// SIGTERM, so the shell's exit alone does not end the wait.
func terminate(ctx context.Context, pgid int, done <-chan error, grace time.Duration) (waitErr, stopped error) {
	if grace <= 0 {
		grace = DefaultTerminateGrace
	}
	signalGroup(pgid, syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	stopped = fmt.Errorf("%w (SIGTERM)", ErrTerminated)
	killed := fmt.Errorf("%w (SIGTERM), killed after %s", ErrTerminated, grace)
	exited := false
	tick := time.NewTicker(groupPollInterval)
	defer tick.Stop()
	for {
		if exited && !groupAlive(pgid) {
			return waitErr, stopped
		}
		select {
		case waitErr = <-done:
			exited = true
			done = nil
		case <-tick.C:
		case <-timer.C:
			killGroup(pgid)
			if !exited {
				waitErr = <-done
			}
			return waitErr, killed
		case <-ctx.Done():
			killGroup(pgid)
			if !exited {
				waitErr = <-done
			}
			return waitErr, fmt.Errorf("%w (SIGTERM), then stopped: %w", ErrTerminated, context.Cause(ctx))
		}
	}
}

// killGroup sends SIGKILL to the process group led by pid.
func killGroup(pid int) {
	signalGroup(pid, syscall.SIGKILL)
}

func describeExit(name string, state *os.ProcessState, waitErr, stopped error, output string) error {
	if stopped != nil {
		if quote := excerpt(output); quote != "" {
			return fmt.Errorf("hook %s %w: %s", name, stopped, quote)
		}
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
	if quote := excerpt(output); quote != "" {
		return fmt.Errorf("%s: %s", what, quote)
	}
	return errors.New(what)
}
