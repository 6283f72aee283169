package executor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/node/artifact"
	"github.com/baton-upgrade/baton/node/hooks"
	"github.com/baton-upgrade/baton/node/journal"
	"github.com/baton-upgrade/baton/rpc/api"
)

// Hook names, as journaled and shown in Status.Hook.
const (
	HookDrain    = "drain"
	HookInstall  = "install"
	HookRestart  = "restart"
	HookHealth   = "health"
	HookVersion  = "version"
	HookRollback = "rollback"
)

// errInterrupted means the executor is closing: the attempt stops where it
// is, stays unfinished in the journal, and Resume continues it.
var errInterrupted = errors.New("interrupted: executor closing")

// phase is one hook of a step's sequence, before the final version check.
type phase struct {
	name    string
	command string
	// atMostOnce: never started twice in one attempt (I2). A run whose end
	// is not journaled is waited for, not repeated.
	atMostOnce bool
	// poll: run every HealthInterval until it passes or the hook timeout
	// ends.
	poll bool
}

// outcome is how an attempt ended.
type outcome struct {
	state   api.StepState
	version string
	err     error
}

// execute runs a (possibly resumed) attempt to its end, journals the end and
// reports it through OnFinish. rec is the attempt's journal record when the
// run began: it says which hooks already ran.
func (e *Executor) execute(a *attempt, rec journal.Record) {
	out := e.runAttempt(e.ctx, a, rec)
	key := a.step.Key()
	if errors.Is(out.err, errInterrupted) {
		// A cancel already journaled is not lost: Resume finishes the
		// attempt as cancelled.
		e.forget(key)
		e.log.Info("step interrupted; it resumes on the next start", "txn", key.TxnID, "attempt", key.Attempt)
		return
	}
	// The end is journaled under e.mu, so that a Cancel either comes
	// before it and decides it, or finds the attempt finished.
	e.mu.Lock()
	if a.cancelReason != "" && out.state != api.StepDone {
		out = a.cancelled()
	}
	st := Status{TxnID: key.TxnID, Attempt: key.Attempt, State: out.state, Version: out.version, Output: a.output}
	if out.err != nil {
		st.Error = out.err.Error()
	}
	err := e.opts.Journal.Finish(key, out.state, out.version, st.Error)
	delete(e.live, key)
	e.mu.Unlock()
	if err != nil {
		// Not reported: an outcome that is not durable could be
		// contradicted by Resume after a restart.
		e.log.Error("journal step outcome; not reporting it", "txn", key.TxnID, "attempt", key.Attempt, "error", err)
		return
	}
	e.log.Info("step finished", "txn", key.TxnID, "attempt", key.Attempt,
		"state", st.State, "version", st.Version, "error", st.Error)
	if e.opts.OnFinish != nil {
		e.opts.OnFinish(a.step, st)
	}
}

func (e *Executor) forget(key journal.Key) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.live, key)
}

// runAttempt runs the step's sequence, skipping what rec shows already done.
// A cancelled attempt runs nothing more: what a previous agent process left
// running of it is stopped.
func (e *Executor) runAttempt(ctx context.Context, a *attempt, rec journal.Record) outcome {
	step := a.step
	if a.stopped() {
		e.stopLeftovers(a, rec)
		return failed(errCancelled)
	}
	if err := e.canRun(step); err != nil {
		return failed(err)
	}
	env := hooks.StepEnv{
		NodeID:          e.opts.NodeID,
		TxnID:           step.TxnID,
		Attempt:         step.Attempt,
		TargetVersion:   step.TargetVersion,
		FromVersion:     step.FromVersion,
		ArtifactURL:     step.ArtifactURL,
		ArtifactSHA256:  step.ArtifactSHA256,
		ProtocolVersion: step.ProtocolVersion,
	}
	if !step.Rollback && (step.ArtifactURL != "" || len(step.ArtifactSources) > 0) {
		path, err := e.artifactFor(ctx, a, rec)
		if err != nil {
			return failed(err)
		}
		env.ArtifactPath = path
	}
	for _, p := range resumePoint(e.phases(step), rec) {
		if err := e.runPhase(ctx, a, rec, p, e.env(env)); err != nil { // service.go
			return failed(err)
		}
	}
	return e.checkVersion(ctx, a, e.env(env))
}

func failed(err error) outcome {
	return outcome{state: api.StepFailed, err: err}
}

// canRun refuses, before anything runs, a step this node's config cannot
// carry out.
func (e *Executor) canRun(step Step) error {
	h := e.Hooks()
	if !step.Rollback {
		return h.CanUpgrade()
	}
	var missing []string
	if strings.TrimSpace(h.Rollback) == "" {
		missing = append(missing, "upgrade.rollback")
	}
	if strings.TrimSpace(h.Version) == "" && !h.SelfRestart() {
		missing = append(missing, "upgrade.version")
	}
	if len(missing) > 0 {
		return fmt.Errorf("cannot roll back: %s not set in the agent config", strings.Join(missing, " and "))
	}
	return nil
}

