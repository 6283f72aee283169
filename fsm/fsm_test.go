package fsm

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// sampleLog is a log with accepted and rejected commands of every kind.
func sampleLog(t *testing.T) []*raft.Log {
	t.Helper()
	var logs []*raft.Log
	add := func(typ CommandType, body any) {
		b, err := Encode(typ, 1, t0.Add(time.Duration(len(logs))*time.Second), body)
		require.NoError(t, err)
		logs = append(logs, &raft.Log{Index: uint64(len(logs) + 1), Type: raft.LogCommand, Data: b})
	}
	add(CmdMemberJoin, MemberJoin{member("n1", "7001", "8001")})
	add(CmdMemberJoin, MemberJoin{member("n2", "7002", "8002")})
	add(CmdMemberJoin, MemberJoin{member("n2", "7999", "8999")}) // rejected
	add(CmdMemberJoin, MemberJoin{Member{ID: "n3", RaftAddr: "127.0.0.1:7003", HTTPAddr: "127.0.0.1:8003",
		Version: "1.0.0", Protocol: ProtocolRange{1, 2}, Labels: map[string]string{"zone": "a", "rack": "r1"}}})
	add(CmdMemberReport, MemberReport{ID: "n1", Version: "1.1.0", Protocol: ProtocolRange{1, 1}})
	add(CmdMemberLeave, MemberLeave{ID: "n2"})
	add(CmdMemberLeave, MemberLeave{ID: "n2"}) // rejected
	logs = append(logs, &raft.Log{Index: uint64(len(logs) + 1), Type: raft.LogNoop})
	return logs
}

func TestReplayGivesEqualStates(t *testing.T) {
	a, b := New(1), New(1)
	for _, l := range sampleLog(t) {
		ra := a.Apply(l).(*Result)
		rb := b.Apply(l).(*Result)
		require.Equal(t, ra.Err == nil, rb.Err == nil)
	}
	require.Equal(t, a.Read(), b.Read())
	sa, err := a.Read().MarshalSnapshot()
	require.NoError(t, err)
	sb, err := b.Read().MarshalSnapshot()
	require.NoError(t, err)
	require.Equal(t, sa, sb, "equal states serialise to equal bytes")
	require.Equal(t, []string{"n1", "n3"}, ids(a.Read().MemberList()))
}

func ids(ms []Member) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { return nil }

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	a := New(1)
	for _, l := range sampleLog(t) {
		a.Apply(l)
	}
	snap, err := a.Snapshot()
	require.NoError(t, err)

	// Later applies must not leak into a snapshot already taken.
	b, _ := Encode(CmdMemberJoin, 1, t0, MemberJoin{member("n9", "7009", "8009")})
	a.Apply(&raft.Log{Index: 100, Type: raft.LogCommand, Data: b})

	sink := &memSink{}
	require.NoError(t, snap.Persist(sink))
	snap.Release()

	restored := New(1)
	require.NoError(t, restored.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))))
	want := New(1)
	for _, l := range sampleLog(t) {
		want.Apply(l)
	}
	require.Equal(t, want.Read(), restored.Read())
	require.NotContains(t, restored.Read().Members, "n9")
}

func TestRestoreRejectsGarbage(t *testing.T) {
	f := New(1)
	err := f.Restore(io.NopCloser(bytes.NewReader([]byte("not json"))))
	require.Error(t, err)
}

func TestWaitIndexWakesOnApply(t *testing.T) {
	f := New(1)
	done := make(chan uint64)
	go func() { done <- f.WaitIndex(context.Background(), 0) }()
	b, _ := Encode(CmdMemberJoin, 1, t0, MemberJoin{member("n1", "7001", "8001")})
	f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: b})
	select {
	case idx := <-done:
		require.Equal(t, uint64(1), idx)
	case <-time.After(10 * time.Second):
		t.Fatal("WaitIndex did not wake after an apply")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.Equal(t, uint64(1), f.WaitIndex(ctx, 5), "a cancelled wait returns the current index")
}
