package fsm

import (
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

func applyLog(t *testing.T, f *FSM, index uint64, typ CommandType, body any) *Result {
	t.Helper()
	b, err := Encode(typ, 1, t0, body)
	require.NoError(t, err)
	return f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: b}).(*Result)
}

func TestFirstMemberSetsTheClusterProtocol(t *testing.T) {
	f := NewFor(0, 2)
	m := member("n1", "7001", "8001")
	m.Protocol = ProtocolRange{Min: 1, Max: 2}
	require.NoError(t, applyLog(t, f, 1, CmdMemberJoin, MemberJoin{m}).Err)
	require.Equal(t, 2, f.Read().ProtocolVersion)

	// A build that only speaks protocol 1 cannot join a protocol-2 cluster.
	old := member("n2", "7002", "8002")
	res := applyLog(t, f, 2, CmdMemberJoin, MemberJoin{old})
	require.ErrorIs(t, res.Err, ErrConflict)
	require.Contains(t, res.Err.Error(), "active protocol is 2")
	require.NotContains(t, f.Read().Members, "n2")
}

func TestProtocolTwoCommandUnknownToAProtocolOneBuild(t *testing.T) {
	status := MemberStatus{ID: "n1", Build: BuildInfo{Version: "2.0.0", Protocol: ProtocolRange{1, 2}, GoVersion: "go1.26"}}
	for _, speaks := range []int{1, 2} {
		f := NewFor(0, speaks)
		require.NoError(t, applyLog(t, f, 1, CmdMemberJoin, MemberJoin{member("n1", "7001", "8001")}).Err)
		before := f.Read()
		res := applyLog(t, f, 2, CmdMemberStatus, status)
		if speaks == 1 {
			// A required command of a protocol this build does not
			// speak halts the FSM where it stands.
			require.ErrorIs(t, res.Err, ErrUnknownCommand)
			var halt *HaltError
			require.ErrorAs(t, res.Err, &halt)
			require.Equal(t, uint64(2), halt.Index)
			require.Equal(t, before, f.Read(), "an entry the build cannot apply changes nothing")
			continue
		}
		require.NoError(t, res.Err)
		require.Equal(t, &status.Build, f.Read().Members["n1"].Build)
	}
	require.Equal(t, 2, CommandProtocol(CmdMemberStatus))
	require.Equal(t, 1, CommandProtocol(CmdTxnStart))
}

// The commands that keep a transaction true to what happened on its nodes
// are protocol 3: a protocol-2 build halts on them rather than apply them
// another way.
func TestTruthCommandsAreProtocolThree(t *testing.T) {
	for _, typ := range []CommandType{CmdStepSkip, CmdTxnHalt, CmdTxnRecover} {
		require.Equal(t, 3, CommandProtocol(typ), typ)
		f := NewFor(2, 2)
		res := applyLog(t, f, 1, typ, TxnControl{TxnID: "tx1"})
		require.ErrorIs(t, res.Err, ErrUnknownCommand, typ)
	}
	require.Equal(t, LatestProtocol, 3)
}

func TestDowngradePastFinalizeIsRefused(t *testing.T) {
	s := threeMembers()
	s.noteBuild("1.0.0", ProtocolRange{1, 1})
	s.noteBuild("2.0.0", ProtocolRange{1, 2})
	require.NoError(t, s.CheckTarget("1.0.0"), "before finalize, going back is fine")
	s.ProtocolVersion = 2
	err := s.CheckTarget("1.0.0")
	require.ErrorIs(t, err, ErrConflict)
	require.Contains(t, err.Error(), "below the cluster's active protocol 2")
	require.NoError(t, s.CheckTarget("2.0.0"))
	require.NoError(t, s.CheckTarget("9.9.9"), "an unknown version is not refused")
}
