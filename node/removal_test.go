package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// removalCluster is a catalogue of n members n1..n at protocol, every one
// a voter unless listed in nonvoters, with its Raft configuration.
func removalCluster(n, protocol int, nonvoters ...string) (*fsm.State, []raft.Server) {
	s := fsm.NewState(protocol)
	var servers []raft.Server
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("n%d", i)
		voter := true
		for _, nv := range nonvoters {
			voter = voter && nv != id
		}
		m := fsm.Member{ID: id, RaftAddr: fmt.Sprintf("127.0.0.1:%d", 7000+i), HTTPAddr: fmt.Sprintf("127.0.0.1:%d", 8000+i),
			Version: "1.0.0", Voter: voter, Protocol: fsm.ProtocolRange{Min: 2, Max: 3}}
		s.Members[id] = m
		suffrage := raft.Voter
		if !voter {
			suffrage = raft.Nonvoter
		}
		servers = append(servers, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(m.RaftAddr), Suffrage: suffrage})
	}
	return s, servers
}

// withStep gives the state an active transaction whose step of node is in
// state st.
func withStep(s *fsm.State, node string, st fsm.StepState) {
	t := &fsm.Txn{ID: "t-1", State: fsm.TxnRunning, Steps: []fsm.Step{{Node: node, State: st, Attempt: 1}}}
	s.Txns[t.ID], s.Active = t, t.ID
}

func down(ids ...string) func(string) (bool, string) {
	return func(id string) (bool, string) {
		for _, d := range ids {
			if d == id {
				return true, "unreachable since 12:00:00Z"
			}
		}
		return false, ""
	}
}

