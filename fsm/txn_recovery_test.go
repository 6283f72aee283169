package fsm

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func (sc *scene) skip(node string) {
	sc.t.Helper()
	sc.do(CmdStepSkip, StepSkip{TxnID: txID, Node: node})
}

func (sc *scene) halt() { sc.t.Helper(); sc.do(CmdTxnHalt, TxnControl{TxnID: txID}) }

func (sc *scene) recover(rollback bool) {
	sc.t.Helper()
	sc.do(CmdTxnRecover, TxnRecover{TxnID: txID, Rollback: rollback})
}

// phaseN2RollbackFailedAborting: n1 and n2 done, n3 pending, aborted with
// rollback; n2's rollback (attempt 2) failed, n1 is still to roll back.
func phaseN2RollbackFailedAborting(sc *scene) {
	phaseN2RollingBack(sc)
	sc.fail("n2", 2, "hook failed")
}

// phaseRollbackUnwound: as above, then n1 rolled back: nothing is left to
// roll back, and one rollback failed.
func phaseRollbackUnwound(sc *scene) {
	phaseN2RollbackFailedAborting(sc)
	sc.beginRollback("n1", 2)
	sc.complete("n1", 2, "1.0.0")
}

// phaseRollbackFailed: the transaction halted on n2's failed rollback.
func phaseRollbackFailed(sc *scene) { phaseRollbackUnwound(sc); sc.halt() }

const rollbackFailedReason = "rollback failed on n2; aborted by an operator; rollback on n2 failed (attempt 2): hook failed"

func TestStepSkip(t *testing.T) {
	skip := func(node string) StepSkip { return StepSkip{TxnID: txID, Node: node} }
	skipped := func(node string) func(s *State) {
		return func(s *State) {
			st := stepOf(s, node)
			st.State, st.Skipped, st.FromVersion, st.ToVersion = StepDone, true, target, target
			st.StartedAt, st.FinishedAt = tCmd, tCmd
			txnOf(s).UpdatedAt, txnOf(s).LastProgressAt = tCmd, tCmd
		}
	}
	runsTarget := func(phase func(*scene), nodes ...string) func(sc *scene) {
		return func(sc *scene) {
			for _, n := range nodes {
				sc.report(n, target, ProtocolRange{1, 1})
			}
			phase(sc)
		}
	}
	cases := []txnCase{
		{name: "a node that already runs the target is done without an attempt", setup: runsTarget(phaseRunning, "n1"),
			typ: CmdStepSkip, body: skip("n1"), want: skipped("n1"),
			check: func(t *testing.T, s *State) {
				st := stepOf(s, "n1")
				require.Zero(t, st.Attempt, "nothing was begun")
				require.Empty(t, st.Attempts)
				require.Equal(t, target, st.PriorVersion, "the prior version is what it ran at start: a rollback has nothing to undo")
			}},
		{name: "the last step skipped moves the transaction to finalizing",
			setup: func(sc *scene) { phaseN1Done(sc); sc.upgrade("n2"); sc.report("n3", target, ProtocolRange{1, 1}) },
			typ:   CmdStepSkip, body: skip("n3"),
			want: func(s *State) { skipped("n3")(s); txnOf(s).State = TxnFinalizing }},
		{name: "a retried step whose node finished late is skipped; its attempts stay",
			setup: func(sc *scene) {
				phaseFailed(sc)
				sc.report("n1", target, ProtocolRange{1, 1}) // the late notice reached the catalogue
				sc.control(CmdTxnRetry, "")
			},
			typ: CmdStepSkip, body: skip("n1"),
			want: func(s *State) { skipped("n1")(s); stepOf(s, "n1").Error = "" },
			check: func(t *testing.T, s *State) {
				require.Len(t, stepOf(s, "n1").Attempts, 1)
				require.Equal(t, "disk full", stepOf(s, "n1").Attempts[0].Error)
			}},
		{name: "a sibling is skipped while another step of the batch runs",
			setup: func(sc *scene) {
				sc.report("n3", target, ProtocolRange{1, 1})
				sc.start(plan(parallel(2)))
				sc.upgrade("n1")
				sc.begin("n2", 1)
			},
			typ: CmdStepSkip, body: skip("n3"), want: skipped("n3")},

		{name: "a node on another version", setup: phaseRunning, typ: CmdStepSkip, body: skip("n1"), wantErr: ErrConflict},
		{name: "a running step", setup: runsTarget(phaseN1Running, "n1"), typ: CmdStepSkip, body: skip("n1"), wantErr: ErrStale},
		{name: "a done step", setup: runsTarget(phaseN1Done, "n1"), typ: CmdStepSkip, body: skip("n1"), wantErr: ErrStale},
		{name: "a step of a later batch", setup: runsTarget(phaseRunning, "n2"), typ: CmdStepSkip, body: skip("n2"), wantErr: ErrConflict},
		{name: "a paused transaction", setup: runsTarget(phasePaused, "n1"), typ: CmdStepSkip, body: skip("n1"), wantErr: ErrStale},
		{name: "a failed transaction",
			setup: func(sc *scene) { phaseFailed(sc); sc.report("n1", target, ProtocolRange{1, 1}) },
			typ:   CmdStepSkip, body: skip("n1"), wantErr: ErrStale},
		{name: "an aborting transaction (I8)", setup: runsTarget(phaseAborting, "n1"), typ: CmdStepSkip, body: skip("n1"), wantErr: ErrStale},
		{name: "a pending rollback", setup: func(sc *scene) { phaseRollbackFailed(sc); sc.recover(true) },
			typ: CmdStepSkip, body: skip("n2"), wantErr: ErrStale},
		{name: "a done transaction", setup: phaseDone, typ: CmdStepSkip, body: skip("n1"), wantErr: ErrStale},
		{name: "an unknown transaction", setup: runsTarget(phaseRunning, "n1"), typ: CmdStepSkip,
			body: StepSkip{TxnID: "tx9", Node: "n1"}, wantErr: ErrNotFound},
		{name: "a node without a step", setup: phaseRunning, typ: CmdStepSkip, body: skip("n9"), wantErr: ErrNotFound},
	}
	runTxnCases(t, cases)
}

