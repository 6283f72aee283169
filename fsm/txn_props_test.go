package fsm

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	propSeed      = 20260102
	propSequences = 300
	propCommands  = 80
)

// TestRandomCommandSequences applies random, mostly plausible command
// sequences to a five-member cluster and checks after every command that two
// states given the same log agree, that a rejection changes nothing, that a
// snapshot restores the same state, and that invariants I1, I3, I6 and I8
// hold. A failing sequence is replayed by its name: seed propSeed, stream =
// the sequence number.
func TestRandomCommandSequences(t *testing.T) {
	var logged atomic.Bool
	for seq := range propSequences {
		t.Run(fmt.Sprintf("seq-%03d", seq), func(t *testing.T) {
			t.Parallel()
			var trace []string
			defer func() {
				if t.Failed() && logged.CompareAndSwap(false, true) {
					t.Logf("commands of a failing sequence:\n%s", strings.Join(trace, "\n"))
				}
			}()
			runRandomSequence(t, rand.New(rand.NewPCG(propSeed, uint64(seq))), &trace)
		})
	}
}

func fiveMembers() *State {
	s := NewState(1)
	for _, m := range roster() {
		s.Members[m.ID] = m
	}
	return s
}

// roster is the five members as they first joined; departed members rejoin
// with these records.
func roster() []Member {
	out := make([]Member, 0, 5)
	for i := 1; i <= 5; i++ {
		m := member(fmt.Sprintf("n%d", i), fmt.Sprint(7000+i), fmt.Sprint(8000+i))
		m.Protocol = ProtocolRange{Min: 1, Max: 2}
		out = append(out, m)
	}
	return out
}

func runRandomSequence(t *testing.T, r *rand.Rand, trace *[]string) {
	a, b := fiveMembers(), fiveMembers()
	g := &commandGen{r: r, s: a}
	attempts := map[string]uint64{} // txn/node -> highest attempt seen
	now := t0
	for i := range propCommands {
		typ, body := g.next()
		now = now.Add(time.Duration(1+r.IntN(600)) * time.Second)
		e := envelopeAt(t, typ, now, body)
		*trace = append(*trace, fmt.Sprintf("%3d %s %s", i, typ, e.Data))
		index := uint64(i + 1)

		before := a.Clone()
		errA := a.Apply(index, e)
		errB := b.Apply(index, e)
		*trace = append(*trace, fmt.Sprint("    -> ", errA))
		if fmt.Sprint(errA) != fmt.Sprint(errB) {
			t.Fatalf("command %d: same log, different outcomes: %v and %v", i, errA, errB)
		}
		sameState(t, a, b, "command %d: same log, same state", i)
		if errA != nil {
			before.Index = index
			sameState(t, before, a, "command %d: a rejected command changes nothing but the index", i)
		} else {
			checkAccepted(t, i, before, a, typ, body)
		}
		checkInvariants(t, i, a, attempts)
		checkSnapshot(t, i, a)
		if a.ProtocolVersion < before.ProtocolVersion {
			t.Fatalf("command %d: the active protocol fell from %d to %d", i, before.ProtocolVersion, a.ProtocolVersion)
		}
	}
	snapA, err := a.MarshalSnapshot()
	require.NoError(t, err)
	snapB, err := b.MarshalSnapshot()
	require.NoError(t, err)
	require.Equal(t, string(snapA), string(snapB), "equal states, equal snapshots")
}

