package fsm

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func testKey(b byte) string {
	return NodeKeyPrefix + base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(rune(b)), 32)))
}

// TestMemberKey: a member's node key is set once; the same key again
// changes nothing, another is a conflict, and a re-join keeps the key
// whatever the join carries (member.join gains no meaning).
func TestMemberKey(t *testing.T) {
	s := threeMembers()
	require.NoError(t, s.Apply(4, envelopeAt(t, CmdMemberKey, t0, MemberKey{ID: "n2", Key: testKey('a')})))
	want := threeMembers().Members["n2"]
	want.NodeKey = testKey('a')
	require.Equal(t, want, s.Members["n2"], "only the key changes")
	require.NoError(t, s.Apply(5, envelopeAt(t, CmdMemberKey, t0, MemberKey{ID: "n2", Key: testKey('a')})), "the same key again")

	m := threeMembers().Members["n2"]
	m.NodeKey = testKey('z')
	require.NoError(t, s.Apply(6, envelopeAt(t, CmdMemberJoin, t0, MemberJoin{m})))
	require.Equal(t, testKey('a'), s.Members["n2"].NodeKey, "a re-join keeps the key on record")
	fresh := Member{ID: "n4", RaftAddr: "127.0.0.1:7041", HTTPAddr: "127.0.0.1:7042", Protocol: ProtocolRange{Min: 1, Max: 1}, NodeKey: testKey('z')}
	require.NoError(t, s.Apply(7, envelopeAt(t, CmdMemberJoin, t0, MemberJoin{fresh})))
	require.Empty(t, s.Members["n4"].NodeKey, "a join sets no key")

	for _, tc := range []struct {
		name string
		body MemberKey
		want error
	}{
		{"another key", MemberKey{ID: "n2", Key: testKey('b')}, ErrConflict},
		{"unknown member", MemberKey{ID: "n9", Key: testKey('a')}, ErrNotFound},
		{"no prefix", MemberKey{ID: "n1", Key: base64.StdEncoding.EncodeToString(make([]byte, 32))}, ErrInvalid},
		{"short key", MemberKey{ID: "n1", Key: NodeKeyPrefix + "AAAA"}, ErrInvalid},
		{"empty key", MemberKey{ID: "n1"}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Clone()
			err := s.Apply(8, envelopeAt(t, CmdMemberKey, t0, tc.body))
			require.ErrorIs(t, err, tc.want)
			before.Index = 8
			require.Equal(t, before, s, "a rejected command changes nothing")
		})
	}
	require.Equal(t, 3, CommandProtocol(CmdMemberKey))

	// The key goes with the member: one removed and joined again has none.
	require.NoError(t, s.Apply(9, envelopeAt(t, CmdMemberLeave, t0, MemberLeave{ID: "n2"})))
	require.NoError(t, s.Apply(10, envelopeAt(t, CmdMemberJoin, t0, MemberJoin{threeMembers().Members["n2"]})))
	require.Empty(t, s.Members["n2"].NodeKey)
}

// A snapshot with a malformed node key is refused.
func TestRestoreRefusesABadNodeKey(t *testing.T) {
	s := threeMembers()
	m := s.Members["n1"]
	m.NodeKey = "ed25519:not-a-key"
	s.Members["n1"] = m
	require.ErrorContains(t, s.Validate(), "node key")
	m.NodeKey = testKey('a')
	s.Members["n1"] = m
	require.NoError(t, s.Validate())
}
