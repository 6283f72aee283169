package node

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

func TestHeartbeatsTurnUnreachableOnlyAfterGrace(t *testing.T) {
	h := newHeartbeats()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	contact := now.Add(-time.Second)
	status := func(at time.Time) string { s, _ := h.status("n2", at, 3*time.Second); return s }

	require.Equal(t, fsm.LivenessAlive, status(now), "no failure seen")
	h.record(raft.FailedHeartbeatObservation{PeerID: "n2", LastContact: contact}, now)
	h.record(raft.FailedHeartbeatObservation{PeerID: "n2", LastContact: contact}, now.Add(2*time.Second))
	require.Equal(t, fsm.LivenessAlive, status(now.Add(2*time.Second)), "still within the grace")
	s, seen := h.status("n2", now.Add(3*time.Second), 3*time.Second)
	require.Equal(t, fsm.LivenessUnreachable, s)
	require.Equal(t, contact, seen, "last seen is Raft's last contact")
	require.Equal(t, fsm.LivenessAlive, func() string { s, _ := h.status("n3", now.Add(time.Hour), time.Second); return s }(), "other peers are unaffected")

	h.record(raft.ResumedHeartbeatObservation{PeerID: "n2"}, now.Add(4*time.Second))
	require.Equal(t, fsm.LivenessAlive, status(now.Add(5*time.Second)))

	// A failure that begins again starts its grace again.
	h.record(raft.FailedHeartbeatObservation{PeerID: "n2"}, now.Add(10*time.Second))
	require.Equal(t, fsm.LivenessAlive, status(now.Add(11*time.Second)))
	s, seen = h.status("n2", now.Add(14*time.Second), 3*time.Second)
	require.Equal(t, fsm.LivenessUnreachable, s)
	require.Equal(t, now.Add(10*time.Second), seen, "without a last contact, the first failure stands for it")

	h.reset()
	require.Equal(t, fsm.LivenessAlive, status(now.Add(time.Hour)))
}

// TestLeaderRecordsAStoppedServerUnreachable: with real Raft between three
// agents, the leader commits that it no longer reaches a stopped follower,
// with when it last did, and keeps itself alive.
func TestLeaderRecordsAStoppedServerUnreachable(t *testing.T) {
	latest := fsm.ProtocolRange{Min: fsm.LatestProtocol - 1, Max: fsm.LatestProtocol}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leader := registeredLeader(t, ctx, Config{ID: "n1", Version: "1.0.0", Protocol: latest, RaftMultiplier: 0.2}, nil)
	follower := serve(t, Config{ID: "n2", Join: []string{leader.cfg.HTTPAddr}, Version: "1.0.0", Protocol: latest, RaftMultiplier: 0.2}, nil)
	require.NoError(t, follower.Register(ctx))
	// A third voter keeps the quorum when the follower stops.
	third := serve(t, Config{ID: "n3", Join: []string{leader.cfg.HTTPAddr}, Version: "1.0.0", Protocol: latest, RaftMultiplier: 0.2}, nil)
	require.NoError(t, third.Register(ctx))

	liveness := func(id string) *fsm.Liveness {
		var l *fsm.Liveness
		leader.FSM().View(func(s *fsm.State) {
			if m := s.Members[id]; m.Liveness != nil {
				c := *m.Liveness
				l = &c
			}
		})
		return l
	}
	wantStatus := func(id, status string) {
		t.Helper()
		procs.Eventually(t, 30*time.Second, func() error {
			if l := liveness(id); l == nil || l.Status != status {
				return fmt.Errorf("%s's liveness is %+v, want %s", id, l, status)
			}
			return nil
		})
	}
	wantStatus("n1", fsm.LivenessAlive)
	wantStatus("n2", fsm.LivenessAlive)

	// Last seen is no earlier than the last contact before Shutdown
	// (heartbeats run every few hundred milliseconds). It has no tight
	// upper bound: a leader that lost and regained leadership meanwhile (a
	// loaded machine) knows no contact before its new tenure began, and
	// reports that.
	stopping := time.Now()
	require.NoError(t, follower.Shutdown())
	wantStatus("n2", fsm.LivenessUnreachable)
	l := liveness("n2")
	require.False(t, l.LastSeen.IsZero())
	require.False(t, l.LastSeen.Before(stopping.Add(-5*time.Second)), "last seen %s, stopping at %s", l.LastSeen, stopping)
	require.True(t, l.Since.After(l.LastSeen), "unreachable since %s, last seen %s", l.Since, l.LastSeen)
	require.Equal(t, fsm.LivenessAlive, liveness("n1").Status)
}