// checkAccepted checks what an accepted command of each kind must imply;
// only member.join may add a member to the catalogue.
func checkAccepted(t *testing.T, i int, before, after *State, typ CommandType, body any) {
	t.Helper()
	switch c := body.(type) {
	case StepBegin:
		tx := before.Txns[c.TxnID]
		if c.Rollback {
			require.True(t, tx.State == TxnAborting && tx.RollbackRequested, "command %d: rollback began in a %s transaction", i, tx.State)
		} else {
			require.Equal(t, TxnRunning, tx.State, "command %d: I8: a step began in a %s transaction", i, tx.State)
		}
		require.Equal(t, StepRunning, after.Txns[c.TxnID].Step(c.Node).State)
	case TxnFinalize:
		for _, m := range after.MemberList() {
			require.True(t, m.Protocol.Supports(after.ProtocolVersion),
				"command %d: I6: finalized to protocol %d, which %s does not speak", i, after.ProtocolVersion, m.ID)
		}
		for _, st := range after.Txns[c.TxnID].Steps {
			require.Equal(t, StepDone, st.State, "command %d: finalized with step %s %s", i, st.Node, st.State)
		}
	case StepSkip:
		tx := after.Txns[c.TxnID]
		require.Equal(t, TxnRunning, before.Txns[c.TxnID].State, "command %d: I8: a step skipped in a %s transaction", i, before.Txns[c.TxnID].State)
		require.Equal(t, tx.TargetVersion, after.Members[c.Node].Version, "command %d: skipped %s, which does not run the target", i, c.Node)
		require.True(t, tx.Step(c.Node).Skipped)
	case TxnControl:
		if typ == CmdTxnHalt {
			tx := after.Txns[c.TxnID]
			require.Equal(t, TxnRollbackFailed, tx.State)
			require.Zero(t, tx.Count(StepRunning), "command %d: halted with a step running", i)
			for _, st := range tx.Steps {
				require.False(t, NeedsRollback(st), "command %d: halted with %s still to roll back", i, st.Node)
			}
		}
	case TxnStart:
		require.Equal(t, c.Txn.ID, after.Active)
		require.Empty(t, before.Active, "command %d: I1: started while %s was active", i, before.Active)
	}
	if typ == CmdMemberJoin {
		return
	}
	for id := range after.Members {
		if _, ok := before.Members[id]; !ok {
			require.Failf(t, "member appeared", "command %d: %s added member %q to the catalogue", i, typ, id)
		}
	}
}

func checkInvariants(t *testing.T, i int, s *State, attempts map[string]uint64) {
	t.Helper()
	for id, m := range s.Members {
		if id != m.ID || ValidateMember(m) != nil {
			t.Fatalf("command %d: member record filed under %q is %+v", i, id, m)
		}
	}

	// I1: at most one active transaction, and Active names it.
	var live []string
	for _, id := range s.TxnOrder {
		tx, ok := s.Txns[id]
		if !ok {
			t.Fatalf("command %d: ordered transaction %s is missing", i, id)
		}
		if !tx.State.Terminal() {
			live = append(live, id)
		}
		checkTxn(t, i, tx, attempts)
	}
	if len(live) > 1 || (s.Active == "") != (len(live) == 0) || (s.Active != "" && live[0] != s.Active) {
		t.Fatalf("command %d: I1: active %q, non-terminal transactions %v", i, s.Active, live)
	}
	if len(s.Txns) != len(s.TxnOrder) || len(s.TxnOrder) > MaxHistory+1 {
		t.Fatalf("command %d: %d transactions, %d in order", i, len(s.Txns), len(s.TxnOrder))
	}
}

