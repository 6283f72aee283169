package fsm

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// twoGroups puts n1 and n2 in group a (leader n1) and n3 alone in group b.
func twoGroups(tx *Txn) {
	tx.Strategy = "grouped"
	tx.Groups = []Group{{Name: "a", Leader: "n1", Members: []string{"n2", "n1"}}, {Name: "b", Leader: "n3", Members: []string{"n3"}}}
}

func withGroups(groups ...Group) func(*Txn) { return func(tx *Txn) { tx.Groups = groups } }

func phaseGrouped(sc *scene) { proto3(sc); sc.start(plan(twoGroups)) }

func TestTxnStartWithGroups(t *testing.T) {
	start := func(edits ...func(*Txn)) TxnStart {
		return TxnStart{Txn: plan(append([]func(*Txn){twoGroups}, edits...)...)}
	}
	cases := []txnCase{
		{name: "protocol 3 keeps the groups, with nobody acting", setup: proto3, typ: CmdTxnStart,
			body: start(func(tx *Txn) { tx.Groups[0].Acting = "n2" }),
			check: func(t *testing.T, s *State) {
				require.Equal(t, []Group{{Name: "a", Leader: "n1", Members: []string{"n2", "n1"}}, {Name: "b", Leader: "n3", Members: []string{"n3"}}},
					txnOf(s).Groups)
			}},
		{name: "below protocol 3 the groups are dropped, as an older build drops them", typ: CmdTxnStart, body: start(),
			check: func(t *testing.T, s *State) {
				require.Nil(t, txnOf(s).Groups)
				require.Len(t, txnOf(s).Steps, 3)
			}},
		{name: "a leader outside its group", setup: proto3, typ: CmdTxnStart, wantErr: ErrInvalid,
			body: start(withGroups(Group{Name: "a", Leader: "n3", Members: []string{"n1", "n2"}}, Group{Name: "b", Leader: "n3", Members: []string{"n3"}}))},
		{name: "a member in two groups", setup: proto3, typ: CmdTxnStart, wantErr: ErrInvalid,
			body: start(withGroups(Group{Name: "a", Leader: "n1", Members: []string{"n1", "n2"}}, Group{Name: "b", Leader: "n3", Members: []string{"n3", "n2"}}))},
		{name: "a node with a step in no group", setup: proto3, typ: CmdTxnStart, wantErr: ErrInvalid,
			body: start(withGroups(Group{Name: "a", Leader: "n1", Members: []string{"n1", "n2"}}))},
		{name: "a group member without a step", setup: proto3, typ: CmdTxnStart, wantErr: ErrInvalid,
			body: start(withGroups(Group{Name: "a", Leader: "n1", Members: []string{"n1", "n2", "n9"}}, Group{Name: "b", Leader: "n3", Members: []string{"n3"}}))},
		{name: "two groups of one name", setup: proto3, typ: CmdTxnStart, wantErr: ErrInvalid,
			body: start(withGroups(Group{Name: "a", Leader: "n1", Members: []string{"n1", "n2"}}, Group{Name: "a", Leader: "n3", Members: []string{"n3"}}))},
		{name: "an empty group name", setup: proto3, typ: CmdTxnStart, wantErr: ErrInvalid,
			body: start(withGroups(Group{Name: "", Leader: "n1", Members: []string{"n1", "n2", "n3"}}))},
	}
	runTxnCases(t, cases)
}

func TestGroupActing(t *testing.T) {
	acting := func(group, member, reason string) GroupActing {
		return GroupActing{TxnID: txID, Group: group, Member: member, Reason: reason}
	}
	cases := []txnCase{
		{name: "a member acts for its group", setup: phaseGrouped, typ: CmdGroupActing,
			body: acting("a", "n2", "leader n1 upgrades"),
			want: func(s *State) {
				g := txnOf(s).Group("a")
				g.Acting, g.ActingReason, g.ActingSince = "n2", "leader n1 upgrades", tCmd
				txnOf(s).UpdatedAt = tCmd
			}},
		{name: "the leader acts again", typ: CmdGroupActing,
			setup: func(sc *scene) { phaseGrouped(sc); sc.do(CmdGroupActing, acting("a", "n2", "leader n1 upgrades")) },
			body:  acting("a", "", ""),
			want: func(s *State) {
				g := txnOf(s).Group("a")
				g.Acting, g.ActingReason, g.ActingSince = "", "", time.Time{}
				txnOf(s).UpdatedAt = tCmd
			}},
		{name: "the leader cannot act for itself", setup: phaseGrouped, typ: CmdGroupActing, body: acting("a", "n1", ""), wantErr: ErrInvalid},
		{name: "a member of another group", setup: phaseGrouped, typ: CmdGroupActing, body: acting("a", "n3", ""), wantErr: ErrInvalid},
		{name: "an unknown group", setup: phaseGrouped, typ: CmdGroupActing, body: acting("z", "n2", ""), wantErr: ErrNotFound},
		{name: "an unknown transaction", setup: phaseGrouped, typ: CmdGroupActing,
			body: GroupActing{TxnID: "tx9", Group: "a", Member: "n2"}, wantErr: ErrNotFound},
		{name: "a transaction no longer active", typ: CmdGroupActing, body: acting("a", "n2", ""), wantErr: ErrStale,
			setup: func(sc *scene) {
				phaseGrouped(sc)
				sc.abort(false)
				sc.do(CmdTxnFinish, TxnFinish{TxnID: txID})
			}},
		{name: "a reason too long", setup: phaseGrouped, typ: CmdGroupActing,
			body: acting("a", "n2", string(make([]byte, MaxVersionError+1))), wantErr: ErrInvalid},
	}
	runTxnCases(t, cases)
}

func TestGroupActingIsProtocol3(t *testing.T) {
	require.Equal(t, 3, CommandProtocol(CmdGroupActing))
}

func TestGroupsSurviveASnapshot(t *testing.T) {
	sc := newScene(t)
	phaseGrouped(sc)
	sc.do(CmdGroupActing, GroupActing{TxnID: txID, Group: "a", Member: "n2", Reason: "leader n1 unreachable"})
	f := restoredFSM(t, sc.s)
	var groups []Group
	f.View(func(s *State) { groups = txnOf(s).Groups })
	require.Equal(t, txnOf(sc.s).Groups, groups)
	require.Equal(t, "n2", groups[0].Acting)

	// A snapshot whose group names a leader outside it is refused.
	txnOf(sc.s).Groups[1].Leader = "n1"
	snap, err := sc.s.MarshalSnapshot()
	require.NoError(t, err)
	require.ErrorContains(t, requireRefused(t, New(LatestProtocol), snap), "its leader")
}
