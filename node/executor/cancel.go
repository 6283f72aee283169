package executor

import (
	"errors"
	"fmt"

	"github.com/baton-upgrade/baton/node/hooks"
	"github.com/baton-upgrade/baton/node/journal"
)

// errCancelled stops an attempt's sequence once it is cancelled; execute
// turns it into the attempt's cancelled outcome.
var errCancelled = errors.New("cancelled")

// Cancel stops the attempt (txnID, attemptNo), because the leader gave up on
// it (its deadline passed, its transaction was aborted): the cancel is
// journaled first, then the hook running now, if any, gets SIGTERM with its
// whole process group, and SIGKILL after Options.CancelGrace; no further
// hook of the attempt starts. The attempt then ends failed with the error
// "cancelled: reason" (naming the hook it stopped, if any), journaled and
// reported through OnFinish like any other end. Cancel does not wait for
// that: it returns the attempt's status at once, still api.StepRunning
// while its hook is being stopped.
//
// An attempt already finished is returned as it is, and a repeated cancel
// changes nothing. An attempt whose hooks had all ended before the cancel
// came keeps the outcome they decided. A cancelled attempt that a restart
// cut short is never continued: Resume stops what the previous process left
// running and finishes it as cancelled. An install (or rollback) the cancel
// cut is never run again for the attempt (I2). Cancel fails with
// ErrNotFound for an attempt this node never began and with ErrClosed after
// Close.
func (e *Executor) Cancel(txnID string, attemptNo uint64, reason string) (Status, error) {
	key := journal.Key{TxnID: txnID, Attempt: attemptNo}
	if reason == "" {
		reason = "no reason given"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return Status{}, fmt.Errorf("cancel step %s: %w", key, ErrClosed)
	}
	// Journaled under e.mu: execute journals an attempt's end under it too,
	// so the cancel either comes before the end and decides it, or finds
	// the attempt finished.
	rec, err := e.opts.Journal.RequestCancel(key, reason)
	if errors.Is(err, journal.ErrNotFound) {
		return Status{}, fmt.Errorf("cancel step %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return Status{}, fmt.Errorf("cancel step %s: %w", key, err)
	}
	a, live := e.live[key]
	if !live {
		return statusOf(rec), nil
	}
	if a.cancelReason == "" {
		a.cancelReason = rec.CancelReason
		close(a.stop)
		e.log.Info("step cancelled; stopping it", "txn", txnID, "attempt", attemptNo, "hook", a.hook, "reason", a.cancelReason)
	}
	return a.status(), nil
}

// stopped reports whether a was cancelled.
func (a *attempt) stopped() bool {
	select {
	case <-a.stop:
		return true
	default:
		return false
	}
}

// cancelled returns the outcome of a cancelled attempt; e.mu must be held.
func (a *attempt) cancelled() outcome {
	msg := "cancelled: " + a.cancelReason
	switch a.cut {
	case "":
	case HookInstall, HookRollback:
		msg += fmt.Sprintf("; %s was stopped while it ran, so the node may be partly installed", a.cut)
	default:
		msg += fmt.Sprintf("; %s was stopped while it ran", a.cut)
	}
	return failed(errors.New(msg))
}

// stopLeftovers stops the hooks a previous agent process left running for a
// cancelled attempt: each hook the journal shows begun and not ended whose
// process still runs gets SIGTERM with its group, then SIGKILL after the
// grace period, and its end is journaled. The hook that ran last, if it
// was stopped or cut short, is the one the cancel stopped.
func (e *Executor) stopLeftovers(a *attempt, rec journal.Record) {
	key := a.step.Key()
	var last journal.HookRun
	for _, h := range rec.Hooks {
		if h.Began.After(last.Began) || last.Name == "" {
			last = h
		}
		if h.HasEnded() {
			continue
		}
		out := journal.Outcome{ExitCode: -1, Interrupted: true,
			Error: fmt.Sprintf("agent restarted while hook %s ran (pid %d); its exit status is unknown", h.Name, h.PID)}
		if processAlive(h.PID, h.Began) {
			e.log.Warn("stopping a hook of a cancelled step left running by the previous agent process",
				"txn", key.TxnID, "attempt", key.Attempt, "hook", h.Name, "pid", h.PID)
			how := "exited on SIGTERM"
			if hooks.TerminateGroup(h.PID, e.opts.CancelGrace) {
				how = fmt.Sprintf("killed after %s", e.opts.CancelGrace)
			}
			out = journal.Outcome{ExitCode: -1,
				Error: fmt.Sprintf("agent restarted while hook %s ran (pid %d); stopped by the cancel: %s", h.Name, h.PID, how)}
		}
		if err := e.opts.Journal.HookEnd(key, h.Name, out); err != nil {
			e.log.Warn("journal hook end", "txn", key.TxnID, "attempt", key.Attempt, "hook", h.Name, "error", err)
		}
	}
	if last.Name != "" && (!last.HasEnded() || last.Interrupted) {
		e.mu.Lock()
		a.cut = last.Name
		e.mu.Unlock()
	}
}