func TestTxnHalt(t *testing.T) {
	halt := TxnControl{TxnID: txID}
	halted := func(reason string) func(s *State) {
		return func(s *State) {
			txnOf(s).State, txnOf(s).Reason, txnOf(s).UpdatedAt = TxnRollbackFailed, reason, tCmd
		}
	}
	cases := []txnCase{
		{name: "a rollback that failed on a node halts the transaction, naming it", setup: phaseRollbackUnwound,
			typ: CmdTxnHalt, body: halt, want: halted(rollbackFailedReason),
			check: func(t *testing.T, s *State) {
				require.Equal(t, txID, s.Active, "a rollback-failed transaction stays active")
				require.False(t, txnOf(s).State.Terminal())
			}},
		{name: "every node whose rollback failed is named, in step order",
			setup: func(sc *scene) {
				phaseN2RollbackFailedAborting(sc)
				sc.beginRollback("n1", 2)
				sc.fail("n1", 2, "no space")
			},
			typ: CmdTxnHalt, body: halt,
			want: halted("rollback failed on n1, n2; aborted by an operator; rollback on n2 failed (attempt 2): hook failed; " +
				"rollback on n1 failed (attempt 2): no space")},
		{name: "a failed upgrade whose rollback failed under the rollback policy",
			setup: func(sc *scene) {
				sc.start(plan(rollbackPolicy))
				sc.begin("n1", 1)
				sc.fail("n1", 1, "disk full")
				sc.beginRollback("n1", 2)
				sc.fail("n1", 2, "rollback hook exited 4")
			},
			typ: CmdTxnHalt, body: halt,
			want: halted("rollback failed on n1; step on n1 failed (attempt 1): disk full; rolling back; " +
				"rollback on n1 failed (attempt 2): rollback hook exited 4")},
		{name: "a skipped step needs no rollback",
			setup: func(sc *scene) {
				sc.report("n1", target, ProtocolRange{1, 1})
				sc.start(plan())
				sc.skip("n1")
				sc.upgrade("n2")
				sc.abort(true)
				sc.beginRollback("n2", 2)
				sc.fail("n2", 2, "hook failed")
			},
			typ: CmdTxnHalt, body: halt, want: halted(rollbackFailedReason)},

		{name: "a rollback still to run", setup: phaseN2RollbackFailedAborting, typ: CmdTxnHalt, body: halt, wantErr: ErrConflict},
		{name: "a rollback running", setup: phaseN2RollingBack, typ: CmdTxnHalt, body: halt, wantErr: ErrConflict},
		{name: "no rollback failed",
			setup: func(sc *scene) { phaseN2RolledBack(sc); sc.beginRollback("n1", 2); sc.complete("n1", 2, "1.0.0") },
			typ:   CmdTxnHalt, body: halt, wantErr: ErrConflict},
		{name: "aborting without a rollback", setup: phaseAborting, typ: CmdTxnHalt, body: halt, wantErr: ErrConflict},
		{name: "a running transaction", setup: phaseN1Done, typ: CmdTxnHalt, body: halt, wantErr: ErrConflict},
		{name: "a failed transaction", setup: phaseFailed, typ: CmdTxnHalt, body: halt, wantErr: ErrConflict},
		{name: "halted twice", setup: phaseRollbackFailed, typ: CmdTxnHalt, body: halt, wantErr: ErrConflict},
		{name: "a done transaction", setup: phaseDone, typ: CmdTxnHalt, body: halt, wantErr: ErrConflict},
		{name: "an unknown transaction", setup: phaseRollbackUnwound, typ: CmdTxnHalt, body: TxnControl{TxnID: "tx9"}, wantErr: ErrNotFound},
	}
	runTxnCases(t, cases)
}

