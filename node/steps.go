package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/node/executor"
	"github.com/baton-upgrade/baton/node/hooks"
	"github.com/baton-upgrade/baton/node/journal"
	"github.com/baton-upgrade/baton/rpc"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/hashicorp/raft"
)

// startExecutor opens the step journal and the executor, and resumes the
// attempts a previous run of the agent left unfinished.
func (a *Agent) startExecutor() error {
	j, err := journal.OpenWith(filepath.Join(a.cfg.DataDir, journalDBFile), journal.Options{OnFailure: a.storeFailed})
	if err != nil {
		return fmt.Errorf("open step journal: %w", err)
	}
	a.journal = j
	a.exec = executor.New(executor.Options{
		NodeID: a.cfg.ID, Hooks: a.cfg.Hooks, Journal: j,
		ArtifactDir: filepath.Join(a.cfg.DataDir, "artifacts"), AllowHTTPArtifacts: a.cfg.AllowHTTPArtifacts,
		Logger: a.log, BuildVersion: a.cfg.BuildVersion,
		OnFinish:    a.stepFinished,
		FetchStored: a.FetchStoredArtifact, // artifacts.go
		SelfRestart: a.reexec,
		ServiceEnv:  a.stepServiceEnv, // service.go
	})
	if a.cfg.Hooks.Version != "" {
		if _, err := a.readVersion(a.ctx); err != nil {
			a.log.Warn("version hook failed at start-up; the version stays unknown (or the catalogue's) until it succeeds", "error", err)
		}
	}
	unacked, err := a.exec.Unacked()
	if err != nil {
		return fmt.Errorf("read unacknowledged notices: %w", err)
	}
	for _, st := range unacked {
		a.notices.add(a.noticeOf(st))
	}
	if err := a.exec.Resume(); err != nil {
		return fmt.Errorf("resume steps: %w", err)
	}
	return nil
}

// stepFinished hands a finished attempt's notice to the sender, and keeps
// what its version hook printed as this node's version: a reading as good
// as any.
func (a *Agent) stepFinished(_ executor.Step, st executor.Status) {
	a.notices.add(a.noticeOf(st))
	if st.Version != "" && a.exec.Hooks().Version != "" {
		a.noteVersion(st.Version, nil)
	}
}

func (a *Agent) noticeOf(st executor.Status) api.Notice {
	return api.Notice{TxnID: st.TxnID, Node: a.cfg.ID, Attempt: st.Attempt, State: st.State,
		Version: st.Version, Error: st.Error}
}

// RunStep starts a step on this node, or reports the attempt when it is
// already known. It refuses to start while this node is the Raft leader
// (I4): the leader hands leadership off first. Only a one-voter cluster's
// leader, with the transaction's explicit permission, upgrades in place.
func (a *Agent) RunStep(ctx context.Context, req api.StepRequest) (api.StepStatus, error) {
	if req.Node != a.cfg.ID {
		return api.StepStatus{}, fmt.Errorf("%w: step for %q sent to %q", fsm.ErrInvalid, req.Node, a.cfg.ID)
	}
	if st, ok := a.StepStatus(req.TxnID, req.Attempt); ok {
		return st, nil
	}
	if a.IsLeader() {
		if !req.AllowLeader || a.voterCount() != 1 {
			return api.StepStatus{}, fmt.Errorf("%w: %s is the Raft leader and never upgrades in place; hand leadership off first", fsm.ErrConflict, a.cfg.ID)
		}
	}
	st, err := a.exec.Start(executor.Step{
		TxnID: req.TxnID, Node: req.Node, Attempt: req.Attempt, TargetVersion: req.TargetVersion,
		FromVersion: req.FromVersion, ArtifactURL: req.ArtifactURL, ArtifactSHA256: req.ArtifactSHA256,
		ArtifactSources: req.ArtifactSources, ProtocolVersion: req.ProtocolVersion, Rollback: req.Rollback,
	})
	switch {
	case errors.Is(err, executor.ErrBusy):
		return api.StepStatus{}, fmt.Errorf("%w: %v", fsm.ErrConflict, err)
	case errors.Is(err, executor.ErrInvalidStep):
		return api.StepStatus{}, fmt.Errorf("%w: %v", fsm.ErrInvalid, err)
	case err != nil:
		return api.StepStatus{}, err
	}
	a.log.Info("step started", "txn", req.TxnID, "attempt", req.Attempt, "target", req.TargetVersion, "rollback", req.Rollback)
	return a.stepStatusOf(st), nil
}

func (a *Agent) voterCount() int {
	f := a.parts.raft.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	n := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			n++
		}
	}
	return n
}

// StepStatus reports an attempt this node's journal knows of.
func (a *Agent) StepStatus(txnID string, attempt uint64) (api.StepStatus, bool) {
	st, ok := a.exec.Status(txnID, attempt)
	if !ok {
		return api.StepStatus{}, false
	}
	return a.stepStatusOf(st), true
}