// artifactFor fetches and verifies the step's artifact, or, when install
// already began in this attempt, only names where it was fetched to: the
// artifact is not needed again and must not hold the step up. A cancel
// stops the fetch.
func (e *Executor) artifactFor(ctx context.Context, a *attempt, rec journal.Record) (string, error) {
	step := a.step
	if e.opts.ArtifactDir == "" {
		return "", errors.New("step names an artifact but the agent has no artifact directory")
	}
	if _, began := rec.Hook(HookInstall); began {
		return artifact.Path(e.opts.ArtifactDir, step.ArtifactSHA256), nil
	}
	fetchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-a.stop:
			cancel()
		case <-fetchCtx.Done():
		}
	}()
	var path string
	var err error
	switch {
	case step.ArtifactURL == "" && e.opts.FetchStored == nil:
		return "", errors.New("step names an artifact held by the cluster but the agent cannot fetch one")
	case step.ArtifactURL == "":
		path, err = e.opts.FetchStored(fetchCtx, step.ArtifactSHA256, step.ArtifactSources, e.opts.ArtifactDir)
	default:
		path, err = artifact.Fetch(fetchCtx, step.ArtifactURL, step.ArtifactSHA256, e.opts.ArtifactDir,
			artifact.Policy{AllowHTTP: e.opts.AllowHTTPArtifacts})
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return "", errInterrupted
	case err != nil && a.stopped():
		return "", errCancelled
	}
	return path, err
}

// phases is the step's sequence before the version check. A rollback runs
// the same phases as an upgrade, with rollback, at most once, in place of
// install: the versions' roles are swapped by the leader (the step's
// target is the version rolled back to).
func (e *Executor) phases(step Step) []phase {
	h := e.Hooks()
	change := phase{name: HookInstall, command: h.Install, atMostOnce: true}
	if step.Rollback {
		change = phase{name: HookRollback, command: h.Rollback, atMostOnce: true}
	}
	return []phase{
		{name: HookDrain, command: h.Drain},
		change,
		{name: HookRestart, command: h.Restart},
		{name: HookHealth, command: h.Health, poll: true},
	}
}

// resumePoint drops the phases before the last one the journal shows begun:
// they ran to success, or the later one would not have begun.
func resumePoint(phases []phase, rec journal.Record) []phase {
	from := 0
	for i, p := range phases {
		if _, began := rec.Hook(p.name); began {
			from = i
		}
	}
	return phases[from:]
}

// runPhase runs one hook of the sequence unless the journal shows it
// already ran: a hook that succeeded is skipped; an at-most-once hook that
// began is never started again (see resumeOnce); any other hook is run,
// again if it was cut short.
func (e *Executor) runPhase(ctx context.Context, a *attempt, rec journal.Record, p phase, env []string) error {
	if strings.TrimSpace(p.command) == "" {
		return nil
	}
	if a.stopped() {
		return errCancelled
	}
	if p.name == HookRestart && e.Hooks().SelfRestart() {
		return e.restartSelf(a, rec)
	}
	if prev, began := rec.Hook(p.name); began {
		if prev.Succeeded() {
			return nil
		}
		if p.atMostOnce {
			return e.resumeOnce(ctx, a, p.name, prev)
		}
	}
	if p.poll {
		return e.pollHealth(ctx, a, p.command, env)
	}
	_, err := e.runHook(ctx, a, p.name, p.command, env, e.Hooks().EffectiveTimeout(), false, p.atMostOnce)
	return err
}

// hookJournal is where a hook's begin, pid and end are written: the journal
// itself (fsync'd at once) for an at-most-once hook, its deferred writer
// (durable with the next fsync'd write) for one that may run twice.
type hookJournal interface {
	HookBegin(key journal.Key, hook string) error
	HookStarted(key journal.Key, hook string, pid int) error
	HookEnd(key journal.Key, hook string, out journal.Outcome) error
}

// hookJournal returns where the records of a hook go; see the package doc.
func (e *Executor) hookJournal(atMostOnce bool) hookJournal {
	if atMostOnce {
		return e.opts.Journal
	}
	return e.opts.Journal.Deferred()
}

