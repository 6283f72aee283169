package checker

import (
	"fmt"

	"github.com/baton-upgrade/baton/jepsen/history"
)

// CheckOneActive checks I1: the committed log never starts a transaction
// while another is active, nor accepts a command the transaction's state
// should refuse; no agent ever showed two active transactions in one list;
// and at the end at most one is active.
func CheckOneActive(in Input) Result {
	r := newReplay(in)
	checked := r.counts["I1"]
	if v := r.found["I1"]; v != nil {
		return verdict(checked, v)
	}
	for _, op := range in.Ops {
		if op.Kind != history.KindList || op.Type != history.OK {
			continue
		}
		checked++
		var active []string
		for _, t := range op.Results {
			if t.State.Active() {
				active = append(active, fmt.Sprintf("%s (%s)", t.ID, t.State))
			}
		}
		if len(active) > 1 {
			return verdict(checked, &Violation{At: op.Complete, Nodes: []string{op.Node},
				What: fmt.Sprintf("a list read from %s shows %d active transactions: %v", op.Node, len(active), active)})
		}
	}
	var active []string
	for _, t := range in.Final {
		if t.State.Active() {
			active = append(active, t.ID)
		}
	}
	if len(active) > 1 {
		return verdict(checked, &Violation{At: in.End, What: fmt.Sprintf("the final state has %d active transactions: %v", len(active), active)})
	}
	return verdict(checked, nil)
}

// CheckNoBeginAfterAbort checks I8: the log never begins an upgrade step of
// a transaction that is not running (in particular after its abort
// committed), nor a rollback outside an aborting transaction; and every
// install in the hook journal belongs to an upgrade attempt whose begin was
// committed (proposed, at least) before the install started: the
// write-ahead intent.
func CheckNoBeginAfterAbort(in Input) Result {
	r := newReplay(in)
	checked := r.counts["I8"]
	if v := r.found["I8"]; v != nil {
		return verdict(checked, v)
	}
	for _, run := range installRuns(in) {
		checked++
		t := r.txns[run.Txn]
		var begin history.Event
		found := false
		if t != nil {
			if s := t.steps[run.Node]; s != nil {
				begin, found = s.begunAt[run.Attempt]
			}
		}
		switch {
		case !found:
			return verdict(checked, &Violation{At: run.Began, Txn: run.Txn, Nodes: []string{run.Node},
				What: fmt.Sprintf("install of attempt %d ran without a committed step.begin", run.Attempt)})
		case begin.Rollback:
			return verdict(checked, &Violation{At: run.Began, Txn: run.Txn, Nodes: []string{run.Node},
				What: fmt.Sprintf("install ran for attempt %d, which was begun as a rollback", run.Attempt)})
		case run.Began.Before(begin.Time):
			return verdict(checked, &Violation{At: run.Began, Txn: run.Txn, Nodes: []string{run.Node},
				What: fmt.Sprintf("install of attempt %d began before its step.begin (raft index %d) was proposed at %s",
					run.Attempt, begin.Index, begin.Time.UTC().Format("15:04:05.000"))})
		}
	}
	return verdict(checked, nil)
}
