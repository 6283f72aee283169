package checker

import (
	"fmt"
	"time"

	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/rpc/api"
)

// replay re-enacts the committed log at the coarse grain the invariants
// speak of: each transaction's state, and each step's attempt, kind
// (upgrade or rollback) and state. It is an independent model of what the
// state machine must do with the commands it accepted; an accepted command
// the model finds out of order is a counter-example.
type replay struct {
	txns     map[string]*replayTxn
	order    []string
	active   string
	protocol int
	found    map[string]*Violation // first counter-example per invariant
	counts   map[string]int        // commands checked per invariant
	// changes lists, in log order, the commands that change a
	// transaction's coarse state (or that a client sent), for the
	// linearizability model.
	changes []change
}

type replayTxn struct {
	id          string
	state       api.TxnState
	known       bool // the final state describes it (policy, steps)
	onFailure   string
	maxParallel int
	steps       map[string]*replayStep
	nsteps      int
	// ring is the failover ring a ring transaction was planned on (from
	// the final read); empty for the other strategies.
	ring []string
}

type replayStep struct {
	attempt   uint64
	rollback  bool
	state     api.StepState
	completed map[uint64]bool // upgrade attempts that completed
	begunAt   map[uint64]history.Event
}

// change is one write of the linearizability model: a command that changes
// a transaction's coarse state or that a client sent, with the states it
// leaves behind.
type change struct {
	seq    int
	event  history.Event
	txn    string
	state  api.TxnState // the transaction's state after the command
	active string       // the active transaction after the command
}

func newReplay(in Input) *replay {
	r := &replay{txns: map[string]*replayTxn{}, found: map[string]*Violation{}, counts: map[string]int{},
		protocol: max(in.InitialProtocol, 1)}
	for _, t := range in.Final {
		rt := r.txn(t.ID)
		rt.known, rt.onFailure, rt.maxParallel, rt.nsteps = true, t.OnFailure, t.MaxParallel, len(t.Steps)
		if t.Strategy == "ring" {
			rt.ring = t.Ring
		}
		for _, s := range t.Steps {
			rt.step(s.Node)
		}
	}
	for _, e := range in.Commands {
		r.apply(e)
	}
	return r
}

func (r *replay) txn(id string) *replayTxn {
	t, ok := r.txns[id]
	if !ok {
		t = &replayTxn{id: id, steps: map[string]*replayStep{}}
		r.txns[id] = t
	}
	return t
}

func (t *replayTxn) step(node string) *replayStep {
	s, ok := t.steps[node]
	if !ok {
		s = &replayStep{state: api.StepPending, completed: map[uint64]bool{}, begunAt: map[uint64]history.Event{}}
		t.steps[node] = s
	}
	return s
}

func (t *replayTxn) count(state api.StepState, rollback bool) int {
	n := 0
	for _, s := range t.steps {
		if s.state == state && s.rollback == rollback {
			n++
		}
	}
	return n
}

func (r *replay) violate(inv string, e history.Event, format string, args ...any) {
	if r.found[inv] != nil {
		return
	}
	nodes := []string{}
	if e.Node != "" {
		nodes = append(nodes, e.Node)
	}
	r.found[inv] = &Violation{At: e.Time, Txn: e.Txn, Nodes: nodes,
		What: fmt.Sprintf("raft index %d (%s): ", e.Index, e.Type) + fmt.Sprintf(format, args...)}
}

// apply re-enacts one committed command.
func (r *replay) apply(e history.Event) {
	if e.Txn == "" {
		return
	}
	t := r.txn(e.Txn)
	before, activeBefore := t.state, r.active
	client := false
	switch e.Type {
	case api.EventTxnStart:
		client = true
		r.counts["I1"]++
		if r.active != "" && r.active != t.id {
			r.violate("I1", e, "transaction %s started while %s was %s", t.id, r.active, r.txns[r.active].state)
		}
		t.state, r.active = api.TxnRunning, t.id
		r.order = append(r.order, t.id)
	case api.EventStepBegin:
		r.begin(t, e)
	case api.EventStepComplete:
		r.complete(t, e)
	case api.EventStepFail:
		r.fail(t, e)
	case api.EventTxnPause:
		client = true
		r.expect(t, e, api.TxnRunning)
		t.state = api.TxnPaused
	case api.EventTxnResume:
		client = true
		r.expect(t, e, api.TxnPaused)
		t.state = api.TxnRunning
	case api.EventTxnRetry:
		client = true
		r.expect(t, e, api.TxnFailed)
		for _, s := range t.steps {
			if s.state == api.StepFailed {
				s.state = api.StepPending
			}
		}
		t.state = api.TxnRunning
	case api.EventTxnAbort:
		client = true
		r.counts["I8"]++
		if t.state.Terminal() {
			r.violate("I8", e, "abort accepted for a transaction already %s", t.state)
		}
		t.state = api.TxnAborting
	case api.EventTxnFinish:
		r.expect(t, e, api.TxnAborting)
		t.state = api.TxnAborted
	case api.EventTxnFinalize:
		r.expect(t, e, api.TxnFinalizing)
		t.state = api.TxnDone
		r.protocol = max(r.protocol, e.Protocol)
	case api.EventStepSkip:
		r.skip(t, e)
	case api.EventTxnHalt:
		r.expect(t, e, api.TxnAborting)
		t.state = api.TxnRollbackFailed
	case api.EventTxnRecover:
		client = true
		r.expect(t, e, api.TxnRollbackFailed)
		r.recover(t, e.Rollback)
	case api.EventSwitchoverFail:
		r.switchoverFail(t) // service.go
	default:
		return
	}
	if t.state.Terminal() && r.active == t.id {
		r.active = ""
	}
	if client || t.state != before || r.active != activeBefore {
		r.changes = append(r.changes, change{seq: len(r.changes) + 1, event: e, txn: t.id, state: t.state, active: r.active})
	}
}

