package checker

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/rpc/api"
)

// The linearizability model is the transaction state machine at a coarse
// grain: each transaction's state (running, paused, failed, finalizing,
// done, aborting, rollback-failed, aborted) and which one is active. Its writes are the
// committed commands that change a transaction's state or that a client
// sent, taken from the log: each happened at its commit, some time between
// its proposal (the leader's stamp) and the moment the first agent's event
// stream delivered it, and within its client's call when a client's
// acknowledged operation sent it. The model's state is how many of these
// writes have taken effect, so writes take effect in log order; the states
// they leave are replayed from the log. Consistent reads (a transaction, the
// active one, the list) and definite refusals (409: "not running", "already
// active") must each match the state at some point within their own call,
// in an order that respects real time. Writes whose outcome a client never
// learned need no special care: if they took effect they are in the log.
//
// An acknowledged client write that is not in the log is a lost write and
// fails the check before porcupine runs.

type linKind int

const (
	linWrite linKind = iota
	linRead
	linReadActive
	linList
	linRefused
)

type linInput struct {
	kind   linKind
	seq    int    // linWrite: place in the log order, from 1
	txn    string // linWrite, linRead, linRefused
	action string // linRefused: the client's action
	what   string // description for the visualization
	node   string // the agent a client's operation went to
}

type linOutput struct {
	found  bool
	state  api.TxnState
	active string                  // linReadActive: the active transaction's id
	list   map[string]api.TxnState // linList: id -> state
}

// linView answers what the replayed log says after k writes.
type linView struct {
	changes []change
	byTxn   map[string][]int // txn -> indexes into changes, ascending
}

func newLinView(changes []change) *linView {
	v := &linView{changes: changes, byTxn: map[string][]int{}}
	for i, c := range changes {
		v.byTxn[c.txn] = append(v.byTxn[c.txn], i)
	}
	return v
}

// state is txn's state after k writes, "" before it started.
func (v *linView) state(txn string, k int) api.TxnState {
	idx := v.byTxn[txn]
	i := sort.Search(len(idx), func(i int) bool { return idx[i] >= k }) - 1
	if i < 0 {
		return ""
	}
	return v.changes[idx[i]].state
}

// active is the active transaction after k writes.
func (v *linView) active(k int) string {
	if k == 0 {
		return ""
	}
	return v.changes[k-1].active
}

func (v *linView) started(k int) []string {
	var out []string
	for id, idx := range v.byTxn {
		if idx[0] < k {
			out = append(out, id)
		}
	}
	return out
}

// matches reports whether an operation's input and output fit the state
// after k writes.
func (v *linView) matches(k int, in linInput, out linOutput) bool {
	switch in.kind {
	case linRead:
		st := v.state(in.txn, k)
		if !out.found {
			return st == ""
		}
		return st == out.state
	case linReadActive:
		a := v.active(k)
		if !out.found {
			return a == ""
		}
		return a == out.active && v.state(a, k) == out.state
	case linList:
		for _, id := range v.started(k) {
			if _, ok := out.list[id]; !ok && len(out.list) < api.MaxHistory {
				return false
			}
		}
		for id, st := range out.list {
			if v.state(id, k) != st {
				return false
			}
		}
		return true
	case linRefused:
		return refusalFits(in.action, v.state(in.txn, k), v.active(k))
	}
	return false
}

// refusalFits reports whether the state machine would refuse action with a
// conflict when the transaction is in state st and active is active.
func refusalFits(action string, st api.TxnState, active string) bool {
	switch action {
	case history.KindStart:
		return active != ""
	case history.KindPause:
		return st != api.TxnRunning
	case history.KindResume:
		return st != api.TxnPaused
	case history.KindRetry:
		return st != api.TxnFailed && st != api.TxnRollbackFailed
	case history.KindAbort:
		return st.Terminal()
	}
	return false
}

func (v *linView) model() porcupine.Model {
	return porcupine.Model{
		Init: func() any { return 0 },
		Step: func(state, input, output any) (bool, any) {
			k, in := state.(int), input.(linInput)
			if in.kind == linWrite {
				return in.seq == k+1, in.seq
			}
			return v.matches(k, in, output.(linOutput)), k
		},
		Equal: func(a, b any) bool { return a.(int) == b.(int) },
		DescribeOperation: func(input, output any) string {
			in, out := input.(linInput), output.(linOutput)
			switch in.kind {
			case linWrite:
				return in.what
			case linRead:
				if !out.found {
					return fmt.Sprintf("read %s -> not found", in.txn)
				}
				return fmt.Sprintf("read %s -> %s", in.txn, out.state)
			case linReadActive:
				if !out.found {
					return "read active -> none"
				}
				return fmt.Sprintf("read active -> %s %s", out.active, out.state)
			case linList:
				return fmt.Sprintf("list -> %d transactions", len(out.list))
			}
			return in.what
		},
		DescribeState: func(state any) string {
			k := state.(int)
			if a := v.active(k); a != "" {
				return fmt.Sprintf("after %d writes: %s %s", k, a, v.state(a, k))
			}
			return fmt.Sprintf("after %d writes: none active", k)
		},
	}
}

