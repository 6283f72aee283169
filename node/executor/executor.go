package executor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-upgrade/baton/node/config"
	"github.com/baton-upgrade/baton/node/journal"
	"github.com/baton-upgrade/baton/rpc/api"
)

// DefaultHealthInterval is how often the health hook is polled when
// Options.HealthInterval is zero.
const DefaultHealthInterval = time.Second

// DefaultCancelGrace is the time a cancelled attempt's running hook has
// between SIGTERM and SIGKILL when Options.CancelGrace is zero.
const DefaultCancelGrace = 10 * time.Second

var (
	// ErrClosed is returned by Start and Resume after Close.
	ErrClosed = errors.New("executor closed")
	// ErrBusy is returned by Start while another step runs on this node.
	// The running one ends within its hooks' timeouts; try again later.
	ErrBusy = errors.New("another step is running on this node")
	// ErrInvalidStep is wrapped by Start for a step it cannot accept.
	ErrInvalidStep = errors.New("invalid step")
	// ErrNotFound is returned by Cancel for an attempt this node never
	// began.
	ErrNotFound = errors.New("no such attempt on this node")
)

// Step is one step of a transaction as the leader sends it: upgrade this
// node to TargetVersion, attempt Attempt (with Rollback, go back to
// TargetVersion with the rollback hook). It is the journal's record of the
// step, so what runs is exactly what was journaled.
type Step = journal.Step

// Status is what the executor knows about one attempt.
type Status struct {
	TxnID   string
	Attempt uint64
	// State is api.StepRunning while the attempt has begun and not
	// finished, api.StepDone once the version hook printed the target
	// version, api.StepFailed otherwise (see Error): the node reports it on
	// the wire as it is.
	State api.StepState
	// Hook is the hook now running; "" when none is.
	Hook string
	// Version is what the version hook printed, once it ran.
	Version string
	// Error says why the attempt failed; "" unless State is api.StepFailed.
	Error string
	// Output is the output tail of the latest hook that ran (the last
	// journal.RecordOutputLimit bytes once the attempt has finished; Logs
	// has more).
	Output string
}

// Options configure an Executor.
type Options struct {
	// NodeID is this node's id; a step for another node is refused.
	NodeID string
	// Hooks are the node's hooks from its local config file.
	Hooks config.Hooks
	// Journal records every attempt. Required.
	Journal *journal.Journal
	// ArtifactDir is where artifacts are fetched to. Required for steps
	// that name an artifact.
	ArtifactDir string
	// AllowHTTPArtifacts lets steps fetch artifacts over plain http; only
	// https is fetched without it, and never a local path or file: (see
	// artifact.Policy).
	AllowHTTPArtifacts bool
	// FetchStored fetches an artifact held by the cluster (a step with
	// ArtifactSources and no ArtifactURL) into destDir and returns its
	// path, verified by digest. Required for such steps.
	FetchStored func(ctx context.Context, sha string, sources []api.ArtifactSource, destDir string) (string, error)
	// Logger defaults to a null logger.
	Logger hclog.Logger
	// OnFinish is called once each time an attempt finishes (done or
	// failed), after the outcome is journaled, also for attempts finished
	// by Resume. It runs on the attempt's goroutine, so it should hand the
	// notice off rather than block; Close waits for it.
	OnFinish func(Step, Status)
	// HealthInterval is the pause between health polls
	// (DefaultHealthInterval).
	HealthInterval time.Duration
	// CancelGrace is the time between SIGTERM and SIGKILL for the running
	// hook of a cancelled attempt (DefaultCancelGrace).
	CancelGrace time.Duration
	// BuildVersion is reported by CurrentVersion when there is no version
	// hook: the agent's own build.
	BuildVersion string
	// SelfRestart re-executes the agent, for the restart hook "self". It
	// does not return when it succeeds; the new process resumes the
	// attempt from the journal.
	SelfRestart func() error
	// ServiceEnv, when set, adds variables to every hook of a step, read as
	// each phase begins: BATON_PRIMARY and BATON_MEMBERS_FILE (service.go).
	ServiceEnv func() []string
}

