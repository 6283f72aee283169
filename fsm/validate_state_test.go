package fsm

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// restoredFSM returns an FSM holding s, restored from its snapshot.
func restoredFSM(t *testing.T, s *State) *FSM {
	t.Helper()
	snap, err := s.MarshalSnapshot()
	require.NoError(t, err)
	f := New(LatestProtocol)
	require.NoError(t, f.Restore(io.NopCloser(bytes.NewReader(snap))))
	return f
}

// requireRefused checks that restoring snap fails with an error and leaves
// f's state as it was.
func requireRefused(t *testing.T, f *FSM, snap []byte) error {
	t.Helper()
	before := f.Read()
	err := f.Restore(io.NopCloser(bytes.NewReader(snap)))
	require.Error(t, err)
	require.Equal(t, before, f.Read(), "a refused snapshot must change nothing")
	return err
}

// The two snapshots of issue 14: a null transaction made Restore panic in
// reindex; an empty id in txn_order restored and made the list of
// transactions panic.
func TestRestoreRefusesCrashers(t *testing.T) {
	for _, snap := range []string{
		`{"txns":{"x":null}}`,
		`{"txn_order":[""]}`,
	} {
		t.Run(snap, func(t *testing.T) {
			sc := newScene(t)
			phaseN1Running(sc)
			f := restoredFSM(t, sc.s)
			requireRefused(t, f, []byte(snap))
		})
	}
}

func TestRestoreRefusesBrokenInvariants(t *testing.T) {
	cases := []struct {
		name string
		edit func(s *State)
	}{
		{"member key differs from its id", func(s *State) { m := s.Members["n1"]; delete(s.Members, "n1"); s.Members["n9"] = m }},
		{"member id invalid", func(s *State) { m := s.Members["n1"]; m.ID = "../n1"; delete(s.Members, "n1"); s.Members[m.ID] = m }},
		{"member protocol range empty", func(s *State) { m := s.Members["n1"]; m.Protocol = ProtocolRange{Min: 3, Max: 2}; s.Members["n1"] = m }},
		{"member role unknown", func(s *State) { m := s.Members["n1"]; m.Role = "boss"; s.Members["n1"] = m }},
		{"two primaries", func(s *State) {
			for _, id := range []string{"n1", "n2"} {
				m := s.Members[id]
				m.Role = RolePrimary
				s.Members[id] = m
			}
			s.Service.Primary = "n1"
		}},
		{"primary role without the record", func(s *State) { m := s.Members["n2"]; m.Role = RolePrimary; s.Members["n2"] = m }},
		{"build protocol range invalid", func(s *State) { s.Builds = map[string]ProtocolRange{"1.0.0": {}} }},
		{"txn key differs from its id", func(s *State) { s.Txns[txID].ID = "other" }},
		{"txn id invalid", func(s *State) {
			tx := s.Txns[txID]
			delete(s.Txns, txID)
			tx.ID, s.Active, s.TxnOrder = "../../evil", "../../evil", []string{"../../evil"}
			s.Txns[tx.ID] = tx
		}},
		{"txn order misses a txn", func(s *State) { s.TxnOrder = nil }},
		{"txn order names a txn twice", func(s *State) { s.TxnOrder = []string{txID, txID} }},
		{"txn order names an unknown txn", func(s *State) { s.TxnOrder = []string{"ghost"} }},
		{"active unknown", func(s *State) { s.Active = "ghost" }},
		{"active txn not named active", func(s *State) { s.Active = "" }},
		{"active names a finished txn", func(s *State) { s.Txns[txID].State = TxnDone }},
		{"two active txns", func(s *State) {
			tx := s.Txns[txID].clone()
			tx.ID = "tx2"
			s.Txns["tx2"] = tx
			s.TxnOrder = append(s.TxnOrder, "tx2")
		}},
		{"txn state unknown", func(s *State) { s.Txns[txID].State = "exploded" }},
		{"step node invalid", func(s *State) { s.Txns[txID].Steps[0].Node = "" }},
		{"two steps of one node", func(s *State) { s.Txns[txID].Steps[1].Node = "n1" }},
		{"batches out of order", func(s *State) { s.Txns[txID].Steps[0].Batch = 2 }},
		{"negative batch", func(s *State) { s.Txns[txID].Steps[0].Batch = -1 }},
		{"step state unknown", func(s *State) { s.Txns[txID].Steps[0].State = "sideways" }},
		{"switch-over phase unknown", func(s *State) { s.Txns[txID].Switchovers = []Switchover{{Phase: "lost"}} }},
		{"switch-over in progress before another", func(s *State) {
			s.Txns[txID].Switchovers = []Switchover{{Phase: SwitchChosen}, {Phase: SwitchDone}}
		}},
		{"negative protocol", func(s *State) { s.ProtocolVersion = -1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := newScene(t)
			phaseN1Running(sc)
			require.NoError(t, sc.s.Validate())
			f := restoredFSM(t, sc.s)
			bad := sc.s.Clone()
			tc.edit(bad)
			require.ErrorIs(t, bad.Validate(), ErrBadState)
			snap, err := bad.MarshalSnapshot()
			require.NoError(t, err)
			require.ErrorIs(t, requireRefused(t, f, snap), ErrBadState)
		})
	}
}
