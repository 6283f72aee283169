package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	// cancels are the attempts whose node is asked to stop them, and
	// where that stands; see cancel.go.
	cancels map[attemptKey]*cancelRequest
	// switchover times the service's switch-over (switchover.go).
	switchover switchTenure
	// announced are the attempts this tenure began and announced to the
	// gateways (gateways.go); an attempt begun before it is announced
	// again before it is sent again.
	announced map[attemptKey]bool
	// acting remembers the groups nobody could act for (group_acting.go).
	acting actingTenure
}

func newTenure() *tenure {
	return &tenure{nextCheck: map[attemptKey]time.Time{}, retry: map[attemptKey]time.Duration{},
		cancels: map[attemptKey]*cancelRequest{}, announced: map[attemptKey]bool{}}
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
		if !waitChange(ctx, changed, co.turn(ctx, tn)) {
			return
		}
	}
}

// waitChange waits until changed is closed (the state moved) or wait has
// passed, and reports false when ctx ended first.
func waitChange(ctx context.Context, changed <-chan struct{}, wait time.Duration) bool {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-changed:
	case <-timer.C:
	}
	return true
}

// turn drives the active transaction one step further. It decides under
// the state machine's read lock, from the live state, copying only the
// steps it will act on (a transaction can hold ten thousand steps, and a
// turn follows every commit), then acts with the lock released.
func (co *Coordinator) turn(ctx context.Context, tn *tenure) time.Duration {
	var d decision
	now := co.opts.Now()
	co.c.FSM().View(func(s *fsm.State) {
		d = co.decide(s, tn, now)
		co.decideSwitchover(s, &d)      // switchover.go
		co.decideActing(s, tn, now, &d) // group_acting.go
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
	// transaction's progress deadline, with which deadline passed.
	overdue []overdueStep
	// cancel are running upgrade steps of an aborting transaction, whose
	// nodes are to be asked to stop them (protocol 3).
	cancel []fsm.Step
	// check are running steps whose check with their node is due.
	check []fsm.Step
	// handoff, when set, lists the nodes of the batch about to start,
	// which holds this node: leadership moves first.
	handoff []string
	// skip are pending steps of the current batch whose nodes already run
	// the target: they are done without running anything (protocol 3).
	skip []fsm.Step
	// begin are steps to begin now: the pending steps of the current
	// batch, or the next step to roll back.
	begin    []fsm.Step
	rollback bool
	// finalize and finish end the transaction; halt stops a rollback that
	// failed on some nodes, for an operator (protocol 3).
	finalize, finish, halt bool
	// switchover, when set, is the service's switch-over to carry on
	// before anything of the batch begins (switchover.go).
	switchover *switchTask
	// acting are the groups whose acting member is recorded before
	// anything of the turn begins (group_acting.go).
	acting []actingTask
	// wait is the time until the next deadline or check.
	wait time.Duration
}

// overdueStep is a running step past a deadline.
type overdueStep struct {
	step fsm.Step
	// why names the deadline that passed.
	why string
}

// decide reads the state s (read only, under the state's lock) and returns
// what to do with its active transaction. Every running step is looked at:
// one past its deadline is failed; one whose check is due (every one after
// a change of leader, one whose delivery failed soon after, the others
// every ReconcileInterval as a safety net for lost notices) is checked with
// its node; an upgrade still running in an aborting transaction is to be
// stopped on its node. Then a running transaction skips the steps of its
// current batch whose nodes already run the target and starts the others
// (after a handoff if one of them is this node's), a finalizing one
// finalizes, and an aborting one rolls back its next step, halts on the
// rollbacks that failed, or finishes.
func (co *Coordinator) decide(s *fsm.State, tn *tenure, now time.Time) decision {
	d := decision{wait: idle}
	t := s.ActiveTxn()
	if t == nil {
		return d
	}
	canCancel := s.ProtocolVersion >= stepCancelProtocol
	hdr := *t
	hdr.Steps = nil
	d.txn = &hdr
	running := t.Steps
	if t.Count(fsm.StepRunning) == 0 {
		running = nil
	}
	for i := range running {
		st := &running[i]
		if st.State != fsm.StepRunning {
			continue
		}
		why, deadline := stepDeadline(t, st)
		if !now.Before(deadline) {
			d.overdue = append(d.overdue, overdueStep{step: *st, why: why})
			continue
		}
		d.wait = min(d.wait, deadline.Sub(now))
		key := attemptKey{t.ID, st.Node, st.Attempt}
		if canCancel && t.State == fsm.TxnAborting && !st.Rollback && tn.cancels[key] == nil {
			d.cancel = append(d.cancel, *st)
		}
		if at, ok := tn.nextCheck[key]; ok && now.Before(at) {
			d.wait = min(d.wait, at.Sub(now))
			continue
		}
		d.check = append(d.check, *st)
	}
	switch {
	case t.State == fsm.TxnRunning:
		co.decideBatch(s, t, &d)
	case t.Count(fsm.StepRunning) > 0:
	case t.State == fsm.TxnFinalizing:
		d.finalize = true
	case t.State == fsm.TxnAborting:
		co.decideUnwind(s, t, &d)
	}
	return d
}

// stepDeadline returns when the running step st of t is overdue, and which
// deadline that is: its step timeout, or the transaction's progress
// deadline when that comes first.
func stepDeadline(t *fsm.Txn, st *fsm.Step) (string, time.Time) {
	deadline := st.StartedAt.Add(time.Duration(t.StepTimeout))
	why := fmt.Sprintf("no completion notice within the step timeout (%s)", time.Duration(t.StepTimeout))
	if progress := t.LastProgressAt.Add(time.Duration(t.ProgressDeadline)); progress.Before(deadline) {
		deadline = progress
		why = fmt.Sprintf("no step completed within the progress deadline (%s)", time.Duration(t.ProgressDeadline))
	}
	return why, deadline
}

// decideBatch plans the current batch's pending steps: those whose nodes
// already run the target are skipped (from protocol 3, which step.skip
// needs), the others begun, after a handoff when one of them is this
// node's own.
func (co *Coordinator) decideBatch(s *fsm.State, t *fsm.Txn, d *decision) {
	canSkip := s.ProtocolVersion >= fsm.CommandProtocol(fsm.CmdStepSkip)
	var busy []string // the nodes of the batch that run or are about to
	ownStep := false
	for _, st := range t.BatchSteps(t.CurrentBatch()) {
		switch {
		case st.State == fsm.StepRunning:
			busy = append(busy, st.Node)
		case st.State != fsm.StepPending:
		case canSkip && s.CheckSkip(t, &st) == nil:
			d.skip = append(d.skip, st)
		default:
			busy = append(busy, st.Node)
			d.begin = append(d.begin, st)
			ownStep = ownStep || st.Node == co.c.ID()
		}
	}
	if ownStep && !t.AllowLeaderUpgrade {
		d.handoff, d.begin = busy, nil
	}
}

// decideUnwind plans an aborting transaction's end: with a rollback, the
// steps that need one are rolled back newest first, one at a time; then,
// if some rollback failed, the transaction halts as rollback-failed for an
// operator (protocol 3, which txn.halt needs; before it, it finishes
// aborted with the failures in its reason); else it finishes. A step whose
// member was removed is skipped: no node is left to roll it back.
func (co *Coordinator) decideUnwind(s *fsm.State, t *fsm.Txn, d *decision) {
	if t.RollbackRequested {
		for i := len(t.Steps) - 1; i >= 0; i-- {
			st := t.Steps[i]
			if _, ok := s.Members[st.Node]; !ok {
				continue
			}
			if !fsm.NeedsRollback(st) {
				continue
			}
			if st.Node == co.c.ID() && !t.AllowLeaderUpgrade {
				d.handoff = []string{st.Node}
			} else {
				d.begin, d.rollback = []fsm.Step{st}, true
			}
			return
		}
		if s.ProtocolVersion >= fsm.CommandProtocol(fsm.CmdTxnHalt) && fsm.CheckHalt(t) == nil {
			d.halt = true
			return
		}
	}
	d.finish = true
}

// act carries out a decision and returns how long to wait at most before the
// next turn.
func (co *Coordinator) act(ctx context.Context, tn *tenure, d decision, now time.Time) time.Duration {
	t := d.txn
	if t == nil {
		return min(idle, co.sendCancels(ctx, tn, now))
	}
	for _, o := range d.overdue {
		if co.failStep(ctx, t, o.step, o.why) {
			tn.askCancel(attemptKey{t.ID, o.step.Node, o.step.Attempt}, now, o.why)
		}
	}
	for _, s := range d.cancel {
		tn.askCancel(attemptKey{t.ID, s.Node, s.Attempt}, now, "transaction "+t.ID+" aborted")
	}
	answered := make([]bool, len(d.check))
	announced := make([]bool, len(d.check))
	for i, s := range d.check {
		announced[i] = tn.announced[attemptKey{t.ID, s.Node, s.Attempt}]
	}
	co.fanOut(len(d.check), func(i int) { answered[i], announced[i] = co.reconcile(ctx, t, d.check[i], announced[i]) })
	wait := d.wait
	for i, s := range d.check {
		key := attemptKey{t.ID, s.Node, s.Attempt}
		wait = min(wait, tn.checked(key, now, answered[i], co.opts.ReconcileInterval))
		if announced[i] {
			tn.announced[key] = true
		}
	}
	wait = max(min(wait, co.sendCancels(ctx, tn, now)), 10*time.Millisecond)
	if t.State == fsm.TxnRunning && d.handoff == nil {
		tn.handoffSince = time.Time{}
	}
	if len(d.skip) > 0 && !co.skipAll(ctx, t, d.skip) {
		wait = min(wait, time.Second)
	}
	co.actAll(ctx, tn, d.acting, now) // group_acting.go
	switch {
	case d.switchover != nil:
		return min(wait, co.switchover(ctx, tn, t, d.switchover))
	case d.handoff != nil:
		return min(wait, co.handoff(ctx, tn, t, d.handoff))
	case len(d.begin) > 0:
		if t.State == fsm.TxnRunning && t.Reason != "" {
			// What the transaction waited for (a successor) is there
			// now: it no longer waits.
			co.note(ctx, tn, t, "")
		}
		if !co.beginAll(ctx, tn, t, d.begin, d.rollback) {
			return min(wait, time.Second)
		}
	case d.finalize:
		return min(wait, co.finalize(ctx, tn, t))
	case d.halt:
		return min(wait, co.halt(ctx, t))
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

// failStep fails a running step for why, and reports whether that
// committed.
func (co *Coordinator) failStep(ctx context.Context, t *fsm.Txn, s fsm.Step, why string) bool {
	co.log.Warn("step failed", "txn", t.ID, "node", s.Node, "attempt", s.Attempt, "reason", why)
	_, err := co.c.Apply(ctx, fsm.CmdStepFail, fsm.StepFail{TxnID: t.ID, Node: s.Node, Attempt: s.Attempt, Error: why})
	if err != nil {
		co.log.Debug("step fail not committed", "error", err)
		return false
	}
	return true
}

// reconcile asks the node about a running attempt, and reports whether the
// node answered (and, for an attempt it never received, took it), and
// whether the attempt has now been announced to the gateways. An attempt
// the node never received is sent again, after the gateways have seen its
// begin when this tenure has not announced it yet (announced).
func (co *Coordinator) reconcile(ctx context.Context, t *fsm.Txn, s fsm.Step, announced bool) (answered, announcedNow bool) {
	req, addr := co.stepRequest(t, s)
	cctx, cancel := context.WithTimeout(ctx, co.opts.CallTimeout)
	defer cancel()
	status, err := co.n.StepStatus(cctx, addr, t.ID, s.Attempt)
	var apiErr *api.APIError
	switch {
	case errors.As(err, &apiErr) && errors.Is(err, api.ErrNotFound):
		co.log.Info("node does not know the attempt; sending it again", "txn", t.ID, "node", s.Node, "attempt", s.Attempt)
		if !announced {
			co.announceAgain(ctx, t, s) // gateways.go
		}
		return co.send(ctx, req, addr), true
	case err != nil:
		co.log.Debug("node unreachable for a running step", "node", s.Node, "error", err)
		return false, announced
	case status.State == api.StepDone || status.State == api.StepFailed:
		if err := co.Notice(ctx, status); err != nil {
			co.log.Debug("notice from reconciliation not committed", "error", err)
		}
	}
	return true, announced
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
		if !s.Rollback {
			req.ArtifactSources = artifactSources(st, t, s.Node) // artifacts.go
		}
		req.ProtocolVersion = st.ProtocolVersion
		addr = nodeAddr(st.Members[s.Node])
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
// steps costs a few commits rather than one each. Between the commits and
// the deliveries it waits for the gateways to see the begins (announce):
// a committed step.begin is the announcement that its node leaves
// rotation, and no drain hook runs before the gateways have acted on it or
// GatewayWait has passed. It reports whether every begin committed.
func (co *Coordinator) beginAll(ctx context.Context, tn *tenure, t *fsm.Txn, steps []fsm.Step, rollback bool) bool {
	type outcome struct {
		begun, delivered bool
		index            uint64
		step             fsm.Step
	}
	out := make([]outcome, len(steps))
	co.fanOut(len(steps), func(i int) {
		out[i].step, out[i].index, out[i].begun = co.begin(ctx, t, steps[i], rollback)
	})
	var (
		last  uint64
		nodes []string
	)
	for _, o := range out {
		if o.begun {
			last = max(last, o.index)
			nodes = append(nodes, o.step.Node)
		}
	}
	if last > 0 {
		co.announce(ctx, tn, t, last, nodes) // gateways.go
	}
	co.fanOut(len(steps), func(i int) {
		if out[i].begun {
			req, addr := co.stepRequest(t, out[i].step)
			out[i].delivered = co.send(ctx, req, addr)
		}
	})
	now, all := co.opts.Now(), true
	for i, o := range out {
		if !o.begun {
			all = false
			continue
		}
		key := attemptKey{t.ID, steps[i].Node, o.step.Attempt}
		tn.announced[key] = true
		// A step just delivered needs no check until the safety net's
		// interval; one not delivered is tried again soon.
		tn.checked(key, now, o.delivered, co.opts.ReconcileInterval)
	}
	return all
}

// begin commits the write-ahead begin of a step's next attempt and returns
// the step as the begin left it, the begin's index, and whether it
// committed. The caller sends it.
func (co *Coordinator) begin(ctx context.Context, t *fsm.Txn, s fsm.Step, rollback bool) (fsm.Step, uint64, bool) {
	attempt := s.Attempt + 1
	index, err := co.c.Apply(ctx, fsm.CmdStepBegin, fsm.StepBegin{TxnID: t.ID, Node: s.Node, Attempt: attempt, Rollback: rollback})
	if err != nil {
		co.log.Warn("step begin not committed", "txn", t.ID, "node", s.Node, "attempt", attempt, "error", err)
		return s, 0, false
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
		return s, 0, false
	}
	co.log.Info("step begun", "txn", t.ID, "node", s.Node, "attempt", attempt, "rollback", rollback, "index", index)
	co.opts.Metrics.IncrCounter([]string{"coordinator", "steps", "begun"}, 1)
	return *now, index, true
}

// finish ends an aborting transaction once nothing is left to roll back.
// Its reason says how the rollback went: a cluster that cannot halt on a
// failed rollback yet (before protocol 3) still names the nodes it failed
// on.
func (co *Coordinator) finish(ctx context.Context, t *fsm.Txn) time.Duration {
	reason := ""
	if t.RollbackRequested {
		reason = "rollback finished"
		var failed []string
		co.c.FSM().View(func(s *fsm.State) {
			if x := s.Txns[t.ID]; x != nil {
				for _, st := range x.Steps {
					if st.State == fsm.StepFailed && st.Rollback {
						failed = append(failed, st.Node)
					}
				}
			}
		})
		if len(failed) > 0 {
			reason = "rollback failed on " + strings.Join(failed, ", ")
		}
	}
	if _, err := co.c.Apply(ctx, fsm.CmdTxnFinish, fsm.TxnFinish{TxnID: t.ID, Reason: reason}); err != nil {
		co.log.Warn("transaction finish not committed", "txn", t.ID, "error", err)
		return time.Second
	}
	co.log.Info("transaction aborted", "txn", t.ID)
	return idle
}

// halt stops an aborting transaction whose rollback failed on some nodes,
// as rollback-failed: an operator retries the rollback, rolls forward, or
// aborts.
func (co *Coordinator) halt(ctx context.Context, t *fsm.Txn) time.Duration {
	if _, err := co.c.Apply(ctx, fsm.CmdTxnHalt, fsm.TxnControl{TxnID: t.ID}); err != nil {
		co.log.Warn("halt on a failed rollback not committed", "txn", t.ID, "error", err)
		return time.Second
	}
	co.log.Warn("rollback failed; the transaction waits for an operator", "txn", t.ID)
	return idle
}

// skipAll commits step.skip for steps whose nodes already run the target,
// and reports whether every one committed.
func (co *Coordinator) skipAll(ctx context.Context, t *fsm.Txn, steps []fsm.Step) bool {
	ok := make([]bool, len(steps))
	co.fanOut(len(steps), func(i int) {
		s := steps[i]
		if _, err := co.c.Apply(ctx, fsm.CmdStepSkip, fsm.StepSkip{TxnID: t.ID, Node: s.Node}); err != nil {
			co.log.Warn("step skip not committed", "txn", t.ID, "node", s.Node, "error", err)
			return
		}
		ok[i] = true
		co.log.Info("step skipped: the node already runs the target", "txn", t.ID, "node", s.Node, "version", t.TargetVersion)
		co.opts.Metrics.IncrCounter([]string{"coordinator", "steps", "skipped"}, 1)
	})
	return !slices.Contains(ok, false)
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
