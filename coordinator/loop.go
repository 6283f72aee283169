package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// attemptKey names one attempt of one step.
type attemptKey struct {
	txn, node string
	attempt   uint64
}

// term is the coordinator's memory for one term of leadership. Nothing in
// it is needed for correctness after a crash: it only avoids repeating work
// within the term.
type term struct {
	// nextCheck is when each running attempt is next checked with its
	// node. An attempt missing from it is checked at once, so every
	// running step is checked at the start of a term.
	nextCheck map[attemptKey]time.Time
	// retry is the current delay before an unreachable node is tried
	// again; it doubles up to ReconcileInterval.
	retry        map[attemptKey]time.Duration
	handoffSince time.Time // first failed search for a successor
	lastNote     string
}

func newTerm() *term {
	return &term{nextCheck: map[attemptKey]time.Time{}, retry: map[attemptKey]time.Duration{}}
}

// idle is how long the loop sleeps with nothing to watch but state changes.
const idle = time.Minute

// firstRetry is the first delay before a step that could not be delivered
// (or a node that did not answer) is tried again.
const firstRetry = 250 * time.Millisecond

// maxInFlight bounds the calls to other agents (and the commits) the
// coordinator makes at once: a batch of a large max-parallel, or the
// finalize check of a large cluster, must not open thousands of
// connections at once.
const maxInFlight = 64

// Run drives the active transaction until ctx ends (leadership lost or the
// agent stopping). It is woken by every change of the state machine and by
// the next deadline or check of a running step.
func (co *Coordinator) Run(ctx context.Context) {
	co.log.Info("coordinator started", "leader", co.c.ID())
	defer co.log.Info("coordinator stopped", "leader", co.c.ID())
	tm := newTerm()
	for {
		changed := co.c.FSM().Changed()
		wait := co.turn(ctx, tm)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-changed:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// turn drives the active transaction one step further. It decides under
// the state machine's read lock, from the live state, copying only the
// steps it will act on (a transaction can hold ten thousand steps, and a
// turn follows every commit), then acts with the lock released.
func (co *Coordinator) turn(ctx context.Context, tm *term) time.Duration {
	var p plan
	now := co.opts.Now()
	co.c.FSM().View(func(s *fsm.State) { p = co.decide(s.ActiveTxn(), tm, now) })
	return co.act(ctx, tm, p, now)
}

// plan is what one turn does.
type plan struct {
	// txn is the active transaction's own fields, without its steps; nil
	// when there is none.
	txn *fsm.Txn
	// overdue are running steps past their step timeout or the
	// transaction's progress deadline.
	overdue []fsm.Step
	// check are running steps whose check with their node is due.
	check []fsm.Step
	// handoff, when set, lists the nodes of the batch about to start,
	// which holds this node: leadership moves first.
	handoff []string
	// begin are steps to begin now: the pending steps of the current
	// batch, or the next step to roll back.
	begin    []fsm.Step
	rollback bool
	// finalize and finish end the transaction.
	finalize, finish bool
	// wait is the time until the next deadline or check.
	wait time.Duration
}

// decide reads the active transaction t (nil when none; read only, under
// the state's lock) and returns what to do. Every running step is looked
// at: one past its deadline is failed; one whose check is due (every one
// after a change of leader, one whose delivery failed soon after, the
// others every ReconcileInterval as a safety net for lost notices) is
// checked with its node. Then a running transaction starts its current
// batch (after a handoff if the batch holds this node), a finalizing one
// finalizes, and an aborting one rolls back its next step or finishes.
func (co *Coordinator) decide(t *fsm.Txn, tm *term, now time.Time) plan {
	p := plan{wait: idle}
	if t == nil {
		return p
	}
	hdr := *t
	hdr.Steps = nil
	p.txn = &hdr
	running := t.Steps
	if t.Count(fsm.StepRunning) == 0 {
		running = nil
	}
	for i := range running {
		s := &running[i]
		if s.State != fsm.StepRunning {
			continue
		}
		deadline := s.StartedAt.Add(time.Duration(t.StepTimeout))
		if progress := t.LastProgressAt.Add(time.Duration(t.ProgressDeadline)); progress.Before(deadline) {
			deadline = progress
		}
		if !now.Before(deadline) {
			p.overdue = append(p.overdue, *s)
			continue
		}
		p.wait = min(p.wait, deadline.Sub(now))
		if at, ok := tm.nextCheck[attemptKey{t.ID, s.Node, s.Attempt}]; ok && now.Before(at) {
			p.wait = min(p.wait, at.Sub(now))
			continue
		}
		p.check = append(p.check, *s)
	}
	switch {
	case t.State == fsm.TxnRunning:
		co.decideBatch(t, &p)
	case t.Count(fsm.StepRunning) > 0:
	case t.State == fsm.TxnFinalizing:
		p.finalize = true
	case t.State == fsm.TxnAborting:
		co.decideUnwind(t, &p)
	}
	return p
}

// decideBatch plans the start of the current batch's pending steps.
func (co *Coordinator) decideBatch(t *fsm.Txn, p *plan) {
	var nodes []string
	for _, s := range t.BatchSteps(t.CurrentBatch()) {
		nodes = append(nodes, s.Node)
		if s.State == fsm.StepPending {
			p.begin = append(p.begin, s)
		}
	}
	if slices.Contains(nodes, co.c.ID()) && !t.AllowLeaderUpgrade {
		p.handoff, p.begin = nodes, nil
	}
}

// decideUnwind plans an aborting transaction's end: with a rollback, the
// steps that ran are rolled back newest first, one at a time; then it
// finishes.
func (co *Coordinator) decideUnwind(t *fsm.Txn, p *plan) {
	if t.RollbackRequested {
		for i := len(t.Steps) - 1; i >= 0; i-- {
			s := t.Steps[i]
			if s.State == fsm.StepDone || (s.State == fsm.StepFailed && !s.Rollback) {
				if s.Node == co.c.ID() && !t.AllowLeaderUpgrade {
					p.handoff = []string{s.Node}
				} else {
					p.begin, p.rollback = []fsm.Step{s}, true
				}
				return
			}
		}
	}
	p.finish = true
}

// act carries out a plan and returns how long to wait at most before the
// next turn.
func (co *Coordinator) act(ctx context.Context, tm *term, p plan, now time.Time) time.Duration {
	t := p.txn
	if t == nil {
		return idle
	}
	for _, s := range p.overdue {
		co.failStep(ctx, t, s, fmt.Sprintf("no completion notice within the step timeout (%s) or progress deadline (%s)",
			time.Duration(t.StepTimeout), time.Duration(t.ProgressDeadline)))
	}
	answered := make([]bool, len(p.check))
	co.fanOut(len(p.check), func(i int) { answered[i] = co.reconcile(ctx, t, p.check[i]) })
	wait := p.wait
	for i, s := range p.check {
		wait = min(wait, tm.checked(attemptKey{t.ID, s.Node, s.Attempt}, now, answered[i], co.opts.ReconcileInterval))
	}
	wait = max(wait, 10*time.Millisecond)
	if t.State == fsm.TxnRunning && p.handoff == nil {
		tm.handoffSince = time.Time{}
	}
	switch {
	case p.handoff != nil:
		return min(wait, co.handoff(ctx, tm, t, p.handoff))
	case len(p.begin) > 0:
		if !co.beginAll(ctx, tm, t, p.begin, p.rollback) {
			return min(wait, time.Second)
		}
	case p.finalize:
		return min(wait, co.finalize(ctx, tm, t))
	case p.finish:
		return min(wait, co.finish(ctx, t))
	}
	return wait
}

// checked records a check (or delivery) of an attempt with its node at now,
// and returns the time until the next: ReconcileInterval when the node
// answered, a delay that doubles from firstRetry when it did not.
func (tm *term) checked(key attemptKey, now time.Time, answered bool, interval time.Duration) time.Duration {
	wait := interval
	if answered {
		delete(tm.retry, key)
	} else {
		wait = min(interval, max(firstRetry, tm.retry[key]))
		tm.retry[key] = min(interval, 2*wait)
	}
	tm.nextCheck[key] = now.Add(wait)
	return wait
}

// fanOut runs fn(0..n-1) with at most maxInFlight at once, and returns when
// all have returned.
func (co *Coordinator) fanOut(n int, fn func(i int)) {
	if n == 0 {
		return
	}
	if n == 1 {
		fn(0)
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxInFlight)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(i)
		}()
	}
	wg.Wait()
}

