package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"
)

// Benchmarks of the state machine at scale: a catalogue of benchMembers
// and one transaction over all of them. `go test` runs none of them
// without -bench; `make bench` does.

const benchMembers = 10000

// benchState returns a state with n members (one voter) and, when
// withTxn, a running transaction over all of them, max-parallel 100.
func benchState(b *testing.B, n int, withTxn bool) *State {
	b.Helper()
	s := NewState(1)
	for i := range n {
		id := fmt.Sprintf("m%05d", i)
		s.Members[id] = Member{ID: id, RaftAddr: fmt.Sprintf("10.0.%d.%d:7071", i/250, i%250),
			HTTPAddr: fmt.Sprintf("10.0.%d.%d:7070", i/250, i%250), Version: "1.0.0", Voter: i == 0,
			Protocol: ProtocolRange{Min: 1, Max: 1}}
	}
	if withTxn {
		benchStart(b, s, "tx-bench")
	}
	return s
}

func benchStart(b *testing.B, s *State, id string) {
	b.Helper()
	t := Txn{ID: id, TargetVersion: "2.0.0", Strategy: "by-id", MaxParallel: 100, OnFailure: OnFailureHalt,
		StepTimeout: Duration(time.Hour), ProgressDeadline: Duration(time.Hour)}
	for i, m := range s.MemberList() {
		t.Steps = append(t.Steps, Step{Node: m.ID, Batch: i / 100})
	}
	benchApply(b, s, CmdTxnStart, TxnStart{Txn: t})
}

func benchApply(b *testing.B, s *State, typ CommandType, body any) {
	b.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Apply(s.Index+1, Envelope{Type: typ, Protocol: 1, Time: time.Unix(1e9, 0), Data: data}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkStepCommands applies one step's begin and completion notice per
// operation, walking a 10,000-step transaction in order (a new one starts
// when it ends): the work the state machine does per step.
func BenchmarkStepCommands(b *testing.B) {
	s := benchState(b, benchMembers, true)
	ids := make([]string, 0, benchMembers)
	for _, m := range s.MemberList() {
		ids = append(ids, m.ID)
	}
	txn, next, round := "tx-bench", 0, 0
	b.ResetTimer()
	for range b.N {
		if next == len(ids) {
			b.StopTimer()
			s.Txns[txn].State, s.Active = TxnDone, ""
			round++
			txn, next = fmt.Sprintf("tx-bench-%d", round), 0
			benchStart(b, s, txn)
			b.StartTimer()
		}
		node := ids[next]
		next++
		benchApply(b, s, CmdStepBegin, StepBegin{TxnID: txn, Node: node, Attempt: 1})
		benchApply(b, s, CmdStepComplete, StepComplete{TxnID: txn, Node: node, Attempt: 1, Version: "2.0.0"})
	}
}

// BenchmarkClone copies the whole state of 10,000 members and a
// transaction over them: what the coordinator's loop used to do after
// every commit.
func BenchmarkClone(b *testing.B) {
	s := benchState(b, benchMembers, true)
	b.ResetTimer()
	for range b.N {
		_ = s.Clone()
	}
}

// BenchmarkActiveTxnCopy copies only the active transaction of 10,000
// steps.
func BenchmarkActiveTxnCopy(b *testing.B) {
	s := benchState(b, benchMembers, true)
	b.ResetTimer()
	for range b.N {
		_ = s.Txn(s.Active)
	}
}

// BenchmarkSnapshot takes a snapshot of the state of 10,000 members and a
// transaction over them as Raft does: the state machine's Snapshot, then
// Persist into a sink that discards.
func BenchmarkSnapshot(b *testing.B) {
	f := New(1)
	f.state = benchState(b, benchMembers, true)
	b.ResetTimer()
	for range b.N {
		snap, err := f.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		if err := snap.Persist(discardSink{}); err != nil {
			b.Fatal(err)
		}
		snap.Release()
	}
}

// BenchmarkSnapshotCapture is the state machine's Snapshot alone: Raft
// calls it between two applies, so commands wait this long.
func BenchmarkSnapshotCapture(b *testing.B) {
	f := New(1)
	f.state = benchState(b, benchMembers, true)
	b.ResetTimer()
	for range b.N {
		snap, err := f.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		snap.Release()
	}
}

// BenchmarkRestore restores the state machine from that snapshot, as a
// follower sent it does.
func BenchmarkRestore(b *testing.B) {
	snap, err := benchState(b, benchMembers, true).MarshalSnapshot()
	if err != nil {
		b.Fatal(err)
	}
	f := New(1)
	b.ResetTimer()
	for range b.N {
		if err := f.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
			b.Fatal(err)
		}
	}
}

// discardSink is a raft.SnapshotSink that keeps nothing.
type discardSink struct{}

func (discardSink) Write(p []byte) (int, error) { return len(p), nil }
func (discardSink) Close() error                { return nil }
func (discardSink) ID() string                  { return "discard" }
func (discardSink) Cancel() error               { return nil }

// BenchmarkMemberJoin checks and applies the join of one more member to a
// catalogue of 10,000 (the same one again each time: a re-join).
func BenchmarkMemberJoin(b *testing.B) {
	s := benchState(b, benchMembers, false)
	m := s.Members["m05000"]
	b.ResetTimer()
	for range b.N {
		benchApply(b, s, CmdMemberJoin, MemberJoin{Member: m})
	}
}