// expect reports (under I1, the invariant of the transaction state machine)
// a command accepted in a state that should have refused it.
func (r *replay) expect(t *replayTxn, e history.Event, want ...api.TxnState) {
	for _, w := range want {
		if t.state == w {
			return
		}
	}
	r.violate("I1", e, "accepted while the transaction was %q (want %v)", t.state, want)
}

func (r *replay) begin(t *replayTxn, e history.Event) {
	s := t.step(e.Node)
	r.counts["I8"]++
	if e.Attempt != s.attempt+1 {
		r.violate("I2", e, "attempt %d of %s begun after attempt %d", e.Attempt, e.Node, s.attempt)
	}
	if e.Rollback {
		if t.state != api.TxnAborting {
			r.violate("I8", e, "rollback of %s begun while the transaction was %s", e.Node, t.state)
		}
	} else {
		if t.state != api.TxnRunning {
			r.violate("I8", e, "step of %s begun while the transaction was %s", e.Node, t.state)
		}
		r.counts["I3"]++
		if t.known && t.count(api.StepRunning, false)+1 > t.maxParallel {
			r.violate("I3", e, "step of %s begun with %d steps already running (max-parallel %d)",
				e.Node, t.count(api.StepRunning, false), t.maxParallel)
		}
	}
	if len(t.ring) > 1 {
		r.counts["I9"]++
		for _, nb := range ringNeighbours(t.ring, e.Node) {
			if ns := t.steps[nb]; ns != nil && ns.state == api.StepRunning {
				r.violate("I9", e, "step of %s begun while the step of %s, its ring neighbour, runs (ring %v)", e.Node, nb, t.ring)
			}
		}
	}
	s.attempt, s.rollback, s.state = e.Attempt, e.Rollback, api.StepRunning
	s.begunAt[e.Attempt] = e
}

func (r *replay) complete(t *replayTxn, e history.Event) {
	s := t.step(e.Node)
	r.counts["I2"]++
	final := api.StepDone
	if s.rollback {
		final = api.StepRolledBack
	}
	if e.Attempt != s.attempt {
		r.violate("I2", e, "stale completion notice accepted: attempt %d of %s, but attempt %d is current", e.Attempt, e.Node, s.attempt)
		return
	}
	if s.state == final {
		return // a repeated notice, accepted without effect
	}
	if s.state != api.StepRunning {
		r.violate("I2", e, "completion notice accepted for %s whose step is %s", e.Node, s.state)
	}
	if !s.rollback {
		if len(s.completed) > 0 {
			r.violate("I2", e, "step of %s completed twice (attempt %d after %v)", e.Node, e.Attempt, keys(s.completed))
		}
		s.completed[e.Attempt] = true
	}
	s.state = final
	if t.known && !s.rollback && t.count(api.StepDone, false) == t.nsteps &&
		(t.state == api.TxnRunning || t.state == api.TxnPaused) {
		t.state = api.TxnFinalizing
	}
}

// skip re-enacts step.skip: a pending step of a running transaction is
// done without an attempt (its node already ran the target).
func (r *replay) skip(t *replayTxn, e history.Event) {
	s := t.step(e.Node)
	r.counts["I8"]++
	if t.state != api.TxnRunning {
		r.violate("I8", e, "step of %s skipped while the transaction was %s", e.Node, t.state)
	}
	if s.state != api.StepPending {
		r.violate("I2", e, "step of %s skipped while it was %s", e.Node, s.state)
	}
	s.state, s.rollback = api.StepDone, false
	if t.known && t.count(api.StepDone, false) == t.nsteps {
		t.state = api.TxnFinalizing
	}
}

// recover re-enacts txn.recover: with rollback, the failed rollbacks are
// to run again; without, every step not done is to upgrade again, and may
// complete again.
func (r *replay) recover(t *replayTxn, rollback bool) {
	for _, s := range t.steps {
		switch {
		case rollback && s.state == api.StepFailed && s.rollback:
			s.state = api.StepPending
		case !rollback && s.state != api.StepDone:
			s.state, s.rollback = api.StepPending, false
			s.completed = map[uint64]bool{}
		}
	}
	t.state = api.TxnAborting
	if !rollback {
		t.state = api.TxnRunning
	}
}

func (r *replay) fail(t *replayTxn, e history.Event) {
	s := t.step(e.Node)
	r.counts["I2"]++
	if e.Attempt != s.attempt {
		r.violate("I2", e, "stale failure notice accepted: attempt %d of %s, but attempt %d is current", e.Attempt, e.Node, s.attempt)
		return
	}
	if s.state == api.StepFailed {
		return
	}
	s.state = api.StepFailed
	switch {
	case t.state == api.TxnAborting:
	case t.onFailure == api.OnFailureRollback:
		t.state = api.TxnAborting
	case t.known:
		t.state = api.TxnFailed
	}
}

func keys(m map[uint64]bool) []uint64 {
	var out []uint64
	for k := range m {
		out = append(out, k)
	}
	return out
}

// commitWindow is when a command committed at the latest: when the first
// agent's stream delivered it (an agent applies only committed entries).
func commitWindow(e history.Event) (from, till time.Time) {
	return e.Time, e.Received
}