func TestTxnRecover(t *testing.T) {
	recoverBody := func(rollback bool) TxnRecover { return TxnRecover{TxnID: txID, Rollback: rollback} }
	cases := []txnCase{
		{name: "retrying the rollback makes the failed rollbacks pending again", setup: phaseRollbackFailed,
			typ: CmdTxnRecover, body: recoverBody(true),
			want: func(s *State) {
				tx := txnOf(s)
				tx.State, tx.Reason, tx.UpdatedAt, tx.LastProgressAt = TxnAborting, "rollback retried on n2", tCmd, tCmd
				stepOf(s, "n2").State = StepPending
			},
			check: func(t *testing.T, s *State) {
				st := stepOf(s, "n2")
				require.True(t, st.Rollback, "its next attempt rolls back")
				require.True(t, NeedsRollback(*st))
				require.Equal(t, "hook failed", st.Error, "the last error stays until the next attempt")
			}},
		{name: "rolling forward makes every step not done pending, to upgrade again", setup: phaseRollbackFailed,
			typ: CmdTxnRecover, body: recoverBody(false),
			want: func(s *State) {
				tx := txnOf(s)
				tx.State, tx.RollbackRequested, tx.Reason, tx.UpdatedAt, tx.LastProgressAt = TxnRunning, false, "", tCmd, tCmd
				for _, n := range []string{"n1", "n2"} {
					st := stepOf(s, n)
					st.State, st.Rollback, st.ToVersion = StepPending, false, target
				}
			}},
		{name: "rolling forward keeps a skipped step done",
			setup: func(sc *scene) {
				sc.report("n1", target, ProtocolRange{1, 1})
				sc.start(plan())
				sc.skip("n1")
				sc.upgrade("n2")
				sc.abort(true)
				sc.beginRollback("n2", 2)
				sc.fail("n2", 2, "hook failed")
				sc.halt()
			},
			typ: CmdTxnRecover, body: recoverBody(false),
			check: func(t *testing.T, s *State) {
				require.Equal(t, TxnRunning, txnOf(s).State)
				require.Equal(t, StepDone, stepOf(s, "n1").State)
				require.Equal(t, StepPending, stepOf(s, "n2").State)
				require.Equal(t, 1, txnOf(s).CurrentBatch())
			}},

		{name: "a failed transaction", setup: phaseFailed, typ: CmdTxnRecover, body: recoverBody(false), wantErr: ErrConflict},
		{name: "an aborting transaction", setup: phaseRollbackUnwound, typ: CmdTxnRecover, body: recoverBody(true), wantErr: ErrConflict},
		{name: "a running transaction", setup: phaseRunning, typ: CmdTxnRecover, body: recoverBody(false), wantErr: ErrConflict},
		{name: "recovered twice", setup: func(sc *scene) { phaseRollbackFailed(sc); sc.recover(true) },
			typ: CmdTxnRecover, body: recoverBody(true), wantErr: ErrConflict},
		{name: "an aborted transaction", setup: phaseAborted, typ: CmdTxnRecover, body: recoverBody(true), wantErr: ErrConflict},
		{name: "an unknown transaction", setup: phaseRollbackFailed, typ: CmdTxnRecover, body: TxnRecover{TxnID: "tx9"}, wantErr: ErrNotFound},
	}
	runTxnCases(t, cases)
}