func (co *Coordinator) failStep(ctx context.Context, t *fsm.Txn, s fsm.Step, why string) {
	co.log.Warn("step failed", "txn", t.ID, "node", s.Node, "attempt", s.Attempt, "reason", why)
	_, err := co.c.Apply(ctx, fsm.CmdStepFail, fsm.StepFail{TxnID: t.ID, Node: s.Node, Attempt: s.Attempt, Error: why})
	if err != nil {
		co.log.Debug("step fail not committed", "error", err)
	}
}

// reconcile asks the node about a running attempt, and reports whether the
// node answered (and, for an attempt it never received, took it).
func (co *Coordinator) reconcile(ctx context.Context, t *fsm.Txn, s fsm.Step) bool {
	req, addr := co.stepRequest(t, s)
	cctx, cancel := context.WithTimeout(ctx, co.opts.CallTimeout)
	defer cancel()
	status, err := co.n.StepStatus(cctx, addr, t.ID, s.Attempt)
	var apiErr *api.APIError
	switch {
	case errors.As(err, &apiErr) && errors.Is(err, api.ErrNotFound):
		co.log.Info("node does not know the attempt; sending it again", "txn", t.ID, "node", s.Node, "attempt", s.Attempt)
		return co.send(ctx, req, addr)
	case err != nil:
		co.log.Debug("node unreachable for a running step", "node", s.Node, "error", err)
		return false
	case status.State == api.StepDone || status.State == api.StepFailed:
		if err := co.Notice(ctx, status); err != nil {
			co.log.Debug("notice from reconciliation not committed", "error", err)
		}
	}
	return true
}

