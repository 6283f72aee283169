package fsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// requireStreamedLikeMarshal checks that the streamed snapshot of s is
// json.Marshal's encoding of it, byte for byte, and reads back equal.
func requireStreamedLikeMarshal(t *testing.T, s *State, format string, args ...any) {
	t.Helper()
	want, err := json.Marshal(s)
	require.NoError(t, err)
	got, err := s.MarshalSnapshot()
	require.NoError(t, err)
	if !bytes.Equal(want, got) {
		require.Equal(t, string(want), string(got), fmt.Sprintf(format, args...))
	}
	back, err := ReadSnapshot(bytes.NewReader(got))
	require.NoError(t, err)
	sameState(t, s, back, format, args...)
}

// The streaming encoder writes what json.Marshal writes for every state
// the random command sequences reach (transactions in every state, steps
// in every state, members come and gone, protocols raised), and the
// streaming decoder reads them back equal.
func TestSnapshotStreamsJSONMarshalsBytes(t *testing.T) {
	for seq := range 60 {
		r := rand.New(rand.NewPCG(propSeed, uint64(1000+seq)))
		s := fiveMembers()
		g := &commandGen{r: r, s: s}
		now := t0
		for i := range propCommands {
			typ, body := g.next()
			now = now.Add(time.Duration(1+r.IntN(600)) * time.Second)
			_ = s.Apply(uint64(i+1), envelopeAt(t, typ, now, body))
			requireStreamedLikeMarshal(t, s, "sequence %d, command %d", seq, i)
		}
	}
}

func TestSnapshotStreamsOddStates(t *testing.T) {
	withTxn := fiveMembers()
	withTxn.Txns["t-1"] = &Txn{ID: "t-1", State: TxnRunning, Steps: []Step{{Node: "n1", State: StepRunning, Attempt: 2}}}
	withTxn.TxnOrder, withTxn.Active = []string{"t-1"}, "t-1"
	withTxn.Builds = map[string]ProtocolRange{"1.0.0": {1, 1}, "2.0.0": {1, 2}}
	escaped := fiveMembers()
	escaped.Members["n<&>\u2028é"] = Member{ID: "n<&>\u2028é", Labels: map[string]string{"a<b": "c&d", "\"q\"": "\\"}}
	noSteps := fiveMembers()
	noSteps.Txns["t-0"] = &Txn{ID: "t-0", State: TxnDone}
	emptySteps := fiveMembers()
	emptySteps.Txns["t-0"] = &Txn{ID: "t-0", State: TxnDone, Steps: []Step{}}
	for name, s := range map[string]*State{
		"new":             NewState(1),
		"nil maps":        {Index: 3, ProtocolVersion: 2},
		"a transaction":   withTxn,
		"escaped strings": escaped,
		"nil steps":       noSteps,
		"empty steps":     emptySteps,
	} {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(s)
			require.NoError(t, err)
			got, err := s.MarshalSnapshot()
			require.NoError(t, err)
			require.Equal(t, string(want), string(got))
			_, err = ReadSnapshot(bytes.NewReader(got))
			require.NoError(t, err)
		})
	}
}

// countingSink is a snapshot sink that records the largest single write.
type countingSink struct {
	bytes.Buffer
	largest   int
	writes    int
	failAfter int // fail writes once this many bytes were written; 0 never
	cancelled bool
	closed    bool
}

func (s *countingSink) Write(p []byte) (int, error) {
	if s.failAfter > 0 && s.Len()+len(p) > s.failAfter {
		return 0, errors.New("disk full")
	}
	s.writes++
	s.largest = max(s.largest, len(p))
	return s.Buffer.Write(p)
}
func (s *countingSink) ID() string    { return "counting" }
func (s *countingSink) Cancel() error { s.cancelled = true; return nil }
func (s *countingSink) Close() error  { s.closed = true; return nil }

