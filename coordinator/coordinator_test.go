package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

type harness struct {
	t     *testing.T
	c     *fakeCluster
	n     *fakeNodes
	co    *Coordinator
	tn    *tenure
	ctx   context.Context
	txnID string
	logs  *logCapture
	m     *fakeMetrics
}

func newHarness(t *testing.T, size int, req api.StartRequest) *harness {
	t.Helper()
	return newHarnessAt(t, 1, size, req, nil)
}

// newHarnessAt starts req on a cluster of size voters speaking protocol,
// after before (when not nil) has prepared the cluster.
func newHarnessAt(t *testing.T, protocol, size int, req api.StartRequest, before func(c *fakeCluster)) *harness {
	t.Helper()
	h := &harness{t: t, c: newFakeClusterAt(t, protocol, "n1", membersAt(size, protocol)...), n: newFakeNodes(), ctx: context.Background(),
		logs: &logCapture{}, m: newFakeMetrics()}
	if before != nil {
		before(h.c)
	}
	h.co = New(h.c, h.n, Options{Now: h.c.clock, HandoffPatience: 10 * time.Second, Logger: h.logs.logger(), Metrics: h.m})
	h.tn = newTenure()
	txn, err := h.co.Start(h.ctx, req)
	require.NoError(t, err)
	h.txnID = txn.ID
	return h
}

func (h *harness) drive() { h.co.turn(h.ctx, h.tn) }

func (h *harness) txn() *fsm.Txn { return h.c.FSM().Read().Txn(h.txnID) }

// complete sends the completion notice of node's current attempt.
func (h *harness) complete(node string) {
	h.t.Helper()
	s := h.txn().Step(node)
	require.Equal(h.t, fsm.StepRunning, s.State, "%s should be running", node)
	require.NoError(h.t, h.co.Notice(h.ctx, api.Notice{TxnID: h.txnID, Node: node, Attempt: s.Attempt, State: api.StepDone, Version: s.ToVersion}))
	h.n.version[node+":80"] = s.ToVersion
}

func (h *harness) running() []string {
	var out []string
	for _, s := range h.txn().Steps {
		if s.State == fsm.StepRunning {
			out = append(out, s.Node)
		}
	}
	return out
}

func TestByIDHandsOffBeforeEachLeaderStep(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "by-id"})

	// n1 leads and is first: leadership moves before anything begins.
	h.drive()
	require.Equal(t, []string{"n2"}, h.c.transfers, "ties on idle weight break by id")
	require.Empty(t, h.n.sentNodes(), "no step is sent before the handoff")

	for _, node := range []string{"n1", "n2", "n3"} {
		for h.txn().Step(node).State == fsm.StepPending {
			h.drive()
		}
		require.Equal(t, []string{node}, h.running(), "I3: one at a time")
		require.NotEqual(t, node, h.c.ID(), "I4: the leader never runs its own step")
		h.complete(node)
	}
	require.Equal(t, fsm.TxnFinalizing, h.txn().State)
	h.drive()
	require.Equal(t, fsm.TxnDone, h.txn().State)
	require.Equal(t, []string{"n1#1", "n2#1", "n3#1"}, h.n.sentNodes())
	// From n2, the successor is n1: already upgraded wins over n3; n3's
	// step then needs no handoff.
	require.Equal(t, []string{"n2", "n1"}, h.c.transfers)
}

func TestSecondariesFirstHandsOffOnceToAnUpgradedVoter(t *testing.T) {
	h := newHarness(t, 5, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", MaxParallel: "2"})
	for h.txn().State == fsm.TxnRunning {
		h.drive()
		run := h.running()
		require.LessOrEqual(t, len(run), 2, "I3")
		for _, n := range run {
			require.NotEqual(t, n, h.c.ID(), "I4")
			h.complete(n)
		}
	}
	h.drive()
	require.Equal(t, fsm.TxnDone, h.txn().State)
	require.Len(t, h.c.transfers, 1, "one handoff, before the old leader's batch")
	require.NotEqual(t, "n1", h.c.transfers[0])
}

func TestStepTimeoutFailsAndHalts(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", StepTimeout: "1m"})
	h.drive()
	require.Equal(t, []string{"n2"}, h.running())
	h.c.advance(61 * time.Second)
	h.drive()
	txn := h.txn()
	require.Equal(t, fsm.TxnFailed, txn.State)
	require.Contains(t, txn.Step("n2").Error, "step timeout (1m0s)")
	h.drive()
	require.Equal(t, []string{"n2#1"}, h.n.sentNodes(), "nothing else begins after a halt")
}

func TestUndeliveredStepIsSentAgainWithTheSameAttempt(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})
	h.n.down["n2:80"] = true
	h.drive()
	require.Equal(t, []string{"n2"}, h.running(), "the begin commits even when the node is unreachable")
	require.Empty(t, h.n.sentNodes())

	h.n.down["n2:80"] = false
	h.c.advance(h.co.opts.ReconcileInterval)
	h.drive()
	require.Equal(t, []string{"n2#1"}, h.n.sentNodes(), "re-sent with the same attempt")
	require.Equal(t, uint64(1), h.txn().Step("n2").Attempt)
}

func TestUndeliveredStepIsRetriedSoonerThanTheSafetyNet(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})
	h.n.down["n2:80"] = true
	h.drive()
	require.Empty(t, h.n.sentNodes())
	h.n.down["n2:80"] = false
	h.c.advance(firstRetry)
	h.drive()
	require.Equal(t, []string{"n2#1"}, h.n.sentNodes(), "re-sent after %s, not after %s", firstRetry, h.co.opts.ReconcileInterval)
}