// clientCommand lists the commands a client's write may commit: a retry
// is txn.retry, or, of a rollback-failed transaction, txn.recover.
var clientCommand = map[string][]api.EventType{
	history.KindStart: {api.EventTxnStart}, history.KindPause: {api.EventTxnPause}, history.KindResume: {api.EventTxnResume},
	history.KindRetry: {api.EventTxnRetry, api.EventTxnRecover}, history.KindAbort: {api.EventTxnAbort},
}

// CheckLinearizable checks that every acknowledged write is in the log and
// that the consistent reads and refusals are linearizable against the log's
// writes (see the model above).
func CheckLinearizable(in Input) Result {
	r := newReplay(in)
	view := newLinView(r.changes)
	windows := make([][2]time.Time, len(r.changes))
	byIndex := map[uint64]int{}
	for i, c := range r.changes {
		from, till := commitWindow(c.event)
		windows[i] = [2]time.Time{from, till}
		byIndex[c.event.Index] = i
	}
	if v := matchAcknowledged(in, byIndex, windows); v != nil {
		return verdict(len(in.Ops), v)
	}
	ops, clients := linOperations(in, view, windows)
	res := checkPorcupine(in, view, ops)
	res.Checked = len(ops)
	res.Note = fmt.Sprintf("%d writes, %d reads and refusals from %d clients; ", len(r.changes), len(ops)-len(r.changes), clients) + res.Note
	return res
}

// matchAcknowledged pairs every acknowledged client write with its command
// in the log (same type and transaction, proposed within the call), and
// narrows that command's window to the call. Calls are served by earliest
// return, each taking the earliest free command in its call: for intervals
// and points that greedy finds a full matching whenever one exists.
func matchAcknowledged(in Input, byIndex map[uint64]int, windows [][2]time.Time) *Violation {
	acked := make([]history.Op, 0)
	for _, op := range in.Ops {
		if op.IsWrite() && op.Type == history.OK {
			acked = append(acked, op)
		}
	}
	sort.Slice(acked, func(i, j int) bool { return acked[i].Complete.Before(acked[j].Complete) })
	claimed := map[uint64]bool{}
	for _, op := range acked {
		types, txn := clientCommand[op.Kind], op.Result().ID
		var match *history.Event
		for i := range in.Commands {
			e := &in.Commands[i]
			if slices.Contains(types, e.Type) && e.Txn == txn && !claimed[e.Index] &&
				!e.Time.Before(op.Invoke) && !e.Time.After(op.Complete) && (match == nil || e.Time.Before(match.Time)) {
				match = e
			}
		}
		if match == nil {
			return &Violation{At: op.Complete, Txn: txn, Nodes: []string{op.Node},
				What: fmt.Sprintf("%s %s via %s (op %d) was acknowledged, but no %s of it was committed within its call",
					op.Kind, txn, op.Via, op.ID, types[0])}
		}
		claimed[match.Index] = true
		if i, ok := byIndex[match.Index]; ok {
			if op.Invoke.After(windows[i][0]) {
				windows[i][0] = op.Invoke
			}
			if op.Complete.Before(windows[i][1]) {
				windows[i][1] = op.Complete
			}
		}
	}
	return nil
}

// linOperations turns the log's writes and the clients' consistent reads
// and definite refusals into porcupine operations.
func linOperations(in Input, view *linView, windows [][2]time.Time) ([]porcupine.Operation, int) {
	var ops []porcupine.Operation
	clientIDs := map[string]int{"raft log": 0}
	for i, c := range view.changes {
		ops = append(ops, porcupine.Operation{ClientId: 0,
			Input: linInput{kind: linWrite, seq: c.seq, txn: c.txn,
				what: fmt.Sprintf("#%d %s %s -> %s", c.event.Index, c.event.Type, short(c.txn), c.state)},
			Call: windows[i][0].UnixNano(), Output: linOutput{}, Return: windows[i][1].UnixNano()})
	}
	for _, op := range in.Ops {
		li, lo, ok := linOf(op)
		if !ok {
			continue
		}
		li.node = op.Node
		id, seen := clientIDs[op.Process]
		if !seen {
			id = len(clientIDs)
			clientIDs[op.Process] = id
		}
		ops = append(ops, porcupine.Operation{ClientId: id, Input: li, Output: lo,
			Call: op.Invoke.UnixNano(), Return: op.Complete.UnixNano(), Metadata: fmt.Sprintf("op %d via %s", op.ID, op.Node)})
	}
	return ops, len(clientIDs) - 1
}