// Executor runs steps on this node. Its methods are safe for concurrent use.
type Executor struct {
	opts    Options
	log     hclog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex // guards closed, live and the fields of each attempt
	closed  bool
	held    bool // WhileIdle runs: no attempt may start
	live    map[journal.Key]*attempt
	closing sync.Once
	// hooks are the node's hooks now: Options.Hooks until SetHooks.
	hooks atomic.Pointer[config.Hooks]
}

// attempt is an attempt this process is running (or about to resume).
// Its fields but step and stop are guarded by Executor.mu.
type attempt struct {
	step   Step
	hook   string // the hook now running
	output string // the latest hook's output tail
	// stop is closed when the attempt is cancelled; cancelReason then says
	// why, and cut names the hook the cancel stopped while it ran, if any.
	stop         chan struct{}
	cancelReason string
	cut          string
}

func newAttempt(step Step) *attempt {
	return &attempt{step: step, stop: make(chan struct{})}
}

// New returns an Executor. It starts nothing: call Resume once at agent
// start to continue the attempts a previous run left unfinished.
func New(opts Options) *Executor {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = DefaultHealthInterval
	}
	if opts.CancelGrace <= 0 {
		opts.CancelGrace = DefaultCancelGrace
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Executor{
		opts:   opts,
		log:    opts.Logger.Named("executor"),
		ctx:    ctx,
		cancel: cancel,
		live:   make(map[journal.Key]*attempt),
	}
	e.SetHooks(opts.Hooks)
	return e
}

// SetHooks replaces the node's hooks, as a reload of the agent's config
// file does. Every hook begun from then on, by a new attempt or by one
// already running, is the new one; a hook already running finishes as it
// began.
func (e *Executor) SetHooks(h config.Hooks) {
	e.hooks.Store(&h)
}

// Hooks returns the node's hooks now.
func (e *Executor) Hooks() config.Hooks { return *e.hooks.Load() }

// Start begins step and returns its status at once; the hooks run on a
// goroutine. Start is idempotent: when the journal already holds this
// (txn, attempt), nothing runs again and its current status is returned.
// A new attempt while another step runs gets ErrBusy; an invalid step gets
// ErrInvalidStep and changes nothing.
func (e *Executor) Start(step Step) (Status, error) {
	if err := e.validate(step); err != nil {
		return Status{}, fmt.Errorf("start step %s: %w", step.Key(), err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return Status{}, fmt.Errorf("start step %s: %w", step.Key(), ErrClosed)
	}
	if a, ok := e.live[step.Key()]; ok {
		return a.status(), nil
	}
	if rec, err := e.opts.Journal.Get(step.Key()); err == nil {
		return statusOf(rec), nil
	} else if !errors.Is(err, journal.ErrNotFound) {
		return Status{}, fmt.Errorf("start step %s: %w", step.Key(), err)
	}
	if running, busy := e.runningKey(); busy {
		return Status{}, fmt.Errorf("start step %s: %w (%s)", step.Key(), ErrBusy, running)
	}
	if e.held {
		return Status{}, fmt.Errorf("start step %s: %w (the agent is reading its version to register it)", step.Key(), ErrBusy)
	}
	rec, existed, err := e.opts.Journal.Begin(journal.Step(step))
	if err != nil {
		return Status{}, fmt.Errorf("start step %s: %w", step.Key(), err)
	}
	if existed {
		return statusOf(rec), nil
	}
	a := newAttempt(step)
	e.live[step.Key()] = a
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.execute(a, rec)
	}()
	e.log.Info("step started", "txn", step.TxnID, "attempt", step.Attempt,
		"target", step.TargetVersion, "rollback", step.Rollback)
	return a.status(), nil
}

func (e *Executor) validate(step Step) error {
	switch {
	case step.TxnID == "":
		return fmt.Errorf("%w: empty transaction id", ErrInvalidStep)
	case step.Node != "" && step.Node != e.opts.NodeID:
		return fmt.Errorf("%w: step is for node %q, this is %q", ErrInvalidStep, step.Node, e.opts.NodeID)
	case step.TargetVersion == "":
		return fmt.Errorf("%w: empty target version", ErrInvalidStep)
	}
	return nil
}