// stepRequest builds the request that runs step s of t on its node, and
// returns it with the node's API address, read from the catalogue.
func (co *Coordinator) stepRequest(t *fsm.Txn, s fsm.Step) (api.StepRequest, string) {
	req := api.StepRequest{TxnID: t.ID, Node: s.Node, Attempt: s.Attempt, TargetVersion: s.ToVersion,
		FromVersion: s.FromVersion, ArtifactURL: t.ArtifactURL, ArtifactSHA256: t.ArtifactSHA256,
		Rollback: s.Rollback, AllowLeader: t.AllowLeaderUpgrade}
	if s.Rollback {
		req.ArtifactURL, req.ArtifactSHA256 = "", ""
	}
	var addr string
	co.c.FSM().View(func(st *fsm.State) {
		req.ProtocolVersion = st.ProtocolVersion
		addr = st.Members[s.Node].HTTPAddr
	})
	return req, addr
}

// send delivers a begun step to its node and reports whether it did. A
// failure is only logged: the step stays running, and a check soon after,
// or its deadline, takes it on.
func (co *Coordinator) send(ctx context.Context, req api.StepRequest, addr string) bool {
	cctx, cancel := context.WithTimeout(ctx, co.opts.CallTimeout)
	defer cancel()
	if _, err := co.n.RunStep(cctx, addr, req); err != nil {
		co.log.Warn("step not delivered yet", "txn", req.TxnID, "node", req.Node, "attempt", req.Attempt, "error", err)
		return false
	}
	return true
}

// beginAll begins steps (see begin), each independently and several at a
// time: Raft commits concurrent proposals together, so a batch of many
// steps costs a few commits rather than one each. It reports whether every
// begin committed.
func (co *Coordinator) beginAll(ctx context.Context, tm *term, t *fsm.Txn, steps []fsm.Step, rollback bool) bool {
	type outcome struct {
		begun, delivered bool
		attempt          uint64
	}
	out := make([]outcome, len(steps))
	co.fanOut(len(steps), func(i int) {
		out[i].attempt = steps[i].Attempt + 1
		out[i].begun, out[i].delivered = co.begin(ctx, t, steps[i], rollback)
	})
	now, all := co.opts.Now(), true
	for i, o := range out {
		if !o.begun {
			all = false
			continue
		}
		// A step just delivered needs no check until the safety net's
		// interval; one not delivered is tried again soon.
		tm.checked(attemptKey{t.ID, steps[i].Node, o.attempt}, now, o.delivered, co.opts.ReconcileInterval)
	}
	return all
}

// begin commits the write-ahead begin of a step's next attempt, then sends
// it. It reports whether the begin committed and whether the node took the
// step.
func (co *Coordinator) begin(ctx context.Context, t *fsm.Txn, s fsm.Step, rollback bool) (begun, delivered bool) {
	attempt := s.Attempt + 1
	if _, err := co.c.Apply(ctx, fsm.CmdStepBegin, fsm.StepBegin{TxnID: t.ID, Node: s.Node, Attempt: attempt, Rollback: rollback}); err != nil {
		co.log.Warn("step begin not committed", "txn", t.ID, "node", s.Node, "attempt", attempt, "error", err)
		return false, false
	}
	// The step as the begin left it (attempt, versions); the
	// transaction's own fields do not change after it starts.
	var now *fsm.Step
	co.c.FSM().View(func(st *fsm.State) {
		if x := st.Txns[t.ID]; x != nil {
			if p := x.Step(s.Node); p != nil {
				c := *p
				now = &c
			}
		}
	})
	if now == nil {
		return false, false
	}
	co.log.Info("step begun", "txn", t.ID, "node", s.Node, "attempt", attempt, "rollback", rollback)
	metrics.IncrCounter([]string{"coordinator", "steps", "begun"}, 1)
	req, addr := co.stepRequest(t, *now)
	return true, co.send(ctx, req, addr)
}

// finish ends an aborting transaction once nothing is left to roll back.
func (co *Coordinator) finish(ctx context.Context, t *fsm.Txn) time.Duration {
	reason := ""
	if t.RollbackRequested {
		reason = "rollback finished"
	}
	if _, err := co.c.Apply(ctx, fsm.CmdTxnFinish, fsm.TxnFinish{TxnID: t.ID, Reason: reason}); err != nil {
		co.log.Warn("transaction finish not committed", "txn", t.ID, "error", err)
		return time.Second
	}
	co.log.Info("transaction aborted", "txn", t.ID)
	return idle
}

// note records a human-readable reason on the transaction, once per change.
func (co *Coordinator) note(ctx context.Context, tm *term, t *fsm.Txn, reason string) {
	if reason == tm.lastNote && reason == t.Reason {
		return
	}
	tm.lastNote = reason
	if _, err := co.c.Apply(ctx, fsm.CmdTxnNote, fsm.TxnControl{TxnID: t.ID, Reason: reason}); err != nil {
		co.log.Debug("note not committed", "error", err)
	}
}
