package coordinator

import (
	"testing"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// A member removed after its step was done cannot be rolled back (there is
// no node to run its rollback): the rollback skips it and goes on with the
// others, instead of waiting on it forever.
func TestRollbackSkipsARemovedMember(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})
	for _, n := range []string{"n2", "n3"} {
		h.drive()
		require.Equal(t, []string{n}, h.running())
		h.complete(n)
	}
	_, err := h.c.Apply(h.ctx, fsm.CmdTxnAbort, fsm.TxnAbort{TxnID: h.txnID, Rollback: true})
	require.NoError(t, err)
	_, err = h.c.Apply(h.ctx, fsm.CmdMemberLeave, fsm.MemberLeave{ID: "n3"})
	require.NoError(t, err)

	h.drive()
	require.Equal(t, []string{"n2"}, h.running(), "n3 is gone; n2 rolls back")
	s := h.txn().Step("n2")
	require.NoError(t, h.co.Notice(h.ctx, api.Notice{TxnID: h.txnID, Node: "n2", Attempt: s.Attempt, State: api.StepDone, Version: "1.0.0"}))
	h.drive()
	require.Equal(t, fsm.TxnAborted, h.txn().State)
	require.Equal(t, fsm.StepDone, h.txn().Step("n3").State, "the removed member's step is left as it was")
}