func checkTxn(t *testing.T, i int, tx *Txn, attempts map[string]uint64) {
	t.Helper()
	running := tx.Count(StepRunning)
	// I3: never more than max-parallel steps at once.
	if running > tx.MaxParallel {
		t.Fatalf("command %d: I3: %d steps of %s run, max-parallel is %d", i, running, tx.ID, tx.MaxParallel)
	}
	terminal := tx.State == TxnDone || tx.State == TxnAborted
	if terminal && running > 0 {
		t.Fatalf("command %d: a step runs in %s transaction %s", i, tx.State, tx.ID)
	}
	if terminal == tx.FinishedAt.IsZero() {
		t.Fatalf("command %d: %s transaction %s has end time %v", i, tx.State, tx.ID, tx.FinishedAt)
	}
	if (tx.State == TxnFinalizing || tx.State == TxnDone) && tx.Count(StepDone) != len(tx.Steps) {
		t.Fatalf("command %d: %s transaction %s with steps not done", i, tx.State, tx.ID)
	}
	for _, st := range tx.Steps {
		key := tx.ID + "/" + st.Node
		if len(st.Attempts) > MaxAttempts || (len(st.Attempts) > 0 && st.Attempts[len(st.Attempts)-1].Attempt != st.Attempt) {
			t.Fatalf("command %d: step %s keeps attempts %+v at attempt %d", i, key, st.Attempts, st.Attempt)
		}
		if st.State == StepRunning && st.Attempts[len(st.Attempts)-1].State != StepRunning {
			t.Fatalf("command %d: running step %s has its current attempt %s", i, key, st.Attempts[len(st.Attempts)-1].State)
		}
		if st.Skipped && st.State != StepDone {
			t.Fatalf("command %d: skipped step %s is %s", i, key, st.State)
		}
		if st.Attempt < attempts[key] {
			t.Fatalf("command %d: attempt of %s fell from %d to %d", i, key, attempts[key], st.Attempt)
		}
		attempts[key] = st.Attempt
		if st.State == StepRunning && st.Attempt == 0 {
			t.Fatalf("command %d: %s runs attempt 0", i, key)
		}
		want := tx.TargetVersion
		if st.Rollback {
			want = st.PriorVersion
		}
		if st.ToVersion != want {
			t.Fatalf("command %d: step %s (rollback %v) aims at %q, not %q", i, key, st.Rollback, st.ToVersion, want)
		}
	}
}

func checkSnapshot(t *testing.T, i int, s *State) {
	t.Helper()
	snap, err := s.MarshalSnapshot()
	require.NoError(t, err)
	restored, err := UnmarshalSnapshot(snap)
	require.NoError(t, err)
	require.NoError(t, restored.Validate(), "command %d: a reachable state must validate", i)
	sameState(t, s, restored, "command %d: snapshot round trip", i)
}

// sameState is require.Equal without its cost when the states are equal,
// which they nearly always are.
func sameState(t *testing.T, want, got *State, format string, args ...any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		require.Equal(t, want, got, fmt.Sprintf(format, args...))
	}
}

// commandGen draws commands with mostly plausible arguments from the state
// they are about to be applied to: the latest transaction, steps in the
// state a command needs, the current attempt; now and then something wrong.
type commandGen struct {
	r    *rand.Rand
	s    *State
	txns int
}

type weighted struct {
	weight int
	gen    func() (CommandType, any)
}

func (g *commandGen) next() (CommandType, any) {
	if g.s.Active == "" && g.chance(0.5) {
		return g.start()
	}
	// The protocol-3 commands fit only rare states: take them often when
	// they do.
	if tx := g.s.ActiveTxn(); tx != nil && g.chance(0.4) {
		switch {
		case tx.State == TxnRollbackFailed:
			return g.recover()
		case tx.State == TxnAborting && CheckHalt(tx) == nil:
			return g.halt()
		case tx.State == TxnRunning && g.skippable(tx):
			return g.skip()
		}
	}
	choices := []weighted{
		{6, g.start}, {30, g.begin}, {22, g.complete}, {5, g.fail},
		{2, g.control(CmdTxnPause)}, {3, g.control(CmdTxnResume)}, {4, g.control(CmdTxnRetry)},
		{2, g.control(CmdTxnNote)}, {2, g.abort}, {5, g.finish}, {6, g.finalize},
		{3, g.report}, {3, g.leave}, {3, g.join},
		{3, g.skip}, {3, g.halt}, {3, g.recover},
	}
	total := 0
	for _, c := range choices {
		total += c.weight
	}
	n := g.r.IntN(total)
	for _, c := range choices {
		if n < c.weight {
			return c.gen()
		}
		n -= c.weight
	}
	panic("unreachable")
}