// TestAbortOfARollbackFailedTransaction: abort gives up, leaving the nodes
// as they are; abort --rollback rolls back again.
func TestAbortOfARollbackFailedTransaction(t *testing.T) {
	cases := []txnCase{
		{name: "abort without rollback ends the rollback", setup: phaseRollbackFailed, typ: CmdTxnAbort,
			body: TxnAbort{TxnID: txID},
			want: func(s *State) {
				tx := txnOf(s)
				tx.State, tx.RollbackRequested, tx.UpdatedAt = TxnAborting, false, tCmd
				tx.Reason = rollbackFailedReason + "; aborted by an operator"
			}},
	}
	runTxnCases(t, cases)
}

// TestFinishKeepsItsMeaning: txn.finish still ends an aborting transaction
// whose rollbacks failed (protocol rule 4: an existing command never
// changes meaning); it is the coordinator that halts it instead, from
// protocol 3.
func TestFinishKeepsItsMeaning(t *testing.T) {
	sc := newScene(t)
	phaseRollbackUnwound(sc)
	require.NoError(t, CheckHalt(txnOf(sc.s)))
	sc.do(CmdTxnFinish, TxnFinish{TxnID: txID})
	require.Equal(t, TxnAborted, txnOf(sc.s).State)
}

func TestFailedRollbackHaltsAndIsRecovered(t *testing.T) {
	for _, forward := range []bool{false, true} {
		t.Run(fmt.Sprintf("forward=%v", forward), func(t *testing.T) {
			sc := newScene(t)
			sc.start(plan(rollbackPolicy, parallel(2)))
			sc.upgrade("n1")
			sc.upgrade("n2")
			sc.begin("n3", 1)
			sc.fail("n3", 1, "install exited 3")
			for _, n := range []string{"n3", "n2", "n1"} {
				sc.beginRollback(n, 2)
				sc.fail(n, 2, "rollback exited 4")
			}
			sc.halt()
			tx := txnOf(sc.s)
			require.Equal(t, TxnRollbackFailed, tx.State)
			require.Regexp(t, `^rollback failed on n1, n2, n3; step on n3 failed`, tx.Reason)
			for _, n := range []string{"n1", "n2", "n3"} {
				require.Equal(t, StepFailed, stepOf(sc.s, n).State)
			}
			require.Equal(t, target, sc.s.Members["n1"].Version, "the catalogue keeps what the nodes last reported")

			sc.recover(!forward)
			if !forward {
				for _, n := range []string{"n3", "n2", "n1"} {
					sc.beginRollback(n, 3)
					sc.complete(n, 3, "1.0.0")
				}
				sc.do(CmdTxnFinish, TxnFinish{TxnID: txID, Reason: "rolled back"})
				require.Equal(t, TxnAborted, txnOf(sc.s).State)
				for _, n := range []string{"n1", "n2", "n3"} {
					st := stepOf(sc.s, n)
					require.Equal(t, StepRolledBack, st.State)
					require.Equal(t, "1.0.0", sc.s.Members[n].Version)
					var states []StepState
					for _, a := range st.Attempts {
						states = append(states, a.State)
					}
					want := []StepState{StepDone, StepFailed, StepRolledBack}
					if n == "n3" {
						want[0] = StepFailed
					}
					require.Equal(t, want, states, "%s keeps every attempt", n)
				}
				return
			}
			require.Equal(t, TxnRunning, txnOf(sc.s).State)
			sc.upgrade("n1")
			sc.upgrade("n2")
			sc.upgrade("n3")
			require.Equal(t, TxnFinalizing, txnOf(sc.s).State)
			require.Equal(t, uint64(3), stepOf(sc.s, "n3").Attempt)
		})
	}
}