func TestDeliveredStepIsNotCheckedAgainAtOnce(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})
	h.drive()
	require.Equal(t, []string{"n2#1"}, h.n.sentNodes())
	h.drive()
	h.c.advance(time.Second)
	h.drive()
	require.Zero(t, h.n.checks, "the node took the step: no status call until the safety net's interval")
	h.c.advance(h.co.opts.ReconcileInterval)
	h.drive()
	require.Equal(t, 1, h.n.checks)
}

func TestNewTenureChecksEveryRunningStep(t *testing.T) {
	h := newHarness(t, 5, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", MaxParallel: "2"})
	h.drive()
	require.Len(t, h.running(), 2, "both steps of the batch begin in one turn")
	require.Zero(t, h.n.checks)
	h.tn = newTenure() // leadership lost and regained
	h.drive()
	require.Equal(t, 2, h.n.checks, "a new tenure of leadership checks every running step with its node")
}

func TestReconcileTurnsAFinishedAttemptIntoItsNotice(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})
	h.drive()
	// The node finished, but its notice never arrived.
	h.n.known["n2:80/"+h.txnID+"/1"] = api.StepStatus{TxnID: h.txnID, Node: "n2", Attempt: 1, State: api.StepDone, Version: "2.0.0"}
	h.c.advance(h.co.opts.ReconcileInterval)
	h.drive()
	require.Equal(t, fsm.StepDone, h.txn().Step("n2").State)
}

func TestNoSuccessorPausesAfterPatience(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "primary-first"})
	h.n.unhealth["n2:80"] = true
	h.n.down["n3:80"] = true
	h.drive()
	txn := h.txn()
	require.Equal(t, fsm.TxnRunning, txn.State)
	require.Contains(t, txn.Reason, "n2: health check failing")
	require.Contains(t, txn.Reason, "n3: unreachable")
	h.c.advance(11 * time.Second)
	h.drive()
	txn = h.txn()
	require.Equal(t, fsm.TxnPaused, txn.State)
	require.Contains(t, txn.Reason, "no voter can take leadership before n1 upgrades")
	require.Empty(t, h.c.transfers)
	require.Empty(t, h.n.sentNodes(), "I4: the leader did not upgrade in place")
}

func TestFinalizeWaitsForEveryMember(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})
	for h.txn().State == fsm.TxnRunning {
		h.drive()
		for _, n := range h.running() {
			h.complete(n)
		}
	}
	require.Equal(t, fsm.TxnFinalizing, h.txn().State)
	h.n.down["n3:80"] = true
	if h.c.ID() == "n3" {
		h.n.down["n3:80"], h.n.down["n2:80"] = false, true
	}
	h.drive()
	txn := h.txn()
	require.Equal(t, fsm.TxnFinalizing, txn.State)
	require.Contains(t, txn.Reason, "finalize blocked")
	h.n.down = map[string]bool{}
	h.drive()
	require.Equal(t, fsm.TxnDone, h.txn().State)
}

func TestStartRefusals(t *testing.T) {
	c := newFakeCluster(t, "n1", members(1)...)
	co := New(c, newFakeNodes(), Options{Now: c.clock})
	_, err := co.Start(context.Background(), api.StartRequest{TargetVersion: "2.0.0"})
	require.ErrorIs(t, err, fsm.ErrInvalid)
	require.Contains(t, err.Error(), "--allow-leader-upgrade")
	_, err = co.Start(context.Background(), api.StartRequest{TargetVersion: "2.0.0", AllowLeaderUpgrade: true})
	require.NoError(t, err)

	c3 := newFakeCluster(t, "n1", members(3)...)
	co3 := New(c3, newFakeNodes(), Options{Now: c3.clock})
	_, err = co3.Start(context.Background(), api.StartRequest{TargetVersion: "2.0.0", AllowLeaderUpgrade: true})
	require.ErrorIs(t, err, fsm.ErrInvalid)
	require.Empty(t, c3.FSM().Read().TxnList(), "a refused start changes nothing")
}

func TestPlanMarksTheHandoffBatch(t *testing.T) {
	c := newFakeCluster(t, "n1", members(5)...)
	co := New(c, newFakeNodes(), Options{Now: c.clock})
	p, err := co.Plan(context.Background(), api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", MaxParallel: "40%"})
	require.NoError(t, err)
	require.Equal(t, 2, p.MaxParallel)
	require.Equal(t, 2, p.QuorumBudget)
	require.Equal(t, []api.PlanBatch{{Nodes: []string{"n2", "n3"}}, {Nodes: []string{"n4", "n5"}}, {Nodes: []string{"n1"}, Handoff: true}}, p.Batches)
	require.Equal(t, "primary = Baton's Raft leader n1 (no role hooks), upgraded last; the others first, in natural id order", p.Reason)
	require.Empty(t, c.FSM().Read().TxnList(), "plan changes nothing")
}

func TestFinalizeDoesNotRunHealthHooks(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})
	for h.txn().State == fsm.TxnRunning {
		h.drive()
		for _, n := range h.running() {
			h.complete(n)
		}
	}
	require.Equal(t, fsm.TxnFinalizing, h.txn().State)
	before := h.n.healthChecks
	h.drive()
	require.Equal(t, fsm.TxnDone, h.txn().State)
	require.Equal(t, before, h.n.healthChecks, "finalize only needs an answer and a protocol range")
}
