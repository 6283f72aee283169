package fsm

import (
	"errors"
	"testing"
	"time"
)

const testClientKey = "ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

func clientMember(id string) Member {
	return Member{ID: id, Version: "1.0", Protocol: ProtocolRange{Min: 1, Max: 3}, Client: true, NodeKey: testClientKey}
}

func TestClientRegisterAddsAClientThatHoldsNoRaftState(t *testing.T) {
	s := NewState(3)
	if err := s.applyMemberJoin(time.Now(), MemberJoin{Member: Member{ID: "s1", RaftAddr: "127.0.0.1:1", HTTPAddr: "127.0.0.1:2",
		Protocol: ProtocolRange{Min: 1, Max: 3}, Voter: true}}); err != nil {
		t.Fatal(err)
	}
	if err := s.applyClientRegister(time.Now(), ClientRegister{Member: clientMember("c1")}); err != nil {
		t.Fatal(err)
	}
	m := s.Members["c1"]
	if !m.Client || m.Voter || m.RaftAddr != "" || m.HTTPAddr != "" || m.NodeKey != testClientKey {
		t.Fatalf("client record = %+v", m)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("state with a client does not validate: %v", err)
	}
	// A second client, also with no addresses, is no address clash.
	if err := s.applyClientRegister(time.Now(), ClientRegister{Member: clientMember("c2")}); err != nil {
		t.Fatalf("second client: %v", err)
	}
	// A re-registration keeps the liveness the leader recorded.
	if err := s.applyMemberLiveness(time.Now(), MemberLiveness{ID: "c1", Status: LivenessUnreachable}); err != nil {
		t.Fatal(err)
	}
	again := clientMember("c1")
	again.Version = "2.0"
	if err := s.applyClientRegister(time.Now(), ClientRegister{Member: again}); err != nil {
		t.Fatal(err)
	}
	if m := s.Members["c1"]; m.Version != "2.0" || m.Liveness == nil || m.Liveness.Status != LivenessUnreachable {
		t.Fatalf("re-registered client = %+v", m)
	}
}

func TestClientRegisterRefusals(t *testing.T) {
	base := func() *State {
		s := NewState(3)
		_ = s.applyMemberJoin(time.Now(), MemberJoin{Member: Member{ID: "s1", RaftAddr: "127.0.0.1:1", HTTPAddr: "127.0.0.1:2",
			Protocol: ProtocolRange{Min: 1, Max: 3}, Voter: true}})
		_ = s.applyClientRegister(time.Now(), ClientRegister{Member: clientMember("c1")})
		return s
	}
	mod := func(f func(*Member)) Member { m := clientMember("c9"); f(&m); return m }
	cases := []struct {
		name string
		m    Member
		want error
	}{
		{"not marked client", mod(func(m *Member) { m.Client = false }), ErrInvalid},
		{"raft address", mod(func(m *Member) { m.RaftAddr = "127.0.0.1:9" }), ErrInvalid},
		{"http address", mod(func(m *Member) { m.HTTPAddr = "127.0.0.1:9" }), ErrInvalid},
		{"voter", mod(func(m *Member) { m.Voter = true }), ErrInvalid},
		{"no key", mod(func(m *Member) { m.NodeKey = "" }), ErrInvalid},
		{"server's id", mod(func(m *Member) { m.ID = "s1" }), ErrConflict},
		{"another key", mod(func(m *Member) { m.ID = "c1"; m.NodeKey = "ed25519:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=" }), ErrConflict},
		{"old protocol", mod(func(m *Member) { m.Protocol = ProtocolRange{Min: 1, Max: 2} }), ErrConflict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := base()
			before := s.Clone()
			err := s.applyClientRegister(time.Now(), ClientRegister{Member: c.m})
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if len(s.Members) != len(before.Members) || s.Members["c1"].NodeKey != before.Members["c1"].NodeKey {
				t.Fatalf("a refused registration changed the catalogue")
			}
		})
	}
}

func TestMemberJoinNeverTakesAClientsID(t *testing.T) {
	s := NewState(3)
	_ = s.applyClientRegister(time.Now(), ClientRegister{Member: clientMember("c1")})
	err := s.applyMemberJoin(time.Now(), MemberJoin{Member: Member{ID: "c1", RaftAddr: "127.0.0.1:1", HTTPAddr: "127.0.0.1:2",
		Protocol: ProtocolRange{Min: 1, Max: 3}}})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("join over a client: %v", err)
	}
	err = s.applyMemberJoin(time.Now(), MemberJoin{Member: clientMember("c2")})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("member.join of a client record: %v", err)
	}
}
