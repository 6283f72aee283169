package coordinator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

func TestHandoffSuccessIsLoggedAndTimed(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "by-id"})
	h.drive()
	require.Equal(t, []string{"n2"}, h.c.transfers)
	handed := h.logs.records(t, "leadership handed off")
	require.Len(t, handed, 1)
	require.Equal(t, "info", handed[0].Level)
	require.Equal(t, 1, h.m.timed("coordinator.handoff"))
	require.Zero(t, h.m.counter("coordinator.handoff.failed"))
}

func TestHandoffTransferFailureIsReportedAndRetried(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "by-id"})
	h.c.transferErr = fmt.Errorf("%w: leadership transfer to \"n2\" failed: timed out", api.ErrNoLeader)

	wait := h.co.turn(h.ctx, h.tn)
	require.Equal(t, handoffRetry, wait, "a failed transfer is retried soon")
	require.Equal(t, "n1", h.c.ID(), "leadership did not move")
	require.Empty(t, h.n.sentNodes(), "I4: the leader's step does not begin")
	require.Empty(t, h.logs.records(t, "leadership handed off"), "a failed transfer is not reported as a handoff")
	failed := h.logs.records(t, "leadership handoff failed")
	require.Len(t, failed, 1)
	require.Equal(t, "warn", failed[0].Level)
	require.Contains(t, failed[0].Error, "timed out")
	require.Equal(t, float32(1), h.m.counter("coordinator.handoff.failed"))
	require.Zero(t, h.m.timed("coordinator.handoff"), "no handoff time for a handoff that did not happen")

	h.c.transferErr = nil
	h.drive()
	require.Equal(t, []string{"n2"}, h.c.transfers)
	require.Len(t, h.logs.records(t, "leadership handed off"), 1)
	require.Equal(t, 1, h.m.timed("coordinator.handoff"))
	require.Equal(t, float32(1), h.m.counter("coordinator.handoff.failed"))
}

func TestHandoffCutShortByTheCoordinatorStopping(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "by-id"})
	ctx, cancel := context.WithCancel(h.ctx)
	cancel() // leadership lost while the transfer ran
	h.c.transferErr = fmt.Errorf("%w: leadership moved but no new leader is known yet", api.ErrUnknownOutcome)

	require.Equal(t, idle, h.co.turn(ctx, h.tn))
	require.Empty(t, h.logs.records(t, "leadership handed off"))
	require.Empty(t, h.logs.records(t, "leadership handoff failed"))
	cut := h.logs.records(t, "leadership handoff interrupted")
	require.Len(t, cut, 1)
	require.Equal(t, "info", cut[0].Level)
	require.Contains(t, cut[0].Error, "no new leader is known yet")
	require.Equal(t, float32(1), h.m.counter("coordinator.handoff.interrupted"))
	require.Zero(t, h.m.timed("coordinator.handoff"))
}

// TestNoSuccessorPauseFailureIsReportedAndRetried: when no voter can take
// leadership and the pause does not commit either, the transaction still
// runs, the failure is an error, and the next turn pauses it.
func TestNoSuccessorPauseFailureIsReportedAndRetried(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "primary-first"})
	h.n.unhealth["n2:80"] = true
	h.n.down["n3:80"] = true
	h.drive()
	require.Empty(t, h.logs.records(t, "transaction paused"), "patience first")

	h.c.advance(11 * time.Second)
	h.c.applyErr[fsm.CmdTxnPause] = fmt.Errorf("%w: apply txn.pause: leadership lost", api.ErrUnknownOutcome)
	require.Equal(t, successorRetry, h.co.turn(h.ctx, h.tn))
	require.Equal(t, fsm.TxnRunning, h.txn().State)
	failed := h.logs.records(t, "no successor, and pausing the transaction failed")
	require.Len(t, failed, 1)
	require.Equal(t, "error", failed[0].Level)
	require.Contains(t, failed[0].Error, "leadership lost")
	require.Empty(t, h.logs.records(t, "transaction paused"), "a pause that did not commit is not reported as one")
	require.Equal(t, float32(1), h.m.counter("coordinator.handoff.pause_failed"))
	require.Zero(t, h.m.counter("coordinator.handoff.paused"))

	delete(h.c.applyErr, fsm.CmdTxnPause)
	h.drive() // no more waiting: the patience has run out already
	txn := h.txn()
	require.Equal(t, fsm.TxnPaused, txn.State)
	require.Contains(t, txn.Reason, "no voter can take leadership before n1 upgrades")
	paused := h.logs.records(t, "transaction paused")
	require.Len(t, paused, 1)
	require.Equal(t, "warn", paused[0].Level)
	require.Equal(t, float32(1), h.m.counter("coordinator.handoff.paused"))
	require.Empty(t, h.c.transfers)
	require.Empty(t, h.n.sentNodes(), "I4: the leader did not upgrade in place")
}

// TestHandoffSaysWhatTheTransactionWaitsFor: the transaction's reason says
// that leadership moves before the leader's step, so a watcher sees it;
// the new leader clears it when it begins the step.
func TestHandoffSaysWhatTheTransactionWaitsFor(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "by-id"})
	h.drive()
	require.Equal(t, []string{"n2"}, h.c.transfers)
	require.Equal(t, "handing leadership off to n2 before n1 upgrades", h.txn().Reason)
	h.drive()
	require.Equal(t, []string{"n1"}, h.running())
	require.Empty(t, h.txn().Reason, "it no longer waits")
}

// A successor found after a search that failed clears the reason that
// search wrote.
func TestFoundSuccessorClearsTheWaitingReason(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "primary-first"})
	h.n.down["n2:80"], h.n.down["n3:80"] = true, true
	h.drive()
	require.Contains(t, h.txn().Reason, "no voter can take leadership before n1 upgrades")
	h.n.down = map[string]bool{}
	h.c.advance(successorRetry)
	h.drive()
	h.drive()
	require.Equal(t, []string{"n1"}, h.running())
	require.Empty(t, h.txn().Reason)
}
