package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// attemptKey names one attempt of one step.
type attemptKey struct {
	txn, node string
	attempt   uint64
}

// tenure is what the coordinator remembers during one tenure of leadership:
// one call of Run, from the gain of leadership to its loss. (It is not
// Raft's term, a number; a new Run starts a new tenure.) Nothing in it is
// needed for correctness after a crash: it only avoids repeating work
// within the tenure.
type tenure struct {
	// nextCheck is when each running attempt is next checked with its
	// node. An attempt missing from it is checked at once, so every
	// running step is checked at the start of a tenure.
	nextCheck map[attemptKey]time.Time
	// retry is the current delay before an unreachable node is tried
	// again; it doubles up to ReconcileInterval.
	retry        map[attemptKey]time.Duration
	handoffSince time.Time // first failed search for a successor
	lastNote     string
	// switchover times the service's switch-over (switchover.go).
	switchover switchTenure
}

func newTenure() *tenure {
	return &tenure{nextCheck: map[attemptKey]time.Time{}, retry: map[attemptKey]time.Duration{}}
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
	tn := newTenure()
	for {
		changed := co.c.FSM().Changed()
		wait := co.turn(ctx, tn)
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
func (co *Coordinator) turn(ctx context.Context, tn *tenure) time.Duration {
	var d decision
	now := co.opts.Now()
	co.c.FSM().View(func(s *fsm.State) {
		d = co.decide(s.ActiveTxn(), tn, now)
		co.decideSwitchover(s, &d) // switchover.go
	})
	return co.act(ctx, tn, d, now)
}

// decision is what one turn decided to do: the coordinator's pure choice,
// made under the state's read lock, which act then carries out.
type decision struct {
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
	// switchover, when set, is the service's switch-over to carry on
	// before anything of the batch begins (switchover.go).
	switchover *switchTask
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
func (co *Coordinator) decide(t *fsm.Txn, tn *tenure, now time.Time) decision {
	d := decision{wait: idle}
	if t == nil {
		return d
	}
	hdr := *t
	hdr.Steps = nil
	d.txn = &hdr
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
			d.overdue = append(d.overdue, *s)
			continue
		}
		d.wait = min(d.wait, deadline.Sub(now))
		if at, ok := tn.nextCheck[attemptKey{t.ID, s.Node, s.Attempt}]; ok && now.Before(at) {
			d.wait = min(d.wait, at.Sub(now))
			continue
		}
		d.check = append(d.check, *s)
	}
	switch {
	case t.State == fsm.TxnRunning:
		co.decideBatch(t, &d)
	case t.Count(fsm.StepRunning) > 0:
	case t.State == fsm.TxnFinalizing:
		d.finalize = true
	case t.State == fsm.TxnAborting:
		co.decideUnwind(t, &d)
	}
	return d
}

// decideBatch plans the start of the current batch's pending steps.
func (co *Coordinator) decideBatch(t *fsm.Txn, d *decision) {
	var nodes []string
	for _, s := range t.BatchSteps(t.CurrentBatch()) {
		nodes = append(nodes, s.Node)
		if s.State == fsm.StepPending {
			d.begin = append(d.begin, s)
		}
	}
	if slices.Contains(nodes, co.c.ID()) && !t.AllowLeaderUpgrade {
		d.handoff, d.begin = nodes, nil
	}
}

// decideUnwind plans an aborting transaction's end: with a rollback, the
// steps that ran are rolled back newest first, one at a time; then it
// finishes.
func (co *Coordinator) decideUnwind(t *fsm.Txn, d *decision) {
	if t.RollbackRequested {
		for i := len(t.Steps) - 1; i >= 0; i-- {
			s := t.Steps[i]
			if s.State == fsm.StepDone || (s.State == fsm.StepFailed && !s.Rollback) {
				if s.Node == co.c.ID() && !t.AllowLeaderUpgrade {
					d.handoff = []string{s.Node}
				} else {
					d.begin, d.rollback = []fsm.Step{s}, true
				}
				return
			}
		}
	}
	d.finish = true
}

// act carries out a decision and returns how long to wait at most before the
// next turn.
func (co *Coordinator) act(ctx context.Context, tn *tenure, d decision, now time.Time) time.Duration {
	t := d.txn
	if t == nil {
		return idle
	}
	for _, s := range d.overdue {
		co.failStep(ctx, t, s, fmt.Sprintf("no completion notice within the step timeout (%s) or progress deadline (%s)",
			time.Duration(t.StepTimeout), time.Duration(t.ProgressDeadline)))
	}
	answered := make([]bool, len(d.check))
	co.fanOut(len(d.check), func(i int) { answered[i] = co.reconcile(ctx, t, d.check[i]) })
	wait := d.wait
	for i, s := range d.check {
		wait = min(wait, tn.checked(attemptKey{t.ID, s.Node, s.Attempt}, now, answered[i], co.opts.ReconcileInterval))
	}
	wait = max(wait, 10*time.Millisecond)
	if t.State == fsm.TxnRunning && d.handoff == nil {
		tn.handoffSince = time.Time{}
	}
	switch {
	case d.switchover != nil:
		return min(wait, co.switchover(ctx, tn, t, d.switchover))
	case d.handoff != nil:
		return min(wait, co.handoff(ctx, tn, t, d.handoff))
	case len(d.begin) > 0:
		if !co.beginAll(ctx, tn, t, d.begin, d.rollback) {
			return min(wait, time.Second)
		}
	case d.finalize:
		return min(wait, co.finalize(ctx, tn, t))
	case d.finish:
		return min(wait, co.finish(ctx, t))
	}
	return wait
}

// checked records a check (or delivery) of an attempt with its node at now,
// and returns the time until the next: ReconcileInterval when the node
// answered, a delay that doubles from firstRetry when it did not.
func (tn *tenure) checked(key attemptKey, now time.Time, answered bool, interval time.Duration) time.Duration {
	wait := interval
	if answered {
		delete(tn.retry, key)
	} else {
		wait = min(interval, max(firstRetry, tn.retry[key]))
		tn.retry[key] = min(interval, 2*wait)
	}
	tn.nextCheck[key] = now.Add(wait)
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
func (co *Coordinator) beginAll(ctx context.Context, tn *tenure, t *fsm.Txn, steps []fsm.Step, rollback bool) bool {
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
		tn.checked(attemptKey{t.ID, steps[i].Node, o.attempt}, now, o.delivered, co.opts.ReconcileInterval)
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
	co.opts.Metrics.IncrCounter([]string{"coordinator", "steps", "begun"}, 1)
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
func (co *Coordinator) note(ctx context.Context, tn *tenure, t *fsm.Txn, reason string) {
	if reason == tn.lastNote && reason == t.Reason {
		return
	}
	tn.lastNote = reason
	if _, err := co.c.Apply(ctx, fsm.CmdTxnNote, fsm.TxnControl{TxnID: t.ID, Reason: reason}); err != nil {
		co.log.Debug("note not committed", "error", err)
	}
}
