package node

import (
	"strings"
	"testing"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// Issue 14: one InstallSnapshot RPC carrying {"txns":{"x":null}} made the
// receiving agent panic in FSM.Restore. Sent now to a running Raft whose
// state machine is Baton's, it is refused with an error: the node keeps
// running, and its state is what it was.
func TestCraftedInstallSnapshotIsRefusedWithoutPanic(t *testing.T) {
	for _, payload := range []string{`{"txns":{"x":null}}`, `{"txn_order":[""]}`} {
		t.Run(payload, func(t *testing.T) {
			var logs lockedBuffer
			conf := raft.DefaultConfig()
			conf.LocalID = "victim"
			conf.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info})
			addr, trans := raft.NewInmemTransport("victim")
			_, attacker := raft.NewInmemTransport("attacker")
			attacker.Connect(addr, trans)
			store := raft.NewInmemStore()
			machine := fsm.New(fsm.LatestProtocol)
			r, err := raft.NewRaft(conf, machine, store, store, raft.NewInmemSnapshotStore(), trans)
			require.NoError(t, err)
			defer r.Shutdown()
			before := machine.Read()

			cfg := raft.Configuration{Servers: []raft.Server{
				{Suffrage: raft.Voter, ID: "attacker", Address: "attacker"},
				{Suffrage: raft.Voter, ID: "victim", Address: addr},
			}}
			req := &raft.InstallSnapshotRequest{
				RPCHeader:       raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("attacker"), Addr: []byte("attacker")},
				SnapshotVersion: raft.SnapshotVersionMax, Term: 7, Leader: []byte("attacker"),
				LastLogIndex: 100, LastLogTerm: 7, Configuration: raft.EncodeConfiguration(cfg), ConfigurationIndex: 1,
				Size: int64(len(payload)),
			}
			var resp raft.InstallSnapshotResponse
			err = attacker.InstallSnapshot("victim", addr, req, &resp, strings.NewReader(payload))
			require.Error(t, err, "the crafted snapshot is refused")
			require.False(t, resp.Success)
			require.Contains(t, logs.String(), "failed to restore snapshot")

			require.Equal(t, before, machine.Read(), "the refused snapshot changed nothing")
			require.Nil(t, machine.Halted())
			require.NotEqual(t, raft.Shutdown, r.State(), "the node runs on")
		})
	}
}
