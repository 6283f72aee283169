package node

import (
	"context"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// TestJoinJudgesOnlyConfirmedState: a join refused with a conflict makes the
// joining agent give up and exit, so Join may refuse only on state that
// holds every committed entry. The chaos suite found an agent that, just
// restarted with a newer build, won an election before its state machine
// had caught up: its own registration was judged against a protocol version
// long superseded ("speaks protocol 7-8 but the cluster's active protocol
// is 3"), refused, and the agent exited. Here an agent that is not (or not
// yet provably) the leader holds a local state that would refuse the
// member; Join must answer "no leader" (retry) rather than a conflict.
func TestJoinJudgesOnlyConfirmedState(t *testing.T) {
	raftAddr, err := procs.FreeAddr()
	require.NoError(t, err)
	httpAddr, err := procs.FreeAddr()
	require.NoError(t, err)
	a, err := New(Config{ID: "n1", DataDir: t.TempDir(), RaftAddr: raftAddr, HTTPAddr: httpAddr,
		Version: "1.0.0", Protocol: fsm.ProtocolRange{Min: 1, Max: 1}})
	require.NoError(t, err)
	require.NoError(t, a.Start())
	defer a.Shutdown()

	// The local state, not confirmed by any leader: n9 sits at another
	// Raft address.
	held := fsm.Member{ID: "n9", RaftAddr: "127.0.0.1:1", HTTPAddr: "127.0.0.1:2", Version: "1.0.0",
		Protocol: fsm.ProtocolRange{Min: 1, Max: 1}}
	data, err := fsm.Encode(fsm.CmdMemberJoin, 1, time.Now(), fsm.MemberJoin{Member: held})
	require.NoError(t, err)
	res := a.fsm.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data}).(*fsm.Result)
	require.NoError(t, res.Err)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	moved := held
	moved.RaftAddr, moved.HTTPAddr = "127.0.0.1:3", "127.0.0.1:4"
	_, err = a.Join(ctx, moved)
	require.Error(t, err)
	require.NotErrorIs(t, err, fsm.ErrConflict, "refused on unconfirmed state: %v", err)
	require.ErrorIs(t, err, api.ErrNoLeader)
}