// bigFSM is an FSM over 5,000 members and a transaction over all of them,
// half done.
func bigFSM(t *testing.T) *FSM {
	t.Helper()
	s := NewState(1)
	var steps []Step
	for i := range 5000 {
		id := fmt.Sprintf("m%05d", i)
		s.Members[id] = Member{ID: id, RaftAddr: fmt.Sprintf("10.0.%d.%d:7071", i/250, i%250), HTTPAddr: fmt.Sprintf("10.0.%d.%d:7070", i/250, i%250),
			Version: "1.0.0", Protocol: ProtocolRange{1, 1}, Labels: map[string]string{"zone": "a"}}
		steps = append(steps, Step{Node: id, Batch: i / 100})
	}
	b, err := Encode(CmdTxnStart, 1, t0, TxnStart{Txn: Txn{ID: "t-big", TargetVersion: "2.0.0", Strategy: "by-id", MaxParallel: 100,
		OnFailure: OnFailureHalt, StepTimeout: Duration(time.Hour), ProgressDeadline: Duration(time.Hour), Steps: steps}})
	require.NoError(t, err)
	f := New(1)
	f.state = s
	require.NoError(t, f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: b}).(*Result).Err)
	for i := range 2500 {
		node := fmt.Sprintf("m%05d", i)
		applyLog(t, f, uint64(2+2*i), CmdStepBegin, StepBegin{TxnID: "t-big", Node: node, Attempt: 1})
		applyLog(t, f, uint64(3+2*i), CmdStepComplete, StepComplete{TxnID: "t-big", Node: node, Attempt: 1, Version: "2.0.0"})
	}
	return f
}

// Persist writes the snapshot in pieces no larger than its buffer: the
// encoded state is never held whole. What it writes is the state at
// Snapshot, whatever was applied after.
func TestPersistStreamsTheStateAtSnapshot(t *testing.T) {
	f := bigFSM(t)
	at := f.Read()
	want, err := json.Marshal(at)
	require.NoError(t, err)
	snap, err := f.Snapshot()
	require.NoError(t, err)
	applyLog(t, f, 6000, CmdStepBegin, StepBegin{TxnID: "t-big", Node: "m02500", Attempt: 1})
	applyLog(t, f, 6001, CmdMemberLeave, MemberLeave{ID: "m04999"})

	sink := &countingSink{}
	require.NoError(t, snap.Persist(sink))
	snap.Release()
	require.True(t, sink.closed)
	require.Equal(t, string(want), sink.String(), "the snapshot is the state when it was taken")
	require.Greater(t, sink.Len(), 1<<20)
	require.LessOrEqual(t, sink.largest, 64<<10, "written through a 64 KiB buffer, in %d writes", sink.writes)

	restored := New(1)
	require.NoError(t, restored.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))))
	sameState(t, at, restored.Read(), "restored, with its step index rebuilt")
}

func TestPersistCancelsTheSinkOnAWriteError(t *testing.T) {
	f := bigFSM(t)
	snap, err := f.Snapshot()
	require.NoError(t, err)
	sink := &countingSink{failAfter: 100 << 10}
	err = snap.Persist(sink)
	require.ErrorContains(t, err, "disk full")
	require.True(t, sink.cancelled)
	require.False(t, sink.closed)
}

func TestReadSnapshotRefusesWhatItCannotRead(t *testing.T) {
	good, err := fiveMembers().MarshalSnapshot()
	require.NoError(t, err)
	for name, in := range map[string]string{
		"not json":          "not json",
		"not an object":     `[1,2]`,
		"truncated":         string(good[:len(good)/2]),
		"data after":        string(good) + `{}`,
		"members a list":    `{"members":[1]}`,
		"a member a string": `{"members":{"n1":"n1"}}`,
		"a null txn":        `{"txns":{"t-1":null}}`,
		"a txn a number":    `{"txns":{"t-1":7}}`,
		"index a string":    `{"index":"7"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ReadSnapshot(strings.NewReader(in))
			require.Error(t, err)
			f := New(1)
			before := f.Read()
			require.Error(t, f.Restore(io.NopCloser(strings.NewReader(in))))
			require.Equal(t, before, f.Read(), "a snapshot that cannot be read changes nothing")
		})
	}
	s, err := ReadSnapshot(strings.NewReader(`{"index":4,"members":null,"txns":null}`))
	require.NoError(t, err)
	require.Equal(t, NewState(0).Members, s.Members, "null reads as empty")
	require.Equal(t, uint64(4), s.Index)
}

func TestSplicedRefusesAShapeItDoesNotKnow(t *testing.T) {
	e := newSnapshotEncoder(io.Discard)
	err := e.spliced(struct{ Members []int }{}, []string{`"members":{}`}, []func() error{func() error { return nil }})
	require.ErrorIs(t, err, errNoHole)
}
