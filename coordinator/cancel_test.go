package coordinator

import (
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// timedOut starts a transaction on three protocol-3 voters, lets n2's step
// run past its one-minute step timeout and drives the turn that fails it.
func timedOut(t *testing.T) *harness {
	t.Helper()
	h := newHarnessAt(t, 3, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", StepTimeout: "1m"}, nil)
	h.drive()
	require.Equal(t, []string{"n2"}, h.running())
	h.c.advance(61 * time.Second)
	h.drive()
	require.Equal(t, fsm.TxnFailed, h.txn().State)
	return h
}

func TestTimedOutStepIsStoppedOnItsNode(t *testing.T) {
	h := timedOut(t)
	require.Equal(t, "no completion notice within the step timeout (1m0s)", h.txn().Step("n2").Error,
		"the error names the deadline that passed")
	calls := h.n.cancelCalls()
	require.Len(t, calls, 1, "the node is asked to stop the attempt")
	require.Equal(t, cancelCall{addr: "n2:80", txn: h.txnID, attempt: 1, reason: h.txn().Step("n2").Error}, calls[0])
	require.Len(t, h.logs.records(t, "asked the node to stop the attempt"), 1)
	require.Equal(t, float32(1), h.m.counter("coordinator.steps.cancel_requested"))

	h.c.advance(time.Minute)
	h.drive()
	require.Len(t, h.n.cancelCalls(), 1, "an answered request is not sent again")
}

func TestProgressDeadlineNamesItself(t *testing.T) {
	h := newHarnessAt(t, 3, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first",
		StepTimeout: "10m", ProgressDeadline: "30s"}, nil)
	h.drive()
	h.c.advance(31 * time.Second)
	h.drive()
	require.Equal(t, "no step completed within the progress deadline (30s)", h.txn().Step("n2").Error)
	require.Len(t, h.n.cancelCalls(), 1)
}

func TestCancelIsRetriedUntilTheNodeAnswers(t *testing.T) {
	h := newHarnessAt(t, 3, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", StepTimeout: "1m"}, nil)
	h.drive()
	h.n.down["n2:80"] = true
	h.c.advance(61 * time.Second)
	h.drive()
	require.Len(t, h.n.cancelCalls(), 1)
	h.drive()
	require.Len(t, h.n.cancelCalls(), 1, "not again before the retry delay")
	h.c.advance(firstRetry)
	h.drive()
	require.Len(t, h.n.cancelCalls(), 2, "asked again after %s", firstRetry)
	h.n.down["n2:80"] = false
	h.c.advance(2 * firstRetry)
	h.drive()
	require.Len(t, h.n.cancelCalls(), 3)
	h.c.advance(time.Minute)
	h.drive()
	require.Len(t, h.n.cancelCalls(), 3, "the node answered")
}

func TestCancelGivesUpAfterItsPatience(t *testing.T) {
	h := newHarnessAt(t, 3, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", StepTimeout: "1m"}, nil)
	h.drive()
	h.n.down["n2:80"] = true
	h.c.advance(61 * time.Second)
	for range 40 {
		h.drive()
		h.c.advance(h.co.opts.ReconcileInterval)
	}
	n := len(h.n.cancelCalls())
	require.Less(t, n, 20, "the retries back off")
	require.Len(t, h.logs.records(t, "gave up asking the node to stop the attempt"), 1)
	h.c.advance(time.Hour)
	h.drive()
	require.Len(t, h.n.cancelCalls(), n)
}

// TestCancelRefusedIsNotRepeated: a node whose build has no cancel route
// (or that never heard of the attempt) answers 404: asking again would get
// the same answer.
func TestCancelRefusedIsNotRepeated(t *testing.T) {
	h := newHarnessAt(t, 3, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", StepTimeout: "1m"}, nil)
	h.n.cancelErr["n2:80"] = &api.APIError{Status: 404, Code: api.CodeNotFound, Message: "not found: no route POST /v1/internal/steps/x/1/cancel"}
	h.drive()
	h.c.advance(61 * time.Second)
	h.drive()
	h.c.advance(time.Minute)
	h.drive()
	require.Len(t, h.n.cancelCalls(), 1)
	recs := h.logs.records(t, "the node cannot stop the attempt")
	require.Len(t, recs, 1)
	require.Contains(t, recs[0].Error, "no route")
	require.Equal(t, float32(1), h.m.counter("coordinator.steps.cancel_failed"))
}

func TestAbortStopsTheRunningUpgrade(t *testing.T) {
	h := newHarnessAt(t, 3, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"}, nil)
	h.drive()
	require.Equal(t, []string{"n2"}, h.running())
	_, err := h.co.Control(h.ctx, h.txnID, api.ActionAbort, api.ControlRequest{})
	require.NoError(t, err)
	h.drive()
	calls := h.n.cancelCalls()
	require.Len(t, calls, 1)
	require.Equal(t, "transaction "+h.txnID+" aborted", calls[0].reason)
	require.Equal(t, fsm.TxnAborting, h.txn().State, "the step runs until its node says it stopped")
	h.drive()
	require.Len(t, h.n.cancelCalls(), 1, "asked once")

	// The node stops the attempt and reports it failed.
	require.NoError(t, h.co.Notice(h.ctx, api.Notice{TxnID: h.txnID, Node: "n2", Attempt: 1, State: api.StepFailed, Error: "cancelled: " + calls[0].reason}))
	h.drive()
	txn := h.txn()
	require.Equal(t, fsm.TxnAborted, txn.State)
	require.Equal(t, fsm.StepFailed, txn.Step("n2").State)
}

// A rollback is not stopped by an abort: an abort while aborting only asks
// for a rollback, and stopping one half-way helps nobody.
func TestAbortDoesNotStopARollback(t *testing.T) {
	h := newHarnessAt(t, 3, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"}, nil)
	h.drive()
	h.complete("n2")
	_, err := h.co.Control(h.ctx, h.txnID, api.ActionAbort, api.ControlRequest{Rollback: true})
	require.NoError(t, err)
	h.drive()
	require.True(t, h.txn().Step("n2").Rollback)
	require.Equal(t, []string{"n2"}, h.running())
	h.drive()
	require.Empty(t, h.n.cancelCalls())
}

func TestNoCancelBeforeProtocol3(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", StepTimeout: "1m"})
	h.drive()
	h.c.advance(61 * time.Second)
	h.drive()
	require.Equal(t, fsm.TxnFailed, h.txn().State)
	_, err := h.co.Control(h.ctx, h.txnID, api.ActionAbort, api.ControlRequest{})
	require.NoError(t, err)
	h.drive()
	require.Empty(t, h.n.cancelCalls(), "an older build has no route to stop an attempt")
}

// TestCancelOutlivesTheTransaction: the request to stop a timed-out
// attempt is still sent after its transaction has ended.
func TestCancelOutlivesTheTransaction(t *testing.T) {
	h := newHarnessAt(t, 3, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", StepTimeout: "1m"}, nil)
	h.drive()
	h.n.down["n2:80"] = true
	h.c.advance(61 * time.Second)
	h.drive()
	_, err := h.co.Control(h.ctx, h.txnID, api.ActionAbort, api.ControlRequest{})
	require.NoError(t, err)
	h.drive()
	require.Equal(t, fsm.TxnAborted, h.txn().State)
	h.n.down["n2:80"] = false
	h.c.advance(time.Second)
	h.drive()
	calls := h.n.cancelCalls()
	require.Greater(t, len(calls), 1)
	require.True(t, strings.HasPrefix(calls[len(calls)-1].reason, "no completion notice within the step timeout"))
	require.Len(t, h.logs.records(t, "asked the node to stop the attempt"), 1)
}