func (g *commandGen) chance(p float64) bool { return g.r.Float64() < p }

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// txnID names the latest transaction most of the time, else an older or an
// unknown one.
func (g *commandGen) txnID() string {
	switch {
	case len(g.s.TxnOrder) == 0 || g.chance(0.05):
		return "ghost"
	case g.chance(0.1):
		return pick(g.r, g.s.TxnOrder)
	default:
		return g.s.LatestTxn().ID
	}
}

// step picks a step of tx, preferring one that want accepts; nil when tx
// has none.
func (g *commandGen) step(tx *Txn, want func(Step) bool) *Step {
	if tx == nil || len(tx.Steps) == 0 {
		return nil
	}
	var good []Step
	for _, st := range tx.Steps {
		if want(st) {
			good = append(good, st)
		}
	}
	if len(good) > 0 && g.chance(0.9) {
		st := pick(g.r, good)
		return &st
	}
	st := pick(g.r, tx.Steps)
	return &st
}

func (g *commandGen) node(st *Step) string {
	if st == nil || g.chance(0.04) {
		return pick(g.r, []string{"n1", "n3", "n5", "n9"})
	}
	return st.Node
}

// attempt is usually right: cur+next, else off by one or zero.
func (g *commandGen) attempt(st *Step, next uint64) uint64 {
	cur := uint64(0)
	if st != nil {
		cur = st.Attempt
	}
	if g.chance(0.85) {
		return cur + next
	}
	return pick(g.r, []uint64{0, cur, cur + 1, cur + 2})
}

func (g *commandGen) start() (CommandType, any) {
	g.txns++
	tx := Txn{ID: fmt.Sprintf("tx-%d", g.txns), TargetVersion: pick(g.r, []string{"2.0.0", "2.1.0", "3.0.0-rc.1"}),
		Strategy: "by-id", MaxParallel: 1 + g.r.IntN(3), OnFailure: pick(g.r, []string{OnFailureHalt, OnFailureRollback}),
		StepTimeout: Duration(time.Minute), ProgressDeadline: Duration(10 * time.Minute)}
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	g.r.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
	batch := 0
	for i, n := range nodes[:1+g.r.IntN(len(nodes))] {
		if i > 0 && g.chance(0.5) {
			batch++
		}
		tx.Steps = append(tx.Steps, Step{Node: n, Batch: batch})
	}
	if g.chance(0.15) {
		switch g.r.IntN(6) {
		case 0:
			tx.MaxParallel = 0
		case 1:
			tx.TargetVersion = "latest"
		case 2:
			tx.OnFailure = "shrug"
		case 3:
			tx.Steps = append(tx.Steps, tx.Steps[0])
		case 4:
			tx.Steps[0].Batch = 1
		case 5:
			if len(g.s.TxnOrder) > 0 {
				tx.ID = pick(g.r, g.s.TxnOrder)
			}
		}
	}
	return CmdTxnStart, TxnStart{Txn: tx}
}

func (g *commandGen) begin() (CommandType, any) {
	id := g.txnID()
	tx := g.s.Txns[id]
	rollback := false
	var st *Step
	if tx != nil && tx.State == TxnAborting && tx.RollbackRequested && g.chance(0.85) {
		rollback = true
		st = g.step(tx, func(s Step) bool { return s.State == StepDone || s.State == StepFailed })
	} else {
		rollback = g.chance(0.05)
		cur := -1
		if tx != nil {
			cur = tx.CurrentBatch()
		}
		st = g.step(tx, func(s Step) bool { return s.State == StepPending && s.Batch == cur })
	}
	return CmdStepBegin, StepBegin{TxnID: id, Node: g.node(st), Attempt: g.attempt(st, 1), Rollback: rollback}
}

