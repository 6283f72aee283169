package fsm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// protocol3 puts a scene's cluster at protocol 3, where a forced removal
// and a member's move exist.
func protocol3(sc *scene) { sc.s.ProtocolVersion = 3 }

// at3 runs setup on a cluster that speaks protocol 3.
func at3(setup func(sc *scene)) func(sc *scene) {
	return func(sc *scene) {
		protocol3(sc)
		if setup != nil {
			setup(sc)
		}
	}
}

func TestMemberForceLeave(t *testing.T) {
	remove := func(id string) MemberForceLeave { return MemberForceLeave{ID: id} }
	gone := func(id string) func(s *State) { return func(s *State) { delete(s.Members, id) } }
	// failedStep is what a forced removal leaves of id's step: failed with
	// the removal as its error, and the transaction following its policy.
	failedStep := func(id string, txn TxnState, reason string) func(s *State) {
		return func(s *State) {
			st := stepOf(s, id)
			st.State, st.FinishedAt, st.Error = StepFailed, tCmd, "member "+id+" was removed"
			// A begun attempt's record ends the same way.
			if n := len(st.Attempts); n > 0 && st.Attempts[n-1].Attempt == st.Attempt {
				st.Attempts = append([]Attempt(nil), st.Attempts...)
				last := &st.Attempts[n-1]
				last.State, last.FinishedAt, last.Error = StepFailed, tCmd, st.Error
			}
			txnOf(s).State, txnOf(s).Reason, txnOf(s).UpdatedAt = txn, reason, tCmd
			delete(s.Members, id)
		}
	}
	cases := []txnCase{
		{name: "a member without a transaction", setup: at3(nil), typ: CmdMemberForceLeave, body: remove("n3"), want: gone("n3")},
		{name: "its running step fails with the removal as the error; halt fails the transaction",
			setup: at3(phaseN1Running), typ: CmdMemberForceLeave, body: remove("n1"),
			want: failedStep("n1", TxnFailed, "step on n1 failed (attempt 1): member n1 was removed")},
		{name: "its pending step fails too, without an attempt",
			setup: at3(phaseN1Running), typ: CmdMemberForceLeave, body: remove("n3"),
			want: failedStep("n3", TxnFailed, "step on n3 failed before it began: member n3 was removed")},
		{name: "a paused transaction halts", setup: at3(phasePaused), typ: CmdMemberForceLeave, body: remove("n2"),
			want: failedStep("n2", TxnFailed, "step on n2 failed before it began: member n2 was removed")},
		{name: "rollback policy: the transaction aborts and rolls back what ran",
			setup: at3(func(sc *scene) { sc.start(plan(rollbackPolicy)); sc.upgrade("n1"); sc.begin("n2", 1) }),
			typ:   CmdMemberForceLeave, body: remove("n2"),
			want: func(s *State) {
				failedStep("n2", TxnAborting, "step on n2 failed (attempt 1): member n2 was removed; rolling back")(s)
				txnOf(s).RollbackRequested = true
			}},
		{name: "an aborting transaction keeps aborting and adds the removal to its reason",
			setup: at3(phaseAbortingN1Running), typ: CmdMemberForceLeave, body: remove("n1"),
			want: failedStep("n1", TxnAborting, "aborted by an operator; step on n1 failed (attempt 1): member n1 was removed")},
		{name: "a running rollback fails", setup: at3(phaseN2RollingBack), typ: CmdMemberForceLeave, body: remove("n2"),
			want: failedStep("n2", TxnAborting, "aborted by an operator; rollback on n2 failed (attempt 2): member n2 was removed")},
		{name: "a done step stays done", setup: at3(phaseN2Running), typ: CmdMemberForceLeave, body: remove("n1"), want: gone("n1")},
		{name: "a failed step keeps its own error",
			setup: at3(phaseFailed), typ: CmdMemberForceLeave, body: remove("n1"), want: gone("n1")},
		{name: "a finished transaction is history", setup: at3(phaseAborted), typ: CmdMemberForceLeave, body: remove("n2"), want: gone("n2")},

		{name: "unknown member", setup: at3(phaseN1Running), typ: CmdMemberForceLeave, body: remove("n9"), wantErr: ErrNotFound},
		{name: "malformed id", setup: at3(nil), typ: CmdMemberForceLeave, body: remove("-x"), wantErr: ErrInvalid},
	}
	runTxnCases(t, cases)
	require.Equal(t, 3, CommandProtocol(CmdMemberForceLeave))
}

