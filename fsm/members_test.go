package fsm

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func member(id, raftPort, httpPort string) Member {
	return Member{ID: id, RaftAddr: "127.0.0.1:" + raftPort, HTTPAddr: "127.0.0.1:" + httpPort,
		Version: "1.0.0", Voter: true, Protocol: ProtocolRange{Min: 1, Max: 1}}
}

func envelope(t *testing.T, typ CommandType, body any) Envelope {
	t.Helper()
	b, err := Encode(typ, 1, t0, body)
	require.NoError(t, err)
	e, err := Decode(b)
	require.NoError(t, err)
	return e
}

func threeMembers() *State {
	s := NewState(1)
	for i, id := range []string{"n1", "n2", "n3"} {
		p := string(rune('1' + i))
		s.Members[id] = member(id, "700"+p, "800"+p)
	}
	s.Index = 3
	return s
}

func TestMemberCommands(t *testing.T) {
	cases := []struct {
		name    string
		typ     CommandType
		body    any
		wantErr error
		check   func(t *testing.T, s *State)
	}{
		{name: "join new member", typ: CmdMemberJoin, body: MemberJoin{member("n4", "7004", "8004")},
			check: func(t *testing.T, s *State) { require.Contains(t, s.Members, "n4") }},
		{name: "rejoin same raft address updates details", typ: CmdMemberJoin,
			body: MemberJoin{Member{ID: "n2", RaftAddr: "127.0.0.1:7002", HTTPAddr: "127.0.0.1:9002", Version: "1.1.0",
				Voter: true, Protocol: ProtocolRange{1, 2}, Labels: map[string]string{"zone": "b"}}},
			check: func(t *testing.T, s *State) {
				require.Equal(t, "127.0.0.1:9002", s.Members["n2"].HTTPAddr)
				require.Equal(t, "b", s.Members["n2"].Labels["zone"])
			}},
		{name: "join with id taken by another address", typ: CmdMemberJoin,
			body: MemberJoin{member("n2", "7999", "8999")}, wantErr: ErrConflict},
		{name: "join with raft address of another member", typ: CmdMemberJoin,
			body: MemberJoin{member("n9", "7001", "8999")}, wantErr: ErrConflict},
		{name: "join with http address of another member", typ: CmdMemberJoin,
			body: MemberJoin{member("n9", "7999", "8001")}, wantErr: ErrConflict},
		{name: "join with bad id", typ: CmdMemberJoin,
			body: MemberJoin{member("-bad id", "7999", "8999")}, wantErr: ErrInvalid},
		{name: "join with bad raft address", typ: CmdMemberJoin,
			body: MemberJoin{Member{ID: "n9", RaftAddr: "nowhere", HTTPAddr: "127.0.0.1:1", Protocol: ProtocolRange{1, 1}}}, wantErr: ErrInvalid},
		{name: "join with port out of range", typ: CmdMemberJoin,
			body: MemberJoin{Member{ID: "n9", RaftAddr: "127.0.0.1:70000", HTTPAddr: "127.0.0.1:1", Protocol: ProtocolRange{1, 1}}}, wantErr: ErrInvalid},
		{name: "join with inverted protocol range", typ: CmdMemberJoin,
			body: MemberJoin{Member{ID: "n9", RaftAddr: "127.0.0.1:1", HTTPAddr: "127.0.0.1:2", Protocol: ProtocolRange{2, 1}}}, wantErr: ErrInvalid},
		{name: "join speaking only a newer protocol", typ: CmdMemberJoin,
			body: MemberJoin{Member{ID: "n9", RaftAddr: "127.0.0.1:1", HTTPAddr: "127.0.0.1:2", Protocol: ProtocolRange{2, 2}}}, wantErr: ErrConflict},
		{name: "leave", typ: CmdMemberLeave, body: MemberLeave{ID: "n3"},
			check: func(t *testing.T, s *State) { require.NotContains(t, s.Members, "n3") }},
		{name: "leave unknown", typ: CmdMemberLeave, body: MemberLeave{ID: "n7"}, wantErr: ErrNotFound},
		{name: "report", typ: CmdMemberReport, body: MemberReport{ID: "n1", Version: "2.0.0", Protocol: ProtocolRange{1, 2}},
			check: func(t *testing.T, s *State) {
				require.Equal(t, "2.0.0", s.Members["n1"].Version)
				require.Equal(t, ProtocolRange{1, 2}, s.Members["n1"].Protocol)
			}},
		{name: "report unknown member", typ: CmdMemberReport, body: MemberReport{ID: "n7", Version: "2.0.0", Protocol: ProtocolRange{1, 1}}, wantErr: ErrNotFound},
		{name: "report empty version", typ: CmdMemberReport, body: MemberReport{ID: "n1", Protocol: ProtocolRange{1, 1}}, wantErr: ErrInvalid},
		{name: "report bad protocol", typ: CmdMemberReport, body: MemberReport{ID: "n1", Version: "2.0.0"}, wantErr: ErrInvalid},
		{name: "unknown required command", typ: "member.teleport", body: struct{}{}, wantErr: ErrUnknownCommand},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := threeMembers()
			before := s.Clone()
			err := s.Apply(4, envelope(t, tc.typ, tc.body))
			require.Equal(t, uint64(4), s.Index, "the index advances whatever the outcome")
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				before.Index = 4
				require.Equal(t, before, s, "a rejected command changes nothing")
				return
			}
			require.NoError(t, err)
			tc.check(t, s)
		})
	}
}

func TestUnknownOptionalCommandIsSkipped(t *testing.T) {
	s := threeMembers()
	before := s.Clone()
	e := envelope(t, "member.future-thing", struct{}{})
	e.Optional = true
	require.NoError(t, s.Apply(4, e))
	before.Index = 4
	require.Equal(t, before, s)
}

// A body that does not decode is not invalid input (the leader encoded it
// from its own types): it is a build that cannot read the log, and the FSM
// halts on it (TestUnappliableEntryHaltsTheFSM).
func TestMalformedBodyIsUndecodable(t *testing.T) {
	s := threeMembers()
	err := s.Apply(4, Envelope{Type: CmdMemberJoin, Data: []byte(`{"member": 7}`)})
	require.ErrorIs(t, err, ErrUndecodable)
	require.Len(t, s.Members, 3)
}
