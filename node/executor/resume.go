package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/baton-upgrade/baton/node/journal"
)

// orphanPollInterval is how often Resume checks whether a hook left running
// by a previous agent process has exited.
const orphanPollInterval = 100 * time.Millisecond

// pidReuseSlack is how far a process's start time may be from the journaled
// begin of a hook for the process to count as that hook. Further apart, the
// pid was reused by an unrelated process (after a reboot, say).
const pidReuseSlack = 5 * time.Second

// Resume continues every attempt the journal shows unfinished, oldest first
// and one at a time, on a goroutine; call it once when the agent starts,
// before serving Start. Each continues where it stopped (see the package
// doc); each that finishes is reported through OnFinish.
func (e *Executor) Resume() error {
	recs, err := e.opts.Journal.Unfinished()
	if err != nil {
		return fmt.Errorf("resume steps: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return fmt.Errorf("resume steps: %w", ErrClosed)
	}
	type pending struct {
		a   *attempt
		rec journal.Record
	}
	var todo []pending
	for _, rec := range recs {
		if _, ok := e.live[rec.Key()]; ok {
			continue
		}
		a := newAttempt(Step(rec.Step))
		if rec.CancelReason != "" {
			// Cancelled before the restart: it runs nothing more.
			a.cancelReason = rec.CancelReason
			close(a.stop)
		}
		e.live[rec.Key()] = a
		todo = append(todo, pending{a: a, rec: rec})
		e.log.Info("resuming step", "txn", rec.Step.TxnID, "attempt", rec.Step.Attempt)
	}
	if len(todo) == 0 {
		return nil
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for _, p := range todo {
			// Once closing, each execute stops before running anything.
			e.execute(p.a, p.rec)
		}
	}()
	return nil
}

// resumeOnce handles an at-most-once hook (install, rollback) that the
// journal shows already began in this attempt. It never starts the hook
// again. If the hook's end was journaled, a known failure fails the step and
// an interrupted run lets the sequence go on. If its end was never
// journaled (the agent died while it ran), resumeOnce waits for the process
// to exit if it still runs, journals the run as interrupted, and lets the
// sequence go on: the version hook then decides. A cancel during the wait
// stops the process (SIGTERM, then SIGKILL after the grace period) and the
// attempt.
func (e *Executor) resumeOnce(ctx context.Context, a *attempt, name string, prev journal.HookRun) error {
	key := a.step.Key()
	if prev.HasEnded() {
		if prev.Interrupted {
			return nil
		}
		return errors.New(prev.Error)
	}
	e.log.Warn("hook began before the agent restarted; it is not run again",
		"txn", key.TxnID, "attempt", key.Attempt, "hook", name, "pid", prev.PID)
	limit := e.Hooks().EffectiveTimeout()
	e.setHook(a, name)
	waitErr := awaitExit(ctx, a.stop, prev.PID, prev.Began, limit)
	e.setHook(a, "")
	if errors.Is(waitErr, errInterrupted) {
		return waitErr
	}
	if errors.Is(waitErr, errCancelled) {
		// The cancel came while the process ran: stopLeftovers stops it
		// and journals how it ended.
		e.stopLeftovers(a, journal.Record{Hooks: []journal.HookRun{prev}})
		return errCancelled
	}
	out := journal.Outcome{ExitCode: -1, Interrupted: true,
		Error: fmt.Sprintf("agent restarted while hook %s ran (pid %d); its exit status is unknown", name, prev.PID)}
	if waitErr != nil {
		out = journal.Outcome{ExitCode: -1, Error: fmt.Sprintf("hook %s %v", name, waitErr)}
	}
	if err := e.opts.Journal.HookEnd(key, name, out); err != nil {
		e.log.Warn("journal hook end", "txn", key.TxnID, "attempt", key.Attempt, "hook", name, "error", err)
	}
	if waitErr != nil {
		return fmt.Errorf("hook %s %w", name, waitErr)
	}
	return nil
}

// awaitExit waits until process pid, started as a hook at began, has exited.
// A hook still running once its timeout has passed since began is killed
// with its process group and reported as an error, as it would have been
// had the agent not restarted. It returns errCancelled, leaving the process
// alone, when stop is closed first.
func awaitExit(ctx context.Context, stop <-chan struct{}, pid int, began time.Time, limit time.Duration) error {
	if pid <= 0 {
		// The agent died before journaling the pid: the hook may not even
		// have started, and there is nothing to wait for.
		return nil
	}
	ticker := time.NewTicker(orphanPollInterval)
	defer ticker.Stop()
	for processAlive(pid, began) {
		if time.Since(began) > limit {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
			return fmt.Errorf("(pid %d) still ran past its %s timeout when the agent came back; killed it", pid, limit)
		}
		select {
		case <-ctx.Done():
			return errInterrupted
		case <-stop:
			return errCancelled
		case <-ticker.C:
		}
	}
	return nil
}

// processAlive reports whether pid is a live process that started near
// began. A zombie has exited. A process this agent may not signal (EPERM),
// or one that started at another time, is not the hook but a reuse of its
// pid. Without /proc it trusts kill(pid, 0).
func processAlive(pid int, began time.Time) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	state, started, ok := procStat(pid)
	if !ok {
		return true
	}
	if state == "Z" || state == "X" {
		return false
	}
	if !started.IsZero() && absDuration(started.Sub(began)) > pidReuseSlack {
		return false
	}
	return true
}

// procStat reads a process's state and start time from Linux's /proc.
// started is zero when the boot time cannot be read.
func procStat(pid int) (state string, started time.Time, ok bool) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", time.Time{}, false
	}
	// The command name (field 2) may contain spaces and parentheses; the
	// fields after its closing parenthesis start at field 3 (state).
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 20 {
		return "", time.Time{}, false
	}
	state = fields[0]
	ticks, err := strconv.ParseInt(fields[19], 10, 64) // field 22: starttime
	boot, bootOK := bootTime()
	if err != nil || !bootOK {
		return state, time.Time{}, true
	}
	// /proc reports times in USER_HZ, which is 100 on Linux.
	const userHZ = 100
	return state, boot.Add(time.Duration(ticks) * time.Second / userHZ), true
}

func bootTime() (time.Time, bool) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "btime "); ok {
			sec, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			return time.Unix(sec, 0), true
		}
	}
	return time.Time{}, false
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
