package coordinator

import (
	"testing"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// runToFinalizing drives the harness's transaction until every step is done.
func (h *harness) runToFinalizing() {
	h.t.Helper()
	for h.txn().State == fsm.TxnRunning {
		h.drive()
		for _, n := range h.running() {
			h.complete(n)
		}
	}
	require.Equal(h.t, fsm.TxnFinalizing, h.txn().State)
}

// report commits what a member registers after a restart: its version and
// the protocol range of the build it now runs.
func (h *harness) report(id string, p fsm.ProtocolRange) {
	h.t.Helper()
	_, err := h.c.Apply(h.ctx, fsm.CmdMemberReport, fsm.MemberReport{ID: id, Version: "2.0.0", Protocol: p})
	require.NoError(h.t, err)
}

// TestFinalizeWaitsForTheLeaderToRegisterItsBuild covers the leader's own
// record: finalize computes the protocol from the catalogue, so a leader
// that restarted into another build and has not registered its range yet
// would finalize on the range of the build it no longer runs: too low (the
// protocol stays behind what every member speaks, until the next
// transaction) or too high (a protocol the leader itself cannot speak, I6).
func TestFinalizeWaitsForTheLeaderToRegisterItsBuild(t *testing.T) {
	v1, v12 := fsm.ProtocolRange{Min: 1, Max: 1}, fsm.ProtocolRange{Min: 1, Max: 2}
	cases := []struct {
		name string
		// others is what every other member registered; record the
		// leader's stale record; runs the range of the build it runs.
		others, record, runs fsm.ProtocolRange
		want                 int
	}{
		{"the leader runs a newer build", v12, v1, v12, 2},
		{"the leader runs an older build", v12, v12, v1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})
			h.runToFinalizing()
			leader := h.c.ID()
			for _, m := range members(3) {
				if m.ID == leader {
					h.report(m.ID, tc.record)
				} else {
					h.report(m.ID, tc.others)
				}
			}
			h.c.selfProtocol[leader] = tc.runs

			h.drive()
			txn := h.txn()
			require.Equal(t, fsm.TxnFinalizing, txn.State, "finalize must not count the leader's stale record")
			require.Contains(t, txn.Reason, "finalize waits for "+leader+" to register the protocol range")
			require.Equal(t, 1, h.c.FSM().Read().ProtocolVersion)

			h.report(leader, tc.runs)
			h.drive()
			txn = h.txn()
			require.Equal(t, fsm.TxnDone, txn.State)
			require.Equal(t, tc.want, txn.ProtocolVersion)
			require.Equal(t, tc.want, h.c.FSM().Read().ProtocolVersion)
		})
	}
}
