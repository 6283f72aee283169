package coordinator

import (
	"context"
	"testing"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// atTarget makes nodes report the version 2.0.0 before the transaction.
func atTarget(protocol int, nodes ...string) func(c *fakeCluster) {
	return func(c *fakeCluster) {
		for _, n := range nodes {
			_, err := c.Apply(context.Background(), fsm.CmdMemberReport, fsm.MemberReport{ID: n, Version: "2.0.0", Protocol: fsm.ProtocolRange{Min: 1, Max: protocol}})
			if err != nil {
				panic(err)
			}
		}
	}
}

// runToEnd drives h until its transaction is no longer running, completing
// every step that runs, and returns the nodes whose steps were sent.
func runToEnd(h *harness) {
	h.t.Helper()
	for range 100 {
		if s := h.txn().State; s != fsm.TxnRunning && s != fsm.TxnFinalizing {
			return
		}
		h.drive()
		for _, n := range h.running() {
			require.NotEqual(h.t, n, h.c.ID(), "I4")
			h.complete(n)
		}
	}
	h.t.Fatalf("transaction %s did not end", h.txnID)
}

// TestPlanAndExecutionAgreeOnNodesAtTheTarget: the leader n1 and n3
// already run 2.0.0. The plan says their steps are skipped and that no
// handoff is needed; the transaction then skips them, sends no hook to
// them, and never moves leadership.
func TestPlanAndExecutionAgreeOnNodesAtTheTarget(t *testing.T) {
	req := api.StartRequest{TargetVersion: "2.0.0", Strategy: "by-id"}
	h := newHarnessAt(t, 3, 3, req, atTarget(3, "n1", "n3"))
	plan, err := h.co.Plan(h.ctx, req)
	require.NoError(t, err)
	require.Equal(t, []api.PlanBatch{{Nodes: []string{"n1"}, Skip: []string{"n1"}}, {Nodes: []string{"n2"}},
		{Nodes: []string{"n3"}, Skip: []string{"n3"}}}, plan.Batches)
	require.Contains(t, plan.Warnings, "n1 already runs 2.0.0: its step is skipped (no hook runs, and no handoff for it)")
	require.Contains(t, plan.Warnings, "n3 already runs 2.0.0: its step is skipped (no hook runs, and no handoff for it)")

	runToEnd(h)
	txn := h.txn()
	require.Equal(t, fsm.TxnDone, txn.State)
	require.Equal(t, []string{"n2#1"}, h.n.sentNodes(), "only n2 ran anything")
	require.Empty(t, h.c.transfers, "no handoff: the leader's own step was skipped")
	for i, b := range plan.Batches {
		for _, n := range b.Nodes {
			st := txn.Step(n)
			require.Equal(t, st.Batch, i)
			require.Equal(t, fsm.StepDone, st.State)
			skipped := len(b.Skip) > 0
			require.Equal(t, skipped, st.Skipped, "%s: the plan said skipped=%v", n, skipped)
			if skipped {
				require.Zero(t, st.Attempt)
				require.Empty(t, st.Attempts)
			}
		}
	}
	require.Len(t, h.logs.records(t, "step skipped"), 2)
	require.Equal(t, float32(2), h.m.counter("coordinator.steps.skipped"))
}

// A batch that holds the leader's skipped step and another node's hands
// nothing off: only the other step begins.
func TestSkippedLeaderStepNeedsNoHandoffInItsBatch(t *testing.T) {
	req := api.StartRequest{TargetVersion: "2.0.0", Strategy: "primary-first", MaxParallel: "2"}
	h := newHarnessAt(t, 5, 5, req, atTarget(5, "n1"))
	plan, err := h.co.Plan(h.ctx, req)
	require.NoError(t, err)
	require.Equal(t, api.PlanBatch{Nodes: []string{"n1", "n2"}, Skip: []string{"n1"}}, plan.Batches[0])
	h.drive()
	require.Empty(t, h.c.transfers)
	require.Equal(t, []string{"n2"}, h.running())
	require.True(t, h.txn().Step("n1").Skipped)
}

// Before protocol 3 nothing is skipped, and the plan says so.
func TestPlanAndExecutionAgreeBeforeProtocol3(t *testing.T) {
	req := api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"}
	h := newHarnessAt(t, 1, 3, req, atTarget(1, "n3"))
	plan, err := h.co.Plan(h.ctx, req)
	require.NoError(t, err)
	for _, b := range plan.Batches {
		require.Empty(t, b.Skip)
	}
	require.Contains(t, plan.Warnings, "n3 already runs 2.0.0, but its step runs every hook: skipping it needs protocol 3, and the cluster speaks 1")
	runToEnd(h)
	require.Equal(t, fsm.TxnDone, h.txn().State)
	require.Contains(t, h.n.sentNodes(), "n3#1")
	require.False(t, h.txn().Step("n3").Skipped)
}

// A node the catalogue learns runs the target while its step is pending
// is skipped when the step is due, whatever the plan said.
func TestStepDueOnANodeAlreadyAtTheTargetIsSkipped(t *testing.T) {
	h := newHarnessAt(t, 3, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"}, nil)
	h.drive()
	h.complete("n2")
	atTarget(3, "n3")(h.c)
	h.drive()
	require.True(t, h.txn().Step("n3").Skipped)
	require.Equal(t, []string{"n2#1"}, h.n.sentNodes())
}