// Status returns the status of the attempt (txnID, attempt), from memory
// while it runs and from the journal after; ok is false when this node
// never began it (or the journal cannot be read, which is logged).
func (e *Executor) Status(txnID string, attemptNo uint64) (Status, bool) {
	key := journal.Key{TxnID: txnID, Attempt: attemptNo}
	if st, ok := e.liveStatus(key); ok {
		return st, true
	}
	rec, err := e.opts.Journal.Get(key)
	if err != nil {
		if !errors.Is(err, journal.ErrNotFound) {
			e.log.Error("read step status", "txn", txnID, "attempt", attemptNo, "error", err)
		}
		return Status{}, false
	}
	return statusOf(rec), true
}

// Unacked returns the finished attempts whose completion notice the leader
// has not acknowledged, oldest first, so the agent can resend them after a
// restart.
func (e *Executor) Unacked() ([]Status, error) {
	recs, err := e.opts.Journal.Unacked()
	if err != nil {
		return nil, fmt.Errorf("unacked steps: %w", err)
	}
	out := make([]Status, 0, len(recs))
	for _, rec := range recs {
		out = append(out, statusOf(rec))
	}
	return out, nil
}

// MarkAcked journals that the leader acknowledged the completion notice of
// (txnID, attempt), so Unacked no longer returns it. The mark is deferred
// (durable with the next step's first record): a crash before then makes a
// restarted agent send the notice again, which the leader answers as it did
// the first time.
func (e *Executor) MarkAcked(txnID string, attemptNo uint64) error {
	return e.opts.Journal.Deferred().MarkAcked(journal.Key{TxnID: txnID, Attempt: attemptNo})
}

// Close stops the executor: running hooks are killed, and Close returns when
// every attempt goroutine has ended (including any OnFinish call in
// progress). An attempt cut short stays unfinished in the journal and is
// continued by Resume on the next start. Close is idempotent.
func (e *Executor) Close() {
	e.closing.Do(func() {
		e.mu.Lock()
		e.closed = true
		e.mu.Unlock()
		e.cancel()
	})
	e.wg.Wait()
}

// WhileIdle waits until no attempt runs on this node, then runs fn while
// none can start (Start answers ErrBusy, which the leader retries), so that
// what fn observes of the node cannot be overtaken by a step. It fails with
// ctx's error if an attempt is still running when ctx ends, and with
// ErrClosed after Close; otherwise it returns fn's error.
func (e *Executor) WhileIdle(ctx context.Context, fn func() error) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return ErrClosed
		}
		running, busy := e.runningKey()
		if !busy {
			e.held = true
			e.mu.Unlock()
			break
		}
		e.mu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for step %s to finish: %w", running, ctx.Err())
		case <-tick.C:
		}
	}
	defer func() {
		e.mu.Lock()
		e.held = false
		e.mu.Unlock()
	}()
	return fn()
}

// runningKey returns an attempt this process runs or is about to resume;
// e.mu must be held.
func (e *Executor) runningKey() (journal.Key, bool) {
	for key := range e.live {
		return key, true
	}
	return journal.Key{}, false
}

func (e *Executor) liveStatus(key journal.Key) (Status, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a, ok := e.live[key]; ok {
		return a.status(), true
	}
	return Status{}, false
}

// status must be called with e.mu held.
func (a *attempt) status() Status {
	return Status{
		TxnID:   a.step.TxnID,
		Attempt: a.step.Attempt,
		State:   api.StepRunning,
		Hook:    a.hook,
		Output:  a.output,
	}
}

func (e *Executor) setHook(a *attempt, hook string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a.hook = hook
}

// hookEnded records the end of a's running hook; cut says that the cancel
// stopped it.
func (e *Executor) hookEnded(a *attempt, output string, cut bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if cut {
		a.cut = a.hook
	}
	a.hook = ""
	a.output = output
}

// statusOf turns a journal record into a Status.
func statusOf(rec journal.Record) Status {
	st := Status{
		TxnID:   rec.Step.TxnID,
		Attempt: rec.Step.Attempt,
		State:   rec.State,
		Version: rec.Version,
		Error:   rec.Error,
	}
	var latest journal.HookRun
	for _, h := range rec.Hooks {
		if h.Began.After(latest.Began) || latest.Name == "" {
			latest = h
		}
	}
	if latest.HasEnded() {
		st.Output = latest.Output
	} else if rec.State == api.StepRunning {
		st.Hook = latest.Name
	}
	return st
}