func isRunning(s Step) bool { return s.State == StepRunning }

func (g *commandGen) complete() (CommandType, any) {
	id := g.txnID()
	st := g.step(g.s.Txns[id], isRunning)
	version := "9.9.9"
	if st != nil {
		switch {
		case g.chance(0.85):
			version = st.ToVersion
		case g.chance(0.5):
			version = st.PriorVersion
		}
	}
	return CmdStepComplete, StepComplete{TxnID: id, Node: g.node(st), Attempt: g.attempt(st, 0), Version: version}
}

func (g *commandGen) fail() (CommandType, any) {
	id := g.txnID()
	st := g.step(g.s.Txns[id], isRunning)
	msg := "hook failed"
	if g.chance(0.1) {
		msg = ""
	}
	return CmdStepFail, StepFail{TxnID: id, Node: g.node(st), Attempt: g.attempt(st, 0), Error: msg}
}

func (g *commandGen) control(typ CommandType) func() (CommandType, any) {
	return func() (CommandType, any) {
		return typ, TxnControl{TxnID: g.txnID(), Reason: pick(g.r, []string{"", "operator says so"})}
	}
}

func (g *commandGen) abort() (CommandType, any) {
	return CmdTxnAbort, TxnAbort{TxnID: g.txnID(), Rollback: g.chance(0.5), Reason: pick(g.r, []string{"", "bad build"})}
}

func (g *commandGen) finish() (CommandType, any) {
	return CmdTxnFinish, TxnFinish{TxnID: g.txnID(), Reason: pick(g.r, []string{"", "rolled back"})}
}

func (g *commandGen) finalize() (CommandType, any) {
	p := g.s.ProtocolVersion + pick(g.r, []int{0, 0, 0, 1, 1, 1, -1, 2})
	return CmdTxnFinalize, TxnFinalize{TxnID: g.txnID(), ProtocolVersion: p}
}

// skip names a pending step of the current batch, usually one whose node
// runs the target.
func (g *commandGen) skip() (CommandType, any) {
	id := g.txnID()
	tx := g.s.Txns[id]
	cur := -1
	if tx != nil {
		cur = tx.CurrentBatch()
	}
	st := g.step(tx, func(s Step) bool {
		return s.State == StepPending && s.Batch == cur && g.s.Members[s.Node].Version == tx.TargetVersion
	})
	return CmdStepSkip, StepSkip{TxnID: id, Node: g.node(st)}
}

// skippable reports whether a pending step of tx's current batch has a
// node that runs the target.
func (g *commandGen) skippable(tx *Txn) bool {
	for _, st := range tx.BatchSteps(tx.CurrentBatch()) {
		if st.State == StepPending && g.s.Members[st.Node].Version == tx.TargetVersion {
			return true
		}
	}
	return false
}

func (g *commandGen) halt() (CommandType, any) {
	return CmdTxnHalt, TxnControl{TxnID: g.txnID()}
}

func (g *commandGen) recover() (CommandType, any) {
	return CmdTxnRecover, TxnRecover{TxnID: g.txnID(), Rollback: g.chance(0.5)}
}

func (g *commandGen) report() (CommandType, any) {
	return CmdMemberReport, MemberReport{ID: pick(g.r, roster()).ID, Version: pick(g.r, []string{"1.0.0", "2.0.0", "2.1.0"}),
		Protocol: pick(g.r, []ProtocolRange{{1, 2}, {1, 2}, {1, 3}, {1, 1}, {2, 3}})}
}

func (g *commandGen) leave() (CommandType, any) {
	return CmdMemberLeave, MemberLeave{ID: pick(g.r, roster()).ID}
}

func (g *commandGen) join() (CommandType, any) {
	m := pick(g.r, roster())
	m.Protocol = pick(g.r, []ProtocolRange{{1, 2}, {1, 3}, {2, 3}})
	return CmdMemberJoin, MemberJoin{Member: m}
}
