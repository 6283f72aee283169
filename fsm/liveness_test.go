package fsm

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMemberLiveness(t *testing.T) {
	seen := t0.Add(-7 * time.Second)
	down := MemberLiveness{ID: "n2", Status: LivenessUnreachable, LastSeen: seen}
	up := MemberLiveness{ID: "n2", Status: LivenessAlive}

	s := threeMembers()
	require.Nil(t, s.Members["n2"].Liveness, "no record before the leader makes one")

	require.NoError(t, s.Apply(4, envelopeAt(t, CmdMemberLiveness, t0, down)))
	require.Equal(t, &Liveness{Status: LivenessUnreachable, Since: t0, LastSeen: seen}, s.Members["n2"].Liveness)

	// The same status again keeps the first time: "unreachable since"
	// must not move while the member stays down.
	require.NoError(t, s.Apply(5, envelopeAt(t, CmdMemberLiveness, t0.Add(time.Minute), down)))
	require.Equal(t, t0, s.Members["n2"].Liveness.Since)

	// A re-join (the agent restarted) keeps what the leader recorded.
	m := s.Members["n2"]
	m.Liveness = nil
	require.NoError(t, s.Apply(6, envelopeAt(t, CmdMemberJoin, t0.Add(2*time.Minute), MemberJoin{m})))
	require.Equal(t, LivenessUnreachable, s.Members["n2"].Liveness.Status)

	require.NoError(t, s.Apply(7, envelopeAt(t, CmdMemberLiveness, t0.Add(3*time.Minute), up)))
	require.Equal(t, &Liveness{Status: LivenessAlive, Since: t0.Add(3 * time.Minute)}, s.Members["n2"].Liveness)

	for _, tc := range []struct {
		name string
		body MemberLiveness
		want error
	}{
		{"unknown member", MemberLiveness{ID: "n9", Status: LivenessAlive}, ErrNotFound},
		{"unknown status", MemberLiveness{ID: "n1", Status: "sleepy"}, ErrInvalid},
		{"empty status", MemberLiveness{ID: "n1"}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Clone()
			err := s.Apply(8, envelopeAt(t, CmdMemberLiveness, t0, tc.body))
			require.ErrorIs(t, err, tc.want)
			before.Index = 8
			require.Equal(t, before, s, "a rejected command changes nothing")
		})
	}
	require.Equal(t, 3, CommandProtocol(CmdMemberLiveness))
}
