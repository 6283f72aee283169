package checker

import (
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

func TestEveryCheckerPassesAGoodRun(t *testing.T) {
	for _, r := range Run(goodRun().in) {
		require.Equal(t, Pass, r.Status, "%s %s: %v %s", r.Invariant, r.Name, r.Violation, r.Note)
		require.Positive(t, r.Checked, "%s checked nothing", r.Invariant)
	}
}

// requireCaught runs one checker and asserts it fails with a counter-example
// naming what the test expects.
func requireCaught(t *testing.T, check func(Input) Result, in Input, txn string, nodes ...string) *Violation {
	t.Helper()
	r := check(in)
	require.Equal(t, Fail, r.Status, "note: %s", r.Note)
	require.NotNil(t, r.Violation)
	require.False(t, r.Violation.At.IsZero(), "a counter-example has a time")
	if txn != "" {
		require.Equal(t, txn, r.Violation.Txn)
	}
	for _, n := range nodes {
		require.Contains(t, r.Violation.Nodes, n)
	}
	t.Logf("caught: %s", r.Violation)
	return r.Violation
}

func TestOneActive(t *testing.T) {
	t.Run("second start while one is active", func(t *testing.T) {
		b := goodRun()
		b.cmd(1600, api.EventTxnStart, "t2", "", 0)
		requireCaught(t, CheckOneActive, b.in, "t2")
	})
	t.Run("a list shows two active", func(t *testing.T) {
		b := goodRun()
		b.op("api-3", history.KindList, 700, 720, history.OK, func(o *history.Op) {
			o.Results = []history.TxnView{{ID: "t0", State: "paused"}, {ID: "t1", State: "running"}}
		})
		requireCaught(t, CheckOneActive, b.in, "", "n2")
	})
	t.Run("resume accepted while running", func(t *testing.T) {
		b := goodRun()
		b.cmd(700, api.EventTxnResume, "t1", "", 0)
		require.Contains(t, requireCaught(t, CheckOneActive, b.in, "t1").What, "running")
	})
}

func TestOnce(t *testing.T) {
	t.Run("install twice in one attempt", func(t *testing.T) {
		b := goodRun()
		b.install(1450, 1480, "n3", "t1", 1)
		requireCaught(t, CheckOnce, b.in, "t1", "n3")
	})
	t.Run("stale notice accepted", func(t *testing.T) {
		b := goodRun()
		b.cmd(1100, api.EventStepFail, "t1", "n3", 0)
		requireCaught(t, CheckOnce, b.in, "t1", "n3")
	})
	t.Run("step completed in two attempts", func(t *testing.T) {
		b := goodRun()
		b.in.Commands = b.in.Commands[:len(b.in.Commands)-1] // drop finalize
		b.in.Final[0].State = api.TxnFinalizing
		b.cmd(3600, api.EventStepBegin, "t1", "n1", 2)
		b.cmd(3700, api.EventStepComplete, "t1", "n1", 2)
		require.Contains(t, requireCaught(t, CheckOnce, b.in, "t1", "n1").What, "completed twice")
	})
}

func TestMaxParallel(t *testing.T) {
	t.Run("two installs overlap with max-parallel 1", func(t *testing.T) {
		b := goodRun()
		b.install(1300, 1350, "n2", "t1", 1) // n2 again, while n3 installs
		b.in.Hooks[len(b.in.Hooks)-2].Attempt = 2
		b.in.Hooks[len(b.in.Hooks)-1].Attempt = 2
		requireCaught(t, CheckMaxParallel, b.in, "t1", "n2", "n3")
	})
	t.Run("a killed install still counts until it was killed", func(t *testing.T) {
		b := goodRun()
		b.in.Hooks[len(b.in.Hooks)-1].Kind = "killed" // n1's install ended by its timeout
		require.Equal(t, Pass, CheckMaxParallel(b.in).Status)
		b.hook(3100, "begin", "install", "n2", "t1", 2)
		requireCaught(t, CheckMaxParallel, b.in, "t1", "n1", "n2")
	})
	t.Run("the log begins beyond max-parallel", func(t *testing.T) {
		b := goodRun()
		b.cmd(1050, api.EventStepBegin, "t1", "n1", 1)
		requireCaught(t, CheckMaxParallel, b.in, "t1", "n1")
	})
}

func TestNoLeaderInstall(t *testing.T) {
	b := goodRun()
	b.in.Tenures[0].Till = b.at(3100) // n1 still led when its install began at 3020
	requireCaught(t, CheckNoLeaderInstall, b.in, "t1", "n1")
}

func TestNoticesKept(t *testing.T) {
	t.Run("acknowledged but not committed", func(t *testing.T) {
		b := goodRun()
		b.in.Acks = append(b.in.Acks, NoticeAck{Node: "n1", Txn: "t1", Attempt: 1, State: "failed", At: b.at(3510)})
		requireCaught(t, CheckNoticesKept, b.in, "t1", "n1")
	})
	t.Run("committed done, lost from the final state", func(t *testing.T) {
		b := goodRun()
		b.in.Final[0].Steps[0].State = api.StepRunning
		requireCaught(t, CheckNoticesKept, b.in, "t1", "n2")
	})
}

func TestNoticesKeptAfterRollback(t *testing.T) {
	b := goodRun()
	b.in.Commands = b.in.Commands[:len(b.in.Commands)-1] // no finalize: aborted with a rollback
	b.cmd(3600, api.EventTxnAbort, "t1", "", 0, rollback)
	b.cmd(3700, api.EventStepBegin, "t1", "n1", 2, rollback)
	b.cmd(3800, api.EventStepComplete, "t1", "n1", 2)
	b.in.Acks = append(b.in.Acks, NoticeAck{Node: "n1", Txn: "t1", Attempt: 2, State: "done", At: b.at(3810)})
	b.in.Final[0].State = api.TxnAborted
	b.in.Final[0].Steps[2] = api.Step{Node: "n1", State: api.StepRolledBack, Attempt: 2}
	r := CheckNoticesKept(b.in)
	require.Equal(t, Pass, r.Status, "%v", r.Violation)
	b.in.Final[0].Steps[2].State = api.StepDone
	requireCaught(t, CheckNoticesKept, b.in, "t1", "n1")
}

func TestProtocol(t *testing.T) {
	t.Run("raised while a member cannot speak it", func(t *testing.T) {
		b := goodRun()
		b.in.Commands[len(b.in.Commands)-1].Protocol = 2
		b.in.Launches[0].ProtocolMax, b.in.Launches[1].ProtocolMax = 2, 2 // n3 still speaks only 1
		requireCaught(t, CheckProtocol, b.in, "t1", "n3")
	})
	t.Run("raised when every member speaks it", func(t *testing.T) {
		b := goodRun()
		b.in.Commands[len(b.in.Commands)-1].Protocol = 2
		for i := range b.in.Launches {
			b.in.Launches[i].ProtocolMax = 2
		}
		r := CheckProtocol(b.in)
		require.Equal(t, Pass, r.Status, "%v", r.Violation)
	})
	t.Run("lowered", func(t *testing.T) {
		b := goodRun()
		b.in.InitialProtocol = 2
		requireCaught(t, CheckProtocol, b.in, "t1")
	})
}

func TestSettled(t *testing.T) {
	t.Run("still failed at the end", func(t *testing.T) {
		b := goodRun()
		b.in.Final[0].State = api.TxnFailed
		requireCaught(t, CheckSettled, b.in, "t1")
	})
	t.Run("ended beyond the bound", func(t *testing.T) {
		b := goodRun()
		b.in.SettleBound = time.Second
		requireCaught(t, CheckSettled, b.in, "t1")
	})
}

func TestNoBeginAfterAbort(t *testing.T) {
	t.Run("begin after a committed abort", func(t *testing.T) {
		b := goodRun()
		b.in.Commands = b.in.Commands[:4] // the gateway's registration, start, begin n2, complete n2
		b.cmd(600, api.EventTxnAbort, "t1", "", 0)
		b.cmd(700, api.EventStepBegin, "t1", "n3", 1)
		requireCaught(t, CheckNoBeginAfterAbort, b.in, "t1", "n3")
	})
	t.Run("a rollback after an abort is fine, an install is not", func(t *testing.T) {
		b := goodRun()
		b.in.Commands = b.in.Commands[:4]
		b.cmd(600, api.EventTxnAbort, "t1", "", 0, func(e *history.Event) { e.Rollback = true })
		b.cmd(700, api.EventStepBegin, "t1", "n2", 2, rollback)
		b.in.Hooks = b.in.Hooks[:2]
		require.Equal(t, Pass, CheckNoBeginAfterAbort(b.in).Status)
		b.install(720, 800, "n2", "t1", 2)
		requireCaught(t, CheckNoBeginAfterAbort, b.in, "t1", "n2")
	})
	t.Run("install before its begin was proposed", func(t *testing.T) {
		b := goodRun()
		b.in.Hooks[2].At = b.at(990) // n3's install, begun at 1000
		requireCaught(t, CheckNoBeginAfterAbort, b.in, "t1", "n3")
	})
}

func TestLinearizable(t *testing.T) {
	t.Run("stale read after the write returned", func(t *testing.T) {
		b := goodRun()
		b.op("api-2", history.KindRead, 4400, 4450, history.OK, consistent, txnArg("t1"), result("t1", "running"))
		v := requireCaught(t, CheckLinearizable, b.in, "t1")
		require.Contains(t, v.What, "read t1 -> running")
	})
	t.Run("read of a future state", func(t *testing.T) {
		b := goodRun()
		b.op("api-3", history.KindReadActive, 200, 250, history.OK, consistent, result("t1", "paused"))
		requireCaught(t, CheckLinearizable, b.in, "")
	})
	t.Run("refusal that the state does not explain", func(t *testing.T) {
		b := goodRun()
		b.op("api-1", history.KindPause, 700, 720, history.Fail, txnArg("t1"), status(409), code(api.CodeConflict))
		requireCaught(t, CheckLinearizable, b.in, "t1")
	})
	t.Run("refusal recorded before error codes", func(t *testing.T) {
		b := goodRun()
		b.op("api-1", history.KindPause, 700, 720, history.Fail, txnArg("t1"), status(409))
		requireCaught(t, CheckLinearizable, b.in, "t1")
	})
	t.Run("a stale refusal says nothing of the transaction's state", func(t *testing.T) {
		b := goodRun()
		b.op("api-1", history.KindPause, 700, 720, history.Fail, txnArg("t1"), status(409), code(api.CodeStale))
		r := CheckLinearizable(b.in)
		require.Equal(t, Pass, r.Status, "%v %s", r.Violation, r.Note)
	})
	t.Run("reads out of real-time order", func(t *testing.T) {
		b := goodRun()
		// The finalize reached the suite late, so each read alone fits
		// some moment of its window; together they do not: the earlier
		// read saw done, the later one finalizing.
		b.in.Commands[len(b.in.Commands)-1].Received = b.at(4100)
		b.op("api-3", history.KindRead, 4000, 4020, history.OK, consistent, txnArg("t1"), result("t1", "done"))
		b.op("api-4", history.KindRead, 4030, 4040, history.OK, consistent, txnArg("t1"), result("t1", "finalizing"))
		v := requireCaught(t, CheckLinearizable, b.in, "")
		require.Contains(t, v.What, "real time")
	})
	t.Run("acknowledged write not in the log", func(t *testing.T) {
		b := goodRun()
		b.op("api-1", history.KindAbort, 4100, 4150, history.OK, txnArg("t1"), result("t1", "aborting"))
		v := requireCaught(t, CheckLinearizable, b.in, "t1", "n2")
		require.Contains(t, v.What, "acknowledged")
	})
	t.Run("acknowledged writes are matched by earliest return", func(t *testing.T) {
		b := goodRun()
		b.in.Commands = b.in.Commands[:len(b.in.Commands)-1] // no finalize: two aborts instead
		b.in.Final[0].State = api.TxnAborted
		b.in.Ops = b.in.Ops[:3]
		b.cmd(3600, api.EventTxnAbort, "t1", "", 0)
		b.cmd(3700, api.EventTxnAbort, "t1", "", 0)
		b.cmd(3800, api.EventTxnFinish, "t1", "", 0)
		// The long call would take the first abort if served first; the
		// short one has only that abort in its call.
		b.op("api-1", history.KindAbort, 3550, 3750, history.OK, txnArg("t1"), result("t1", "aborting"))
		b.op("api-2", history.KindAbort, 3590, 3650, history.OK, txnArg("t1"), result("t1", "aborting"))
		r := CheckLinearizable(b.in)
		require.Equal(t, Pass, r.Status, "%v", r.Violation)
	})
	t.Run("non-consistent reads and unknown outcomes take no part", func(t *testing.T) {
		b := goodRun()
		b.op("api-2", history.KindRead, 4400, 4450, history.OK, txnArg("t1"), result("t1", "running"))
		b.op("api-1", history.KindAbort, 4100, 9150, history.Info, txnArg("t1"))
		require.Equal(t, Pass, CheckLinearizable(b.in).Status)
	})
}

func TestInstallRunsEndAtTheNextHookWithoutAnEnd(t *testing.T) {
	b := newBuilder()
	b.hook(0, "begin", "install", "n1", "t1", 1)
	b.hook(500, "begin", "restart", "n1", "t1", 1)
	b.in.End = b.at(9000)
	runs := installRuns(b.in)
	require.Len(t, runs, 1)
	require.Equal(t, b.at(500), runs[0].Ended)
	require.True(t, runs[0].EndUnknown)
	_ = procs.HookEvent{}
}

// TestAFailedRollbackRecoveredForward: a rollback that failed halts the
// transaction (txn.halt), an operator's retry rolls it forward
// (txn.recover), a node already at the target is skipped (step.skip), and
// the run finalizes. Every checker passes it; a retry is matched to its
// txn.recover.
func TestAFailedRollbackRecoveredForward(t *testing.T) {
	b := newBuilder()
	b.in.InitialProtocol = 3
	for _, n := range []string{"n1", "n2", "n3"} {
		b.in.Launches = append(b.in.Launches, history.Launch{Node: n, Version: "1.0.0", ProtocolMin: 2, ProtocolMax: 3, At: b.at(-1000)})
	}
	b.in.Tenures = []procs.Tenure{{Node: "n1", From: b.at(-500)}}
	ack := func(ms int, node string, attempt uint64, state api.StepState) {
		b.in.Acks = append(b.in.Acks, NoticeAck{Node: node, Txn: "t1", Attempt: attempt, State: state, At: b.at(ms)})
	}
	b.op("api-1", history.KindStart, 0, 20, history.OK, result("t1", "running"))
	b.cmd(10, api.EventTxnStart, "t1", "", 0)
	b.cmd(100, api.EventStepBegin, "t1", "n2", 1)
	b.install(120, 400, "n2", "t1", 1)
	b.cmd(500, api.EventStepComplete, "t1", "n2", 1)
	ack(510, "n2", 1, "done")
	b.cmd(1000, api.EventStepBegin, "t1", "n3", 1)
	b.hook(1020, "begin", "install", "n3", "t1", 1)
	b.hook(1400, "fail", "install", "n3", "t1", 1)
	b.cmd(1500, api.EventStepFail, "t1", "n3", 1)
	ack(1510, "n3", 1, "failed")
	b.cmd(1600, api.EventStepBegin, "t1", "n3", 2, rollback)
	b.cmd(1700, api.EventStepFail, "t1", "n3", 2)
	ack(1710, "n3", 2, "failed")
	b.cmd(1800, api.EventStepBegin, "t1", "n2", 2, rollback)
	b.cmd(1900, api.EventStepFail, "t1", "n2", 2)
	ack(1910, "n2", 2, "failed")
	b.cmd(2000, api.EventTxnHalt, "t1", "", 0)
	b.op("api-2", history.KindRead, 2030, 2060, history.OK, consistent, txnArg("t1"), result("t1", api.TxnRollbackFailed))
	b.op("api-1", history.KindRetry, 2100, 2150, history.OK, txnArg("t1"), result("t1", "running"))
	b.cmd(2110, api.EventTxnRecover, "t1", "", 0)
	b.cmd(2200, api.EventStepBegin, "t1", "n2", 3)
	b.install(2220, 2300, "n2", "t1", 3)
	b.cmd(2400, api.EventStepComplete, "t1", "n2", 3)
	ack(2410, "n2", 3, "done")
	b.cmd(2500, api.EventStepBegin, "t1", "n3", 3)
	b.install(2520, 2800, "n3", "t1", 3)
	b.cmd(2900, api.EventStepComplete, "t1", "n3", 3)
	ack(2910, "n3", 3, "done")
	b.cmd(3000, api.EventStepSkip, "t1", "n1", 0)
	b.op("api-2", history.KindRead, 3010, 3100, history.OK, consistent, txnArg("t1"), result("t1", "finalizing"))
	b.cmd(4000, api.EventTxnFinalize, "t1", "", 0, protocol(3))
	b.op("api-2", history.KindRead, 4200, 4250, history.OK, consistent, txnArg("t1"), result("t1", "done"))
	b.final("t1", api.TxnDone, 1, api.OnFailureRollback, doneStep("n2", 3), doneStep("n3", 3), doneStep("n1", 0))
	b.in.Healed = b.at(2000)
	b.in.SettleBound = 10 * time.Second
	b.in.End = b.at(5000)
	for _, r := range Run(b.in) {
		require.NotEqual(t, Fail, r.Status, "%s %s: %v %s", r.Invariant, r.Name, r.Violation, r.Note)
	}

	// A skip in a transaction that does not run is caught.
	bad := *b
	bad.in.Commands = append([]history.Event(nil), b.in.Commands...)
	bad.cmd(1950, api.EventStepSkip, "t1", "n1", 0)
	requireCaught(t, CheckNoBeginAfterAbort, bad.in, "t1")
}