// linOf maps a client operation to the model, when it takes part: a
// consistent read that got an answer, or an API write refused because of
// the transaction's state (a conflict).
func linOf(op history.Op) (linInput, linOutput, bool) {
	switch {
	case op.Kind == history.KindRead && op.Consistent && (op.Type == history.OK || op.Status == 404):
		return linInput{kind: linRead, txn: op.Txn}, linOutput{found: op.Type == history.OK, state: op.Result().State}, true
	case op.Kind == history.KindReadActive && op.Consistent && (op.Type == history.OK || op.Status == 404):
		r := op.Result()
		return linInput{kind: linReadActive}, linOutput{found: op.Type == history.OK, active: r.ID, state: r.State}, true
	case op.Kind == history.KindList && op.Consistent && op.Type == history.OK:
		list := map[string]api.TxnState{}
		for _, t := range op.Results {
			list[t.ID] = t.State
		}
		return linInput{kind: linList}, linOutput{list: list}, true
	case op.IsWrite() && op.Via == history.ViaAPI && op.Type == history.Fail && refusedByState(op):
		if op.Kind != history.KindStart && op.Txn == "" {
			return linInput{}, linOutput{}, false
		}
		return linInput{kind: linRefused, action: op.Kind, txn: op.Txn,
			what: fmt.Sprintf("%s %s refused (409)", op.Kind, short(op.Txn))}, linOutput{}, true
	}
	return linInput{}, linOutput{}, false
}

// refusedByState reports whether a failed write was refused as a conflict
// with the transaction's state, the refusal the model describes. A stale
// refusal (409 too) is not one. Histories recorded before error codes have
// only the status.
func refusedByState(op history.Op) bool {
	return op.Code == api.CodeConflict || op.Code == "" && op.Status == 409
}

func checkPorcupine(in Input, view *linView, ops []porcupine.Operation) Result {
	timeout := in.LinearizabilityTimeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	model := view.model()
	res, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	out := Result{}
	if in.VisualizePath != "" {
		if err := porcupine.VisualizePath(model, info, in.VisualizePath); err != nil {
			out.Note = "visualization not written: " + err.Error() + "; "
		}
	}
	switch res {
	case porcupine.Ok:
		out.Status = Pass
	case porcupine.Unknown:
		out.Status = Unknown
		out.Note += fmt.Sprintf("porcupine gave no answer within %s", timeout)
	default:
		out.Status = Fail
		out.Violation = explain(view, ops, info)
	}
	return out
}

// explain finds a counter-example for a history porcupine refused: the
// earliest read or refusal that fits no state within its call; or, when
// each fits alone, the earliest one that porcupine's longest partial
// linearization could not place (the reads cannot all hold in real-time
// order).
func explain(view *linView, ops []porcupine.Operation, info porcupine.LinearizationInfo) *Violation {
	model := view.model()
	var writes, others []int
	for i, op := range ops {
		if op.Input.(linInput).kind == linWrite {
			writes = append(writes, i)
		} else {
			others = append(others, i)
		}
	}
	sort.Slice(others, func(a, b int) bool { return ops[others[a]].Call < ops[others[b]].Call })
	for _, i := range others {
		op := ops[i]
		lo, hi := feasible(ops, writes, op)
		fits := false
		for k := lo; k <= hi && !fits; k++ {
			fits = view.matches(k, op.Input.(linInput), op.Output.(linOutput))
		}
		if !fits {
			return &Violation{At: time.Unix(0, op.Call), Txn: op.Input.(linInput).txn, Nodes: []string{op.Input.(linInput).node},
				What: fmt.Sprintf("%s (%v) matches no state of the log between its call and its return (after %d..%d writes: %s)",
					model.DescribeOperation(op.Input, op.Output), op.Metadata, lo, hi, describeRange(view, lo, hi))}
		}
	}
	placed := map[int]bool{}
	for _, partition := range info.PartialLinearizations() {
		longest := []int{}
		for _, lin := range partition {
			if len(lin) > len(longest) {
				longest = lin
			}
		}
		for _, i := range longest {
			placed[i] = true
		}
	}
	for _, i := range others {
		if !placed[i] {
			op := ops[i]
			return &Violation{At: time.Unix(0, op.Call), Txn: op.Input.(linInput).txn, Nodes: []string{op.Input.(linInput).node},
				What: fmt.Sprintf("%s (%v) fits some state within its own call, but not after the reads before it in real time "+
					"(no linearization places it; see linearizability.html)", model.DescribeOperation(op.Input, op.Output), op.Metadata)}
		}
	}
	return &Violation{At: time.Unix(0, ops[0].Call), What: "not linearizable (see linearizability.html)"}
}

// feasible is the range of write counts an operation may see: every write
// that returned before the call, and no write that was called after the
// return.
func feasible(ops []porcupine.Operation, writes []int, op porcupine.Operation) (lo, hi int) {
	for _, i := range writes {
		w := ops[i]
		seq := w.Input.(linInput).seq
		if w.Return < op.Call && seq > lo {
			lo = seq
		}
		if w.Call <= op.Return && seq > hi {
			hi = seq
		}
	}
	return lo, max(hi, lo)
}

func describeRange(v *linView, lo, hi int) string {
	var parts []string
	for k := lo; k <= hi && len(parts) < 6; k++ {
		parts = append(parts, strings.TrimPrefix(v.model().DescribeState(k), "after "))
	}
	if hi-lo >= 6 {
		parts = append(parts, "…")
	}
	return strings.Join(parts, "; ")
}

func short(id string) string {
	if len(id) > 12 {
		return id[len(id)-6:]
	}
	return id
}
