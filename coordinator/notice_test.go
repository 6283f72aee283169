package coordinator

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// TestLateNoticeReachesTheCatalogue: a step failed at its deadline whose
// node finished it after all. The notice is refused as stale, and the
// transaction's decision stands, but the catalogue learns what the node
// runs.
func TestLateNoticeReachesTheCatalogue(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", StepTimeout: "1m"})
	h.drive()
	h.c.advance(61 * time.Second)
	h.drive()
	require.Equal(t, fsm.TxnFailed, h.txn().State)

	err := h.co.Notice(h.ctx, api.Notice{TxnID: h.txnID, Node: "n2", Attempt: 1, State: api.StepDone, Version: "2.0.0"})
	require.ErrorIs(t, err, fsm.ErrStale, "the node learns that its notice came too late")
	st := h.c.FSM().Read()
	require.Equal(t, "2.0.0", st.Members["n2"].Version, "what the node runs reached the catalogue")
	require.Equal(t, fsm.ProtocolRange{Min: 1, Max: 1}, st.Members["n2"].Protocol)
	txn := h.txn()
	require.Equal(t, fsm.TxnFailed, txn.State, "the transaction's decision stands")
	require.Equal(t, fsm.StepFailed, txn.Step("n2").State)
	require.Len(t, h.logs.records(t, "version from a completion notice recorded"), 1)

	// The notice sent again changes nothing more.
	before := h.c.FSM().Read().Index
	require.ErrorIs(t, h.co.Notice(h.ctx, api.Notice{TxnID: h.txnID, Node: "n2", Attempt: 1, State: api.StepDone, Version: "2.0.0"}), fsm.ErrStale)
	require.Equal(t, before+1, h.c.FSM().Read().Index, "only the refused notice was proposed")
}

// TestLateNoticeIsSentAgainWhenTheReportDoesNotCommit: a report lost for
// want of a leader fails the notice, so that its node sends it again.
func TestLateNoticeIsSentAgainWhenTheReportDoesNotCommit(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", StepTimeout: "1m"})
	h.drive()
	h.c.advance(61 * time.Second)
	h.drive()
	h.c.applyErr[fsm.CmdMemberReport] = fmt.Errorf("%w: leadership lost", api.ErrNoLeader)
	err := h.co.Notice(h.ctx, api.Notice{TxnID: h.txnID, Node: "n2", Attempt: 1, State: api.StepDone, Version: "2.0.0"})
	require.ErrorIs(t, err, api.ErrNoLeader)
	require.Equal(t, "1.0.0", h.c.FSM().Read().Members["n2"].Version)
}

