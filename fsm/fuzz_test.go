package fsm

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// The fuzz targets of the state machine: whatever bytes reach Apply,
// Restore or Decode (from a peer, a damaged disk, a crafted snapshot),
// nothing panics, a rejected input changes nothing, and an accepted one
// leaves a state that validates and survives a snapshot. Their corpora in
// testdata/fuzz hold every input that once broke these rules; `go test`
// runs them as unit tests, `make fuzz` explores further.

// fuzzState is a three-member state whose transaction tx1 is running its
// first step: enough for most commands to find what they name.
func fuzzState(t *testing.T) *State {
	sc := newScene(t)
	phaseN1Running(sc)
	return sc.s
}

// seedCommands are well-formed entries of several kinds, to start the
// fuzzer near the code paths that matter.
func seedCommands(t testing.TB) [][]byte {
	var out [][]byte
	add := func(typ CommandType, body any) {
		b, err := Encode(typ, LatestProtocol, tCmd, body)
		require.NoError(t, err)
		out = append(out, b)
	}
	add(CmdStepComplete, StepComplete{TxnID: txID, Node: "n1", Attempt: 1, Version: target})
	add(CmdStepFail, StepFail{TxnID: txID, Node: "n1", Attempt: 1, Error: "disk full"})
	add(CmdTxnAbort, TxnAbort{TxnID: txID, Rollback: true})
	add(CmdTxnStart, TxnStart{Txn: plan(withID("tx2"))})
	add(CmdMemberJoin, MemberJoin{member("n4", "7004", "8004")})
	add(CmdMemberForceLeave, MemberForceLeave{ID: "n1"})
	add(CmdServiceRoles, ServiceRoles{Primary: "n2", Roles: map[string]string{"n2": RolePrimary, "n3": RoleReplica}, ObservedAt: 3})
	return append(out, []byte(`{"type":"step.begin","protocol":3,"data":null}`), []byte(`{"type":"x","optional":true}`))
}

func FuzzApply(f *testing.F) {
	for _, b := range seedCommands(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, entry []byte) {
		s := fuzzState(t)
		fsm := restoredFSM(t, s)
		before := fsm.Read()
		res, ok := fsm.Apply(&raft.Log{Index: before.Index + 1, Type: raft.LogCommand, Data: entry}).(*Result)
		require.True(t, ok, "Apply returns a *Result")
		after := fsm.Read()
		var halt *HaltError
		switch {
		case errors.As(res.Err, &halt):
			require.Equal(t, before, after, "an entry that halts the FSM changes nothing")
		case res.Err != nil:
			before.Index = res.Index
			require.Equal(t, before, after, "a rejected command changes nothing but the index: %v", res.Err)
		default:
			require.NoError(t, after.Validate(), "an accepted command leaves a valid state")
			snap, err := after.MarshalSnapshot()
			require.NoError(t, err)
			round, err := UnmarshalSnapshot(snap)
			require.NoError(t, err)
			require.Equal(t, string(snap), string(mustSnapshot(t, round)), "the state survives a snapshot")
		}
	})
}

func mustSnapshot(t testing.TB, s *State) []byte {
	b, err := s.MarshalSnapshot()
	require.NoError(t, err)
	return b
}

func FuzzRestore(f *testing.F) {
	f.Add(mustSnapshot(f, threeMembers()))
	f.Add([]byte(`{"members":null,"txns":null}`))
	f.Fuzz(func(t *testing.T, snap []byte) {
		fsm := restoredFSM(t, fuzzState(t))
		before := fsm.Read()
		if err := fsm.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
			require.Equal(t, before, fsm.Read(), "a refused snapshot changes nothing")
			return
		}
		s := fsm.Read()
		require.NoError(t, s.Validate(), "a restored state is valid")
		again, err := UnmarshalSnapshot(mustSnapshot(t, s))
		require.NoError(t, err)
		require.Equal(t, mustSnapshot(t, s), mustSnapshot(t, again), "a restored state round-trips")
		// Every reader and the commands must cope with whatever was restored.
		s.MemberList()
		s.TxnList()
		s.ServicePrimary()
		s.RolesKnown()
		if tx := s.LatestTxn(); tx != nil {
			tx.CurrentBatch()
			tx.Batches()
			tx.CurrentSwitchover()
		}
		for i, entry := range seedCommands(t) {
			fsm.Apply(&raft.Log{Index: s.Index + uint64(i) + 1, Type: raft.LogCommand, Data: entry})
			require.NoError(t, fsm.Read().Validate(), "command %d after a restore", i)
		}
	})
}

func FuzzDecode(f *testing.F) {
	for _, b := range seedCommands(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"type":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			require.ErrorIs(t, err, ErrUndecodable)
			return
		}
		require.NotEmpty(t, e.Type)
		h, ok := handlers[e.Type]
		if !ok {
			return
		}
		// Whatever the body, the handler accepts, rejects or finds it
		// undecodable; it never panics.
		_ = h(threeMembers(), e.Time, e.Data)
	})
}
