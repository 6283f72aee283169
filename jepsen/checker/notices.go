package checker

import (
	"fmt"

	"github.com/baton-upgrade/baton/rpc/api"
)

// CheckNoticesKept checks I5: every completion notice the leader
// acknowledged to a node is in the committed log, and the final state still
// shows it (a later attempt may have replaced it, a rollback may have
// undone it, a retry may have reset a failure, and a step so reset may
// then have been skipped, at the same attempt, because its node already ran
// the target; nothing may erase a done step of the same attempt).
func CheckNoticesKept(in Input) Result {
	committed := map[string]bool{}
	rollbacks := map[string]bool{} // txn/node/attempt begun as a rollback
	skipped := map[string]bool{}   // txn/node skipped
	for _, e := range in.Commands {
		switch e.Type {
		case api.EventStepBegin:
			if e.Rollback {
				rollbacks[fmt.Sprintf("%s/%s/%d", e.Txn, e.Node, e.Attempt)] = true
			}
		case api.EventStepSkip:
			skipped[e.Txn+"/"+e.Node] = true
		case api.EventStepComplete:
			committed[fmt.Sprintf("%s/%s/%d/%s", e.Txn, e.Node, e.Attempt, api.StepDone)] = true
		case api.EventStepFail:
			committed[fmt.Sprintf("%s/%s/%d/%s", e.Txn, e.Node, e.Attempt, api.StepFailed)] = true
		}
	}
	final := finalTxns(in)
	checked := 0
	for _, a := range in.Acks {
		checked++
		if !committed[fmt.Sprintf("%s/%s/%d/%s", a.Txn, a.Node, a.Attempt, a.State)] {
			return verdict(checked, &Violation{At: a.At, Txn: a.Txn, Nodes: []string{a.Node},
				What: fmt.Sprintf("the %s notice of attempt %d was acknowledged but is not in the committed log", a.State, a.Attempt)})
		}
		t, ok := final[a.Txn]
		if !ok {
			continue
		}
		s := t.Step(a.Node)
		done := api.StepDone
		if rollbacks[fmt.Sprintf("%s/%s/%d", a.Txn, a.Node, a.Attempt)] {
			done = api.StepRolledBack // a rollback's done notice
		}
		switch {
		case s == nil:
			return verdict(checked, &Violation{At: a.At, Txn: a.Txn, Nodes: []string{a.Node},
				What: "acknowledged notice for a step the final state does not have"})
		case s.Attempt < a.Attempt:
			return verdict(checked, &Violation{At: a.At, Txn: a.Txn, Nodes: []string{a.Node},
				What: fmt.Sprintf("acknowledged notice of attempt %d, but the final state is at attempt %d", a.Attempt, s.Attempt)})
		case s.Attempt == a.Attempt && a.State == api.StepDone && s.State != done:
			return verdict(checked, &Violation{At: a.At, Txn: a.Txn, Nodes: []string{a.Node},
				What: fmt.Sprintf("acknowledged done notice of attempt %d, but the final step is %s", a.Attempt, s.State)})
		case s.Attempt == a.Attempt && a.State == api.StepFailed && s.State == api.StepDone && s.Skipped && skipped[a.Txn+"/"+a.Node]:
			// Retried, then skipped: the failed install had taken effect.
		case s.Attempt == a.Attempt && a.State == api.StepFailed && s.State != api.StepFailed && s.State != api.StepPending:
			return verdict(checked, &Violation{At: a.At, Txn: a.Txn, Nodes: []string{a.Node},
				What: fmt.Sprintf("acknowledged failure of attempt %d, but the final step is %s", a.Attempt, s.State)})
		}
	}
	return verdict(checked, nil)
}