func TestPlanRemoval(t *testing.T) {
	type want struct {
		command fsm.CommandType
		inRaft  bool
		handoff bool
		failed  string
	}
	cases := []struct {
		name     string
		state    func() (*fsm.State, []raft.Server)
		id       string
		force    bool
		down     []string
		want     want
		wantErr  error
		contains string
	}{
		{name: "a live member without a step leaves",
			state: func() (*fsm.State, []raft.Server) { return removalCluster(3, 3) }, id: "n3",
			want: want{command: fsm.CmdMemberLeave, inRaft: true}},
		{name: "the leader hands leadership off first",
			state: func() (*fsm.State, []raft.Server) { return removalCluster(3, 3) }, id: "n1",
			want: want{command: fsm.CmdMemberLeave, inRaft: true, handoff: true}},
		{name: "force removes a dead member with a running step, failing the step",
			state: func() (*fsm.State, []raft.Server) {
				s, srv := removalCluster(3, 3)
				withStep(s, "n3", fsm.StepRunning)
				return s, srv
			}, id: "n3", force: true, down: []string{"n3"},
			want: want{command: fsm.CmdMemberForceLeave, inRaft: true, failed: "t-1"}},
		{name: "force without a step at protocol 2 is a plain leave",
			state: func() (*fsm.State, []raft.Server) { return removalCluster(3, 2) }, id: "n3", force: true, down: []string{"n3"},
			want: want{command: fsm.CmdMemberLeave, inRaft: true}},
		{name: "a member only in the raft configuration leaves it",
			state: func() (*fsm.State, []raft.Server) {
				s, srv := removalCluster(3, 3)
				delete(s.Members, "n3")
				return s, srv
			}, id: "n3", want: want{inRaft: true}},
		{name: "a member only in the catalogue leaves it",
			state: func() (*fsm.State, []raft.Server) {
				s, srv := removalCluster(3, 3)
				return s, srv[:2]
			}, id: "n3", want: want{command: fsm.CmdMemberLeave}},
		{name: "removing a dead voter keeps the quorum",
			state: func() (*fsm.State, []raft.Server) { return removalCluster(5, 3) }, id: "n5", force: true, down: []string{"n4", "n5"},
			want: want{command: fsm.CmdMemberForceLeave, inRaft: true}},
		{name: "a non-voter never counts for the quorum",
			state: func() (*fsm.State, []raft.Server) { return removalCluster(4, 3, "n4") }, id: "n4", down: []string{"n3"},
			want: want{command: fsm.CmdMemberLeave, inRaft: true}},

		{name: "unknown id", state: func() (*fsm.State, []raft.Server) { return removalCluster(3, 3) }, id: "n9",
			wantErr: fsm.ErrNotFound, contains: `member "n9" is neither in the catalogue nor in the raft configuration`},
		{name: "the last voter",
			state: func() (*fsm.State, []raft.Server) { return removalCluster(2, 3, "n2") }, id: "n1", force: true,
			wantErr: fsm.ErrConflict, contains: "n1 is the cluster's last voter"},
		{name: "a live voter whose removal loses the quorum",
			state: func() (*fsm.State, []raft.Server) { return removalCluster(3, 3) }, id: "n2", down: []string{"n3"},
			wantErr: fsm.ErrConflict, contains: "removing n2 would leave 2 voters (n1, n3) of which 1 is reachable (n1); a quorum needs 2: bring n3 back, or remove it first"},
		{name: "a dead member without --force",
			state: func() (*fsm.State, []raft.Server) { return removalCluster(3, 3) }, id: "n3", down: []string{"n3"},
			wantErr: fsm.ErrConflict, contains: "member n3 is unreachable since 12:00:00Z: remove it with --force"},
		{name: "a member with a running step without --force",
			state: func() (*fsm.State, []raft.Server) {
				s, srv := removalCluster(3, 3)
				withStep(s, "n3", fsm.StepRunning)
				return s, srv
			}, id: "n3",
			wantErr: fsm.ErrConflict, contains: "has a running step in transaction t-1: abort it first, or remove the member with --force, which fails its step"},
		{name: "a forced removal of a member with a step needs protocol 3",
			state: func() (*fsm.State, []raft.Server) {
				s, srv := removalCluster(3, 2)
				withStep(s, "n3", fsm.StepPending)
				return s, srv
			}, id: "n3", force: true, down: []string{"n3"},
			wantErr: fsm.ErrConflict, contains: "the cluster speaks protocol 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, servers := tc.state()
			got, err := planRemoval(s, servers, "n1", tc.id, tc.force, down(tc.down...))
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.Contains(t, err.Error(), tc.contains)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, want{command: got.command, inRaft: got.inRaft, handoff: got.handoff, failed: got.failsStepIn})
		})
	}
}

func TestHeartbeatsForgetARemovedPeer(t *testing.T) {
	h := newHeartbeats()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h.record(raft.FailedHeartbeatObservation{PeerID: "n3"}, now)
	s, _ := h.status("n3", now.Add(time.Minute), time.Second)
	require.Equal(t, fsm.LivenessUnreachable, s)
	// A removed server's replication stops without a "resumed"
	// observation: a replacement under the same id must not inherit it.
	removedAt := now.Add(time.Minute)
	h.forget("n3", removedAt)
	s, _ = h.status("n3", removedAt.Add(time.Minute), time.Second)
	require.Equal(t, fsm.LivenessAlive, s)
	// The old replication's failures may still arrive after the removal.
	h.record(raft.FailedHeartbeatObservation{PeerID: "n3", LastContact: now.Add(-time.Second)}, removedAt.Add(time.Second))
	s, _ = h.status("n3", removedAt.Add(time.Hour), time.Second)
	require.Equal(t, fsm.LivenessAlive, s, "a failure of the removed server's replication")
	// The replacement's own failures count.
	h.record(raft.FailedHeartbeatObservation{PeerID: "n3", LastContact: removedAt.Add(2 * time.Second)}, removedAt.Add(3*time.Second))
	s, _ = h.status("n3", removedAt.Add(time.Hour), time.Second)
	require.Equal(t, fsm.LivenessUnreachable, s)
}
