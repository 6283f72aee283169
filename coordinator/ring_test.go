package coordinator

import (
	"context"
	"testing"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

func TestRingViewFollowsTheMembers(t *testing.T) {
	c := newFakeClusterAt(t, 3, "n1", membersAt(3, 3)...)
	co := New(c, newFakeNodes(), Options{Now: c.clock})
	require.Equal(t, api.Ring{Order: []string{"n1", "n2", "n3"}}, co.Ring(), "by default, natural id order")

	ctx := context.Background()
	r, err := co.SetRing(ctx, []string{"n3", "n1", "n2"})
	require.NoError(t, err)
	require.Equal(t, api.Ring{Order: []string{"n3", "n1", "n2"}, Explicit: true}, r)

	more := membersAt(10, 3)
	for _, m := range []fsm.Member{more[9], more[3]} { // n10, then n4
		_, err := c.Apply(ctx, fsm.CmdMemberJoin, fsm.MemberJoin{Member: m})
		require.NoError(t, err)
	}
	require.Equal(t, []string{"n3", "n1", "n2", "n4", "n10"}, co.Ring().Order, "members not listed follow, in natural id order")
	_, err = c.Apply(ctx, fsm.CmdMemberLeave, fsm.MemberLeave{ID: "n1"})
	require.NoError(t, err)
	require.Equal(t, []string{"n3", "n2", "n4", "n10"}, co.Ring().Order, "a member that left is dropped")

	before := c.FSM().Read().Index
	_, err = co.SetRing(ctx, []string{"n3", "n2"})
	require.ErrorIs(t, err, fsm.ErrInvalid)
	require.ErrorContains(t, err, "leaves out n10, n4")
	require.Equal(t, before, c.FSM().Read().Index, "a refused ring commits nothing")
}

func TestRingPlanAndStartKeepTheRing(t *testing.T) {
	c := newFakeClusterAt(t, 3, "n1", membersAt(5, 3)...)
	co := New(c, newFakeNodes(), Options{Now: c.clock})
	ctx := context.Background()
	_, err := co.SetRing(ctx, []string{"n2", "n4", "n1", "n3", "n5"})
	require.NoError(t, err)

	req := api.StartRequest{TargetVersion: "2.0.0", Strategy: "ring", MaxParallel: "2"}
	p, err := co.Plan(ctx, req)
	require.NoError(t, err)
	require.Equal(t, []string{"n2", "n4", "n1", "n3", "n5"}, p.Ring)
	var batches [][]string
	for _, b := range p.Batches {
		batches = append(batches, b.Nodes)
	}
	require.Equal(t, [][]string{{"n2", "n1"}, {"n5", "n4"}, {"n3"}}, batches)
	require.Len(t, p.Warnings, 5, "every member lacks a service_addr: %v", p.Warnings)

	txn, err := co.Start(ctx, req)
	require.NoError(t, err)
	require.Equal(t, p.Ring, txn.Ring, "the transaction keeps the ring it was planned on")

	_, err = co.SetRing(ctx, []string{"n1", "n2", "n3", "n4", "n5"})
	require.ErrorIs(t, err, fsm.ErrConflict)
	require.ErrorContains(t, err, "transaction "+txn.ID)
}

func TestRingStrategyNeedsProtocol3(t *testing.T) {
	c := newFakeClusterAt(t, 2, "n1", membersAt(3, 2)...)
	co := New(c, newFakeNodes(), Options{Now: c.clock})
	_, err := co.Plan(context.Background(), api.StartRequest{TargetVersion: "2.0.0", Strategy: "ring"})
	require.ErrorIs(t, err, fsm.ErrInvalid)
	require.ErrorContains(t, err, "--strategy ring needs protocol 3, and the cluster speaks 2")
}

// Driven turn by turn, a ring transaction never runs two ring neighbours
// at once, and goes around the ring from its first node.
func TestRingTransactionRunsAroundTheRing(t *testing.T) {
	h := newHarnessAt(t, 3, 5, api.StartRequest{TargetVersion: "2.0.0", Strategy: "ring", MaxParallel: "2"}, nil)
	ring := h.txn().Ring
	require.Equal(t, []string{"n1", "n2", "n3", "n4", "n5"}, ring)
	var started []string
	for range 50 {
		h.drive()
		running := h.running()
		for _, a := range running {
			for _, b := range running {
				require.False(t, contains(fsm.Neighbours(ring, a), b), "%s and %s run together", a, b)
			}
		}
		for _, n := range running {
			if !contains(started, n) {
				started = append(started, n)
			}
			h.complete(n)
		}
		if h.txn().State != fsm.TxnRunning {
			break
		}
	}
	require.Equal(t, fsm.TxnFinalizing, h.txn().State)
	require.Equal(t, []string{"n1", "n3", "n5", "n2", "n4"}, started, "every other node from the ring's first, then the others")
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