func TestAttemptsAreBounded(t *testing.T) {
	sc := newScene(t)
	sc.start(plan())
	total := uint64(MaxAttempts + 3)
	for a := uint64(1); a <= total; a++ {
		sc.begin("n1", a)
		if a < total {
			sc.fail("n1", a, fmt.Sprintf("failure %d", a))
			sc.control(CmdTxnRetry, "")
		}
	}
	sc.complete("n1", total, target)
	st := stepOf(sc.s, "n1")
	require.Len(t, st.Attempts, MaxAttempts)
	require.Equal(t, total-MaxAttempts+1, st.Attempts[0].Attempt, "the oldest are dropped")
	require.Equal(t, fmt.Sprintf("failure %d", total-MaxAttempts+1), st.Attempts[0].Error)
	last := st.Attempts[MaxAttempts-1]
	require.Equal(t, total, last.Attempt)
	require.Equal(t, StepDone, last.State)
	require.Empty(t, last.Error)
}

// TestSnapshotWithoutAttemptsIsRead: a snapshot of a build that kept no
// attempts restores, and its running attempt ends without a record.
func TestSnapshotWithoutAttemptsIsRead(t *testing.T) {
	sc := newScene(t)
	phaseN1Running(sc)
	stepOf(sc.s, "n1").Attempts = nil // as an older build left it
	snap, err := sc.s.MarshalSnapshot()
	require.NoError(t, err)
	require.NotContains(t, string(snap), `"attempts"`)
	restored, err := UnmarshalSnapshot(snap)
	require.NoError(t, err)
	sc.s = restored
	sc.complete("n1", 1, target)
	require.Empty(t, stepOf(sc.s, "n1").Attempts)
	sc.begin("n2", 1)
	require.Len(t, stepOf(sc.s, "n2").Attempts, 1)

	// And a newer snapshot keeps them.
	snap, err = sc.s.MarshalSnapshot()
	require.NoError(t, err)
	again, err := UnmarshalSnapshot(snap)
	require.NoError(t, err)
	require.Equal(t, stepOf(sc.s, "n2").Attempts, stepOf(again, "n2").Attempts)
	require.Equal(t, t0.Add(time.Duration(sc.idx)*time.Minute), stepOf(again, "n2").Attempts[0].StartedAt)
}

// A copy of the state shares no attempt record with it.
func TestCloneCopiesAttempts(t *testing.T) {
	sc := newScene(t)
	phaseFailed(sc)
	c := sc.s.Clone()
	stepOf(c, "n1").Attempts[0].Error = "changed in the copy"
	require.Equal(t, "disk full", stepOf(sc.s, "n1").Attempts[0].Error)
}
