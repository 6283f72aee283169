package fsm

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMemberVersionError: a member whose version hook fails says so, and
// the catalogue keeps what it knew of its version; the reason goes when the
// member reports a good reading (a re-join) or clears it.
func TestMemberVersionError(t *testing.T) {
	s := threeMembers()
	failing := MemberVersionError{ID: "n2", Error: "version hook failed: exited 4: cannot read /opt/app/VERSION"}

	require.NoError(t, s.Apply(4, envelopeAt(t, CmdMemberVersionError, t0, failing)))
	want := threeMembers().Members["n2"]
	want.VersionError = failing.Error
	require.Equal(t, want, s.Members["n2"], "only the reason changes; the version the catalogue knew stays")

	// A re-join is a fresh account of the member, with a version read now.
	m := threeMembers().Members["n2"]
	m.Version = "1.1.0"
	require.NoError(t, s.Apply(5, envelopeAt(t, CmdMemberJoin, t0, MemberJoin{m})))
	require.Empty(t, s.Members["n2"].VersionError)
	require.Equal(t, "1.1.0", s.Members["n2"].Version)

	require.NoError(t, s.Apply(6, envelopeAt(t, CmdMemberVersionError, t0, failing)))
	require.NoError(t, s.Apply(7, envelopeAt(t, CmdMemberVersionError, t0, MemberVersionError{ID: "n2"})))
	require.Empty(t, s.Members["n2"].VersionError, "an empty error clears it")

	for _, tc := range []struct {
		name string
		body MemberVersionError
		want error
	}{
		{"unknown member", MemberVersionError{ID: "n9", Error: "x"}, ErrNotFound},
		{"reason too long", MemberVersionError{ID: "n1", Error: strings.Repeat("x", MaxVersionError+1)}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Clone()
			err := s.Apply(8, envelopeAt(t, CmdMemberVersionError, t0, tc.body))
			require.ErrorIs(t, err, tc.want)
			before.Index = 8
			require.Equal(t, before, s, "a rejected command changes nothing")
		})
	}
	require.Equal(t, 3, CommandProtocol(CmdMemberVersionError))
}

// TestMemberVersionErrorSurvivesASnapshot: the reason is part of the state
// every replica restores.
func TestMemberVersionErrorSurvivesASnapshot(t *testing.T) {
	f := NewFor(3, 3)
	m := Member{ID: "n1", RaftAddr: "127.0.0.1:7001", HTTPAddr: "127.0.0.1:7002", Protocol: ProtocolRange{Min: 2, Max: 3}}
	require.NoError(t, applyLog(t, f, 1, CmdMemberJoin, MemberJoin{m}).Err)
	require.NoError(t, applyLog(t, f, 2, CmdMemberVersionError, MemberVersionError{ID: "n1", Error: "version hook failed: exited 1"}).Err)
	snap, err := f.Read().MarshalSnapshot()
	require.NoError(t, err)
	restored, err := UnmarshalSnapshot(snap)
	require.NoError(t, err)
	require.Equal(t, "version hook failed: exited 1", restored.Members["n1"].VersionError)
	require.Empty(t, restored.Members["n1"].Version, "a member that never read its version has none")
}
