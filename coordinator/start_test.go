package coordinator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc"
	"github.com/stretchr/testify/require"
)

func TestStartRunsABarrierFirst(t *testing.T) {
	c := newFakeCluster(t, "n1", members(3)...)
	co := New(c, newFakeNodes(), Options{Now: c.clock})
	_, err := co.Start(context.Background(), rpc.StartRequest{TargetVersion: "2.0.0"})
	require.NoError(t, err)
	require.Equal(t, 1, c.barriers, "one barrier per start")
}

func TestStartFailsWhenTheBarrierFails(t *testing.T) {
	c := newFakeCluster(t, "n1", members(3)...)
	c.barrierErr = fmt.Errorf("%w: leadership lost", rpc.ErrNoLeader)
	co := New(c, newFakeNodes(), Options{Now: c.clock})
	before := c.FSM().Read().Index

	_, err := co.Start(context.Background(), rpc.StartRequest{TargetVersion: "2.0.0"})
	require.ErrorIs(t, err, rpc.ErrNoLeader, "the barrier's error reaches the caller")
	st := c.FSM().Read()
	require.Empty(t, st.TxnList(), "nothing is started on a state that may be behind")
	require.Equal(t, before, st.Index, "nothing is applied")
}

// TestStartJudgesTheStateAfterTheBarrier: a leader just elected may not
// have applied a transaction its predecessor committed. The barrier applies
// it, and Start must see it.
func TestStartJudgesTheStateAfterTheBarrier(t *testing.T) {
	c := newFakeCluster(t, "n1", members(3)...)
	co := New(c, newFakeNodes(), Options{Now: c.clock})
	c.onBarrier = func() {
		c.onBarrier = nil
		earlier := fsm.Txn{ID: "t-earlier", TargetVersion: "1.5.0", Strategy: "by-id", MaxParallel: 1,
			OnFailure: fsm.OnFailureHalt, StepTimeout: fsm.Duration(time.Minute), ProgressDeadline: fsm.Duration(time.Minute),
			Steps: []fsm.Step{{Node: "n2"}, {Node: "n3", Batch: 1}, {Node: "n1", Batch: 2}}}
		_, err := c.Apply(context.Background(), fsm.CmdTxnStart, fsm.TxnStart{Txn: earlier})
		require.NoError(t, err)
	}

	_, err := co.Start(context.Background(), rpc.StartRequest{TargetVersion: "2.0.0"})
	require.ErrorIs(t, err, fsm.ErrConflict)
	require.Contains(t, err.Error(), "transaction t-earlier is already running")
	require.Len(t, c.FSM().Read().TxnList(), 1, "only the earlier transaction exists")
}