// From protocol 3, the step of a member that left the catalogue can no
// longer begin, be retried or be rolled back: there is no node to run it.
// (Before protocol 3 these commands were accepted, and a replay of such a
// log must still accept them: TestDepartedMemberIsNotRecreated.)
func TestStepOfARemovedMemberCannotRun(t *testing.T) {
	leave := func(id string) func(sc *scene) {
		return func(sc *scene) { sc.do(CmdMemberForceLeave, MemberForceLeave{ID: id}) }
	}
	then := func(steps ...func(sc *scene)) func(sc *scene) {
		return func(sc *scene) {
			protocol3(sc)
			for _, s := range steps {
				s(sc)
			}
		}
	}
	rejoin := func(sc *scene) {
		m := member("n1", "7101", "8101")
		m.Protocol = ProtocolRange{Min: 2, Max: 3}
		sc.do(CmdMemberJoin, MemberJoin{m})
	}
	cases := []txnCase{
		{name: "retry of a transaction whose failed step's member was removed",
			setup: then(phaseN1Running, leave("n1")), typ: CmdTxnRetry, body: TxnControl{TxnID: txID}, wantErr: ErrConflict},
		{name: "begin of its step, made pending again by a retry before protocol 3",
			setup: func(sc *scene) {
				phaseFailed(sc)
				sc.do(CmdMemberLeave, MemberLeave{ID: "n1"})
				sc.control(CmdTxnRetry, "")
				protocol3(sc)
			},
			typ: CmdStepBegin, body: StepBegin{TxnID: txID, Node: "n1", Attempt: 2}, wantErr: ErrConflict},
		{name: "rollback of its done step",
			setup: then(func(sc *scene) {
				sc.start(plan())
				sc.upgrade("n1")
				sc.do(CmdMemberLeave, MemberLeave{ID: "n1"})
				sc.abort(true)
			}),
			typ: CmdStepBegin, body: StepBegin{TxnID: txID, Node: "n1", Attempt: 2, Rollback: true}, wantErr: ErrConflict},
		{name: "a replacement under the same id makes the step retriable again",
			setup: then(phaseN1Running, leave("n1"), rejoin), typ: CmdTxnRetry, body: TxnControl{TxnID: txID},
			check: func(t *testing.T, s *State) {
				require.Equal(t, TxnRunning, txnOf(s).State)
				require.Equal(t, StepPending, stepOf(s, "n1").State)
			}},
	}
	runTxnCases(t, cases)
}

func TestMemberMove(t *testing.T) {
	move := func(id, to, from string) MemberMove {
		return MemberMove{ID: id, RaftAddr: "127.0.0.1:" + to, PriorRaftAddr: "127.0.0.1:" + from}
	}
	moved := func(id, to string) func(s *State) {
		return func(s *State) {
			m := s.Members[id]
			m.RaftAddr = "127.0.0.1:" + to
			s.Members[id] = m
		}
	}
	cases := []txnCase{
		{name: "a member's raft address changes", setup: at3(nil), typ: CmdMemberMove, body: move("n2", "7102", "7002"),
			want: moved("n2", "7102")},
		{name: "a member in the middle of its step keeps it", setup: at3(phaseN1Running), typ: CmdMemberMove,
			body: move("n1", "7101", "7001"), want: moved("n1", "7101")},
		{name: "moving again to the same address changes nothing", setup: at3(nil), typ: CmdMemberMove,
			body: move("n2", "7002", "7002")},
		{name: "repeated after it applied", setup: at3(func(sc *scene) { sc.do(CmdMemberMove, move("n2", "7102", "7002")) }),
			typ: CmdMemberMove, body: move("n2", "7102", "7002")},

		{name: "from an address the member does not have", setup: at3(nil), typ: CmdMemberMove,
			body: move("n2", "7102", "7999"), wantErr: ErrConflict},
		{name: "to another member's address", setup: at3(nil), typ: CmdMemberMove,
			body: move("n2", "7003", "7002"), wantErr: ErrConflict},
		{name: "unknown member", setup: at3(nil), typ: CmdMemberMove, body: move("n9", "7109", "7009"), wantErr: ErrNotFound},
		{name: "malformed address", setup: at3(nil), typ: CmdMemberMove,
			body: MemberMove{ID: "n2", RaftAddr: "nowhere", PriorRaftAddr: "127.0.0.1:7002"}, wantErr: ErrInvalid},
	}
	runTxnCases(t, cases)
	require.Equal(t, 3, CommandProtocol(CmdMemberMove))
}
