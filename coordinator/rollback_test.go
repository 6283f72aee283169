package coordinator

import (
	"testing"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// fail sends node's failure notice for its current attempt.
func (h *harness) fail(node, msg string) {
	h.t.Helper()
	s := h.txn().Step(node)
	require.Equal(h.t, fsm.StepRunning, s.State, "%s should be running", node)
	require.NoError(h.t, h.co.Notice(h.ctx, api.Notice{TxnID: h.txnID, Node: node, Attempt: s.Attempt, State: api.StepFailed, Error: msg}))
}

// failedRollback runs n2 to done and fails n3 under the rollback policy,
// then fails the rollback of n3 and of n2: nothing is left to roll back.
func failedRollback(t *testing.T, protocol int) *harness {
	t.Helper()
	h := newHarnessAt(t, protocol, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", OnFailure: "rollback"}, nil)
	h.drive()
	h.complete("n2")
	h.drive()
	h.fail("n3", "install exited 3")
	require.Equal(t, fsm.TxnAborting, h.txn().State)
	for _, n := range []string{"n3", "n2"} {
		h.drive()
		require.Equal(t, []string{n}, h.running(), "newest first")
		require.True(t, h.txn().Step(n).Rollback)
		h.fail(n, "rollback exited 4")
	}
	h.drive()
	return h
}

func TestFailedRollbackHaltsAndNamesTheNodes(t *testing.T) {
	h := failedRollback(t, 3)
	txn := h.txn()
	require.Equal(t, fsm.TxnRollbackFailed, txn.State, "a failed rollback does not end as if it had worked")
	require.Regexp(t, `^rollback failed on n2, n3; `, txn.Reason)
	require.Len(t, h.logs.records(t, "rollback failed; the transaction waits for an operator"), 1)
	h.drive()
	require.Equal(t, fsm.TxnRollbackFailed, h.txn().State, "it waits for an operator")
	require.Empty(t, h.running())
}

func TestRetryOfAFailedRollbackRetriesTheRollback(t *testing.T) {
	h := failedRollback(t, 3)
	txn, err := h.co.Control(h.ctx, h.txnID, api.ActionRetry, api.ControlRequest{})
	require.NoError(t, err)
	require.Equal(t, fsm.TxnAborting, txn.State)
	for _, n := range []string{"n3", "n2"} {
		h.drive()
		require.Equal(t, []string{n}, h.running())
		s := h.txn().Step(n)
		require.True(t, s.Rollback)
		require.Equal(t, uint64(3), s.Attempt)
		require.NoError(t, h.co.Notice(h.ctx, api.Notice{TxnID: h.txnID, Node: n, Attempt: 3, State: api.StepDone, Version: "1.0.0"}))
	}
	h.drive()
	txn = h.txn()
	require.Equal(t, fsm.TxnAborted, txn.State)
	require.Contains(t, txn.Reason, "rollback finished")
	require.Equal(t, fsm.StepRolledBack, txn.Step("n2").State)
	require.Len(t, txn.Step("n2").Attempts, 3, "the upgrade, the failed rollback and the rollback")
}

func TestRetryForwardOfAFailedRollbackUpgradesAgain(t *testing.T) {
	h := failedRollback(t, 3)
	txn, err := h.co.Control(h.ctx, h.txnID, api.ActionRetry, api.ControlRequest{Forward: true})
	require.NoError(t, err)
	require.Equal(t, fsm.TxnRunning, txn.State)
	runToEnd(h)
	txn = h.txn()
	require.Equal(t, fsm.TxnDone, txn.State)
	for _, n := range []string{"n1", "n2", "n3"} {
		require.Equal(t, fsm.StepDone, txn.Step(n).State)
	}
	require.Equal(t, uint64(3), txn.Step("n3").Attempt)
}

func TestAbortOfAFailedRollbackLeavesTheNodesAsTheyAre(t *testing.T) {
	h := failedRollback(t, 3)
	_, err := h.co.Control(h.ctx, h.txnID, api.ActionAbort, api.ControlRequest{})
	require.NoError(t, err)
	h.drive()
	txn := h.txn()
	require.Equal(t, fsm.TxnAborted, txn.State)
	require.Regexp(t, `^rollback failed on n2, n3; .*; aborted by an operator$`, txn.Reason)
	require.Len(t, h.n.sentNodes(), 4, "nothing more ran")
}

// Before protocol 3 the transaction cannot halt on a failed rollback; it
// ends aborted, and its reason still says what failed instead of
// "rollback finished".
func TestFailedRollbackBeforeProtocol3SaysSo(t *testing.T) {
	h := failedRollback(t, 1)
	txn := h.txn()
	require.Equal(t, fsm.TxnAborted, txn.State)
	require.Regexp(t, `; rollback failed on n2, n3$`, txn.Reason)
	require.NotContains(t, txn.Reason, "rollback finished")
}
