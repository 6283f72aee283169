package fsm

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// TestUnappliableEntryHaltsTheFSM: an entry this build cannot apply must
// stop the replica loudly, never be dropped while the other replicas apply
// it. Each case feeds a follower's FSM one such entry after a join.
func TestUnappliableEntryHaltsTheFSM(t *testing.T) {
	status := MemberStatus{ID: "n1", Build: BuildInfo{Version: "2.0.0", Protocol: ProtocolRange{1, 2}}}
	statusEntry, err := Encode(CmdMemberStatus, 2, t0, status)
	require.NoError(t, err)
	unknownEntry, err := Encode("member.teleport", 3, t0, struct{}{})
	require.NoError(t, err)
	badBody, err := Encode(CmdStepBegin, 1, t0, map[string]any{"txn_id": "tx1", "node": "n1", "attempt": "one"})
	require.NoError(t, err)

	for _, tc := range []struct {
		name    string
		data    []byte
		typ     CommandType
		wantErr error
	}{
		{"command of a newer protocol", statusEntry, CmdMemberStatus, ErrUnknownCommand},
		{"unknown command type", unknownEntry, "member.teleport", ErrUnknownCommand},
		{"body this build cannot decode", badBody, CmdStepBegin, ErrUndecodable},
		{"envelope this build cannot decode", []byte(`{"type": 7}`), "", ErrUndecodable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFor(0, 1)
			var halts []*HaltError
			f.OnHalt(func(h *HaltError) { halts = append(halts, h) })
			applied := 0
			f.OnApply(func(uint64, Envelope, error) { applied++ })
			require.NoError(t, applyLog(t, f, 1, CmdMemberJoin, MemberJoin{member("n1", "7001", "8001")}).Err)
			before := f.Read()

			res := f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: tc.data}).(*Result)
			require.ErrorIs(t, res.Err, tc.wantErr)
			var halt *HaltError
			require.ErrorAs(t, res.Err, &halt)
			require.Equal(t, uint64(2), halt.Index)
			require.Equal(t, tc.typ, halt.Type)
			require.Contains(t, halt.Error(), "cannot apply log entry 2")
			require.Equal(t, before, f.Read(), "the entry changed the state")
			require.Len(t, halts, 1)
			require.Same(t, halt, f.Halted())

			// Nothing after it is applied, and OnHalt is not told again.
			res = applyLog(t, f, 3, CmdMemberJoin, MemberJoin{member("n2", "7002", "8002")})
			require.ErrorAs(t, res.Err, &halt)
			require.Equal(t, uint64(2), halt.Index)
			require.Equal(t, before, f.Read())
			require.Len(t, halts, 1)
			require.Equal(t, 1, applied, "only the join before the entry was applied")

			// No snapshot can claim to cover the entry.
			_, err := f.Snapshot()
			require.ErrorAs(t, err, &halt)

			// A snapshot installed from the leader, which did apply it,
			// brings the replica back.
			good := NewFor(0, 2)
			require.NoError(t, applyLog(t, good, 1, CmdMemberJoin, MemberJoin{member("n1", "7001", "8001")}).Err)
			require.NoError(t, applyLog(t, good, 2, CmdMemberStatus, status).Err)
			snap, err := good.Snapshot()
			require.NoError(t, err)
			sink := &memSink{}
			require.NoError(t, snap.Persist(sink))
			require.NoError(t, f.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))))
			require.Nil(t, f.Halted())
			require.NoError(t, applyLog(t, f, 3, CmdMemberJoin, MemberJoin{member("n2", "7002", "8002")}).Err)
			require.Contains(t, f.Read().Members, "n2")
		})
	}
}

// TestUnknownOptionalEntryIsSkippedAndTold: an optional entry may be skipped,
// but never silently.
func TestUnknownOptionalEntryIsSkippedAndTold(t *testing.T) {
	f := NewFor(0, 1)
	var skipped []uint64
	f.OnSkip(func(index uint64, e Envelope) { skipped = append(skipped, index) })
	require.NoError(t, applyLog(t, f, 1, CmdMemberJoin, MemberJoin{member("n1", "7001", "8001")}).Err)
	before := f.Read()
	b, err := Encode("member.future-thing", 3, t0, struct{}{})
	require.NoError(t, err)
	e, err := Decode(b)
	require.NoError(t, err)
	e.Optional = true
	b, err = json.Marshal(e)
	require.NoError(t, err)
	res := f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: b}).(*Result)
	require.NoError(t, res.Err)
	require.Equal(t, []uint64{2}, skipped)
	before.Index = 2
	require.Equal(t, before, f.Read())
	require.Nil(t, f.Halted())
}