// runHook journals the hook's begin, runs it, journals its end; durably
// when atMostOnce. If the begin cannot be journaled the hook does not run:
// without that record a restart could run it twice.
func (e *Executor) runHook(ctx context.Context, a *attempt, name, command string, env []string, timeout time.Duration, captureStdout, atMostOnce bool) (hooks.Result, error) {
	jn := e.hookJournal(atMostOnce)
	key := a.step.Key()
	if ctx.Err() != nil {
		// Closing: do not journal a begin for a hook that will not start,
		// or an install would count as begun without having run.
		return hooks.Result{}, errInterrupted
	}
	if a.stopped() {
		return hooks.Result{}, errCancelled
	}
	if err := jn.HookBegin(key, name); err != nil {
		return hooks.Result{}, fmt.Errorf("hook %s not run: %w", name, err)
	}
	e.setHook(a, name)
	res := hooks.Run(ctx, hooks.Spec{
		Name:           name,
		Command:        command,
		Env:            env,
		Timeout:        timeout,
		CaptureStdout:  captureStdout,
		Terminate:      a.stop,
		TerminateGrace: e.opts.CancelGrace,
		Started: func(pid int) {
			if err := jn.HookStarted(key, name, pid); err != nil {
				e.log.Warn("journal hook pid", "txn", key.TxnID, "attempt", key.Attempt, "hook", name, "pid", pid, "error", err)
			}
		},
	})
	interrupted := ctx.Err() != nil
	e.hookEnded(a, res.Output, res.PID != 0 && errors.Is(res.Err, hooks.ErrTerminated))
	out := journal.Outcome{ExitCode: res.ExitCode, Output: res.Output, Truncated: res.Truncated, Interrupted: interrupted}
	if res.Err != nil {
		out.Error = res.Err.Error()
	}
	if err := jn.HookEnd(key, name, out); err != nil {
		// The hook ran; a restart will treat it as interrupted, which is
		// safe for install (never rerun) and harmless for the others.
		e.log.Warn("journal hook end", "txn", key.TxnID, "attempt", key.Attempt, "hook", name, "error", err)
	}
	e.log.Debug("hook ended", "txn", key.TxnID, "attempt", key.Attempt, "hook", name,
		"pid", res.PID, "exit", res.ExitCode, "duration", res.Duration, "error", res.Err)
	if interrupted {
		return res, errInterrupted
	}
	return res, res.Err
}

// pollHealth runs the health hook every HealthInterval until it passes, or
// fails the step once the hook timeout has passed since the first poll.
func (e *Executor) pollHealth(ctx context.Context, a *attempt, command string, env []string) error {
	limit := e.Hooks().EffectiveTimeout()
	deadline := time.Now().Add(limit)
	var why error // the last poll's failure; a poll cut by the deadline says less
	for {
		_, err := e.runHook(ctx, a, HookHealth, command, env, time.Until(deadline), false, false)
		if err == nil || errors.Is(err, errInterrupted) {
			return err
		}
		if why == nil || !errors.Is(err, hooks.ErrTimedOut) {
			why = err
		}
		if time.Until(deadline) <= 0 {
			return fmt.Errorf("health hook did not pass within %s: %w", limit, why)
		}
		wait := time.NewTimer(min(e.opts.HealthInterval, time.Until(deadline)))
		select {
		case <-ctx.Done():
			wait.Stop()
			return errInterrupted
		case <-a.stop:
			wait.Stop()
			return errCancelled
		case <-wait.C:
		}
	}
}

// restartSelf journals the restart and re-executes the agent. In the new
// process the journal shows the restart begun: that process is the restart,
// so it is journaled as done and the sequence goes on.
func (e *Executor) restartSelf(a *attempt, rec journal.Record) error {
	key := a.step.Key()
	if _, began := rec.Hook(HookRestart); began {
		return e.opts.Journal.HookEnd(key, HookRestart, journal.Outcome{})
	}
	if e.opts.SelfRestart == nil {
		return errors.New(`restart "self" is not available in this agent`)
	}
	if err := e.opts.Journal.HookBegin(key, HookRestart); err != nil {
		return fmt.Errorf("restart not run: %w", err)
	}
	e.setHook(a, HookRestart)
	e.log.Info("re-executing the agent to finish the step", "txn", key.TxnID, "attempt", key.Attempt)
	if err := e.opts.SelfRestart(); err != nil {
		_ = e.opts.Journal.HookEnd(key, HookRestart, journal.Outcome{ExitCode: -1, Error: err.Error()})
		return fmt.Errorf("restart self: %w", err)
	}
	return nil
}

// checkVersion runs the version hook: the step is done only when it prints
// the target version. Without a version hook (a self-upgrading agent) the
// version is this build's own.
func (e *Executor) checkVersion(ctx context.Context, a *attempt, env []string) outcome {
	var got string
	if strings.TrimSpace(e.Hooks().Version) == "" {
		got = e.opts.BuildVersion
	} else {
		if a.stopped() {
			return failed(errCancelled)
		}
		res, err := e.runHook(ctx, a, HookVersion, e.Hooks().Version, env, e.Hooks().EffectiveTimeout(), true, false)
		if err != nil {
			if errors.Is(err, errInterrupted) {
				return outcome{err: err}
			}
			return failed(err)
		}
		got = strings.TrimSpace(res.Stdout)
	}
	if got != a.step.TargetVersion {
		return outcome{
			state:   api.StepFailed,
			version: got,
			err:     fmt.Errorf("version hook printed %s, want %s", quoteEmpty(got), a.step.TargetVersion),
		}
	}
	return outcome{state: api.StepDone, version: got}
}

// quoteEmpty makes an empty version visible in an error message.
func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}