func TestNoticeReport(t *testing.T) {
	// s: tx1 upgraded n1 (done), failed n2 at attempt 2 (attempt 1 failed
	// before), never began n3; tx0 before it had n2 at attempt 1.
	build := func(t *testing.T) *fsm.State {
		c := newFakeCluster(t, "n1", members(3)...)
		apply := func(typ fsm.CommandType, body any) {
			_, err := c.Apply(t.Context(), typ, body)
			require.NoError(t, err)
		}
		start := func(id string, steps ...fsm.Step) {
			apply(fsm.CmdTxnStart, fsm.TxnStart{Txn: fsm.Txn{ID: id, TargetVersion: "2.0.0", Strategy: "by-id", MaxParallel: 3,
				OnFailure: fsm.OnFailureHalt, StepTimeout: fsm.Duration(time.Minute), ProgressDeadline: fsm.Duration(time.Hour), Steps: steps}})
		}
		start("tx0", fsm.Step{Node: "n2"})
		apply(fsm.CmdStepBegin, fsm.StepBegin{TxnID: "tx0", Node: "n2", Attempt: 1})
		apply(fsm.CmdTxnAbort, fsm.TxnAbort{TxnID: "tx0"})
		apply(fsm.CmdStepFail, fsm.StepFail{TxnID: "tx0", Node: "n2", Attempt: 1, Error: "aborted"})
		apply(fsm.CmdTxnFinish, fsm.TxnFinish{TxnID: "tx0"})
		start("tx1", fsm.Step{Node: "n1"}, fsm.Step{Node: "n2"}, fsm.Step{Node: "n3"})
		apply(fsm.CmdStepBegin, fsm.StepBegin{TxnID: "tx1", Node: "n1", Attempt: 1})
		apply(fsm.CmdStepComplete, fsm.StepComplete{TxnID: "tx1", Node: "n1", Attempt: 1, Version: "2.0.0"})
		apply(fsm.CmdStepBegin, fsm.StepBegin{TxnID: "tx1", Node: "n2", Attempt: 1})
		apply(fsm.CmdStepFail, fsm.StepFail{TxnID: "tx1", Node: "n2", Attempt: 1, Error: "deadline"})
		apply(fsm.CmdTxnRetry, fsm.TxnControl{TxnID: "tx1"})
		apply(fsm.CmdStepBegin, fsm.StepBegin{TxnID: "tx1", Node: "n2", Attempt: 2})
		apply(fsm.CmdStepFail, fsm.StepFail{TxnID: "tx1", Node: "n2", Attempt: 2, Error: "deadline"})
		return c.FSM().Read()
	}
	s := build(t)
	notice := func(txn, node string, attempt uint64, state api.StepState, version string) api.Notice {
		return api.Notice{TxnID: txn, Node: node, Attempt: attempt, State: state, Version: version}
	}
	for _, tc := range []struct {
		name string
		n    api.Notice
		want string // the version reported, "" for none
	}{
		{"the current attempt finished after its deadline", notice("tx1", "n2", 2, api.StepDone, "2.0.0"), "2.0.0"},
		{"the current attempt failed, its version hook printed another version", notice("tx1", "n2", 2, api.StepFailed, "1.5.0"), "1.5.0"},
		{"a notice the catalogue already agrees with", notice("tx1", "n1", 1, api.StepDone, "2.0.0"), ""},
		{"an older attempt: a later one began on the node since", notice("tx1", "n2", 1, api.StepDone, "2.0.0"), ""},
		{"an earlier transaction's attempt", notice("tx0", "n2", 1, api.StepDone, "2.0.0"), ""},
		{"a notice without a version", notice("tx1", "n2", 2, api.StepFailed, ""), ""},
		{"a version that is not one", notice("tx1", "n2", 2, api.StepFailed, "command not found"), ""},
		{"an unknown member", notice("tx1", "n9", 1, api.StepDone, "2.0.0"), ""},
		{"an unknown transaction (trimmed from the history)", notice("tx9", "n2", 1, api.StepDone, "2.0.0"), ""},
		{"a step never begun", notice("tx1", "n3", 0, api.StepDone, "2.0.0"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := NoticeReport(s, tc.n)
			if tc.want == "" {
				require.False(t, ok, "%+v", got)
				return
			}
			require.True(t, ok)
			require.Equal(t, fsm.MemberReport{ID: tc.n.Node, Version: tc.want, Protocol: s.Members[tc.n.Node].Protocol}, got)
		})
	}
}

// A failure notice with a huge error is committed with the error cut to
// fsm.MaxReasonLen, not refused: the step gets its outcome.
func TestFailureNoticeErrorIsCutToTheLimit(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})
	h.drive()
	huge := strings.Repeat("é", 300<<10)
	require.NoError(t, h.co.Notice(h.ctx, api.Notice{TxnID: h.txnID, Node: "n2", Attempt: 1, State: api.StepFailed, Error: huge}))
	txn := h.txn()
	require.Equal(t, fsm.StepFailed, txn.Step("n2").State)
	errText := txn.Step("n2").Error
	require.LessOrEqual(t, len(errText), fsm.MaxReasonLen)
	require.True(t, utf8.ValidString(errText))
	require.True(t, strings.HasSuffix(errText, "(cut)"))
	require.LessOrEqual(t, len(txn.Reason), fsm.MaxReasonLen+200)
}