// CancelStep stops the attempt (txnID, attempt) on this node: its running
// hook gets SIGTERM, then SIGKILL after the grace period, no further hook
// starts, and the attempt ends failed with "cancelled: reason", reported
// with a completion notice like any end. It answers at once with the
// attempt's status (still running while its hook is being stopped); an
// attempt already finished is answered as it is. An attempt this node never
// began is an error wrapping fsm.ErrNotFound.
func (a *Agent) CancelStep(_ context.Context, txnID string, attempt uint64, reason string) (api.StepStatus, error) {
	st, err := a.exec.Cancel(txnID, attempt, reason)
	switch {
	case errors.Is(err, executor.ErrNotFound):
		return api.StepStatus{}, fmt.Errorf("%w: this node has no attempt %d of transaction %s", fsm.ErrNotFound, attempt, txnID)
	case err != nil:
		return api.StepStatus{}, err
	}
	return a.stepStatusOf(st), nil
}

// StepLogs returns the hook output of every attempt of txnID this node ran,
// oldest first; none for a transaction it never ran a step of.
func (a *Agent) StepLogs(_ context.Context, txnID string) ([]api.StepLogs, error) {
	attempts, err := a.exec.Logs(txnID)
	if err != nil {
		return nil, err
	}
	out := make([]api.StepLogs, 0, len(attempts))
	for _, at := range attempts {
		l := api.StepLogs{TxnID: at.TxnID, Node: a.cfg.ID, Attempt: at.Attempt, Hooks: make([]api.HookOutput, 0, len(at.Hooks))}
		for _, h := range at.Hooks {
			l.Hooks = append(l.Hooks, api.HookOutput{Hook: h.Hook, Began: h.Began, Ended: h.Ended,
				ExitCode: h.ExitCode, Output: h.Output, Truncated: h.Truncated})
		}
		out = append(out, l)
	}
	return out, nil
}

func (a *Agent) stepStatusOf(st executor.Status) api.StepStatus {
	return api.StepStatus{TxnID: st.TxnID, Node: a.cfg.ID, Attempt: st.Attempt, State: st.State,
		Hook: st.Hook, Version: st.Version, Error: st.Error}
}

// Diagnostic answers the leader's probe: whether this node serves (its
// health hook passes; checked only when health is true), how far its log is
// applied, what it runs and speaks, and how idle it is. The hook's result is
// reused for HealthProbeTTL, and calls made while it runs share that run.
func (a *Agent) Diagnostic(ctx context.Context, health bool) api.Diagnostic {
	d := api.Diagnostic{ID: a.cfg.ID, Healthy: true, AppliedIndex: a.parts.raft.AppliedIndex(), Version: a.currentVersion(),
		Protocol: rpc.ProtocolRangeOut(a.cfg.Protocol)}
	a.fsm.View(func(s *fsm.State) {
		if m, ok := s.Members[a.cfg.ID]; ok {
			d.Version = m.Version
		}
	})
	d.IdleCPU, d.IdleMem = a.idle.sample()
	d.ServiceHooks = a.exec.Hooks().ServiceHooks() // service.go
	if a.exec.Hooks().Health != "" && health {
		if e := a.health.check(ctx, a.runHealthHook); e != "" {
			d.Healthy, d.HealthError = false, e
		}
	}
	return d
}

// runHealthHook runs the health hook once for the diagnostic (through
// a.health, which shares and reuses its result) and returns its error, ""
// when it passed.
func (a *Agent) runHealthHook(ctx context.Context) string {
	hk := a.exec.Hooks()
	ctx, cancel := context.WithTimeout(ctx, min(hk.EffectiveTimeout(), 10*time.Second))
	defer cancel()
	env := append(hooks.Env(hooks.StepEnv{NodeID: a.cfg.ID}), a.stepServiceEnv()...) // service.go
	if res := hooks.Run(ctx, hooks.Spec{Name: "health", Command: hk.Health, Env: env}); res.Err != nil {
		return res.Err.Error()
	}
	return ""
}

// reexec replaces this process with a fresh run of its executable (which
// the install hook may have replaced), with the same arguments and
// environment. Every acknowledged write is already on disk, and the journal
// says the restart began, so the new process resumes the step. It returns
// only on failure.
func (a *Agent) reexec() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	if a.IsLeader() {
		// It did not lead when its step began (I4), but it may have been
		// elected since; hand leadership on rather than vanish with it.
		ctx, cancel := context.WithTimeout(a.ctx, 10*time.Second)
		if to, err := a.TransferLeadership(ctx, ""); err != nil {
			a.log.Warn("leadership transfer before re-executing failed", "error", err)
		} else {
			a.log.Info("leadership handed on before re-executing", "to", to)
		}
		cancel()
	}
	a.log.Info("re-executing", "executable", exe)
	return syscall.Exec(exe, os.Args, os.Environ())
}
