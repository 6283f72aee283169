package fsm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRingCommandsAreProtocol3(t *testing.T) {
	for _, c := range []CommandType{CmdRingSet, CmdMemberService, CmdGatewayRegister, CmdGatewayLeave, CmdGatewayExpire} {
		require.Equal(t, 3, CommandProtocol(c), c)
		require.True(t, known(c), c)
	}
}

// ringMembers puts n4 and n5 beside n1..n3, at protocol 3.
func ringMembers(sc *scene) {
	sc.do(CmdMemberJoin, MemberJoin{member("n4", "7004", "8004")})
	sc.do(CmdMemberJoin, MemberJoin{member("n5", "7005", "8005")})
	proto3(sc)
}

// ringPlan is a ring transaction over the ring n1..n5, cut as the ring
// strategy cuts it with max-parallel 2: [n1 n3] [n5 n2] [n4].
func ringPlan(edits ...func(*Txn)) Txn {
	tx := plan(func(tx *Txn) {
		tx.Strategy, tx.MaxParallel = StrategyRing, 2
		tx.Ring = []string{"n1", "n2", "n3", "n4", "n5"}
		tx.Steps = []Step{{Node: "n1", Batch: 0}, {Node: "n3", Batch: 0}, {Node: "n5", Batch: 1}, {Node: "n2", Batch: 1}, {Node: "n4", Batch: 2}}
	})
	for _, e := range edits {
		e(&tx)
	}
	return tx
}

func phaseRingRunning(sc *scene) { ringMembers(sc); sc.start(ringPlan()) }

func TestRingSet(t *testing.T) {
	cases := []txnCase{
		{name: "stores every member in the given order", setup: proto3,
			typ: CmdRingSet, body: RingSet{Order: []string{"n3", "n1", "n2"}},
			want: func(s *State) { s.Ring = []string{"n3", "n1", "n2"} }},
		{name: "replaces a stored ring", setup: func(sc *scene) {
			proto3(sc)
			sc.do(CmdRingSet, RingSet{Order: []string{"n3", "n1", "n2"}})
		}, typ: CmdRingSet, body: RingSet{Order: []string{"n1", "n2", "n3"}},
			want: func(s *State) { s.Ring = []string{"n1", "n2", "n3"} }},
		{name: "refuses a member left out", setup: proto3,
			typ: CmdRingSet, body: RingSet{Order: []string{"n1", "n2"}}, wantErr: ErrInvalid},
		{name: "refuses a member twice", setup: proto3,
			typ: CmdRingSet, body: RingSet{Order: []string{"n1", "n2", "n3", "n1"}}, wantErr: ErrInvalid},
		{name: "refuses an id that is no member", setup: proto3,
			typ: CmdRingSet, body: RingSet{Order: []string{"n1", "n2", "n3", "n7"}}, wantErr: ErrNotFound},
		{name: "refuses a malformed id", setup: proto3,
			typ: CmdRingSet, body: RingSet{Order: []string{"n1", "n2", "n3", "a b"}}, wantErr: ErrInvalid},
		{name: "refuses an empty ring", setup: proto3,
			typ: CmdRingSet, body: RingSet{}, wantErr: ErrInvalid},
		{name: "refuses any change while a ring transaction runs", setup: phaseRingRunning,
			typ: CmdRingSet, body: RingSet{Order: []string{"n5", "n4", "n3", "n2", "n1"}}, wantErr: ErrConflict},
		{name: "refuses while a ring transaction is paused", setup: func(sc *scene) {
			phaseRingRunning(sc)
			sc.control(CmdTxnPause, "")
		}, typ: CmdRingSet, body: RingSet{Order: []string{"n5", "n4", "n3", "n2", "n1"}}, wantErr: ErrConflict},
		{name: "refuses while a ring transaction has failed (a retry runs on the ring)", setup: func(sc *scene) {
			phaseRingRunning(sc)
			sc.begin("n1", 1)
			sc.fail("n1", 1, "disk full")
		}, typ: CmdRingSet, body: RingSet{Order: []string{"n5", "n4", "n3", "n2", "n1"}}, wantErr: ErrConflict},
		{name: "accepts while a transaction of another strategy runs", setup: func(sc *scene) { proto3(sc); phaseRunning(sc) },
			typ: CmdRingSet, body: RingSet{Order: []string{"n2", "n1", "n3"}},
			want: func(s *State) { s.Ring = []string{"n2", "n1", "n3"} }},
	}
	runTxnCases(t, cases)
}

func TestRingSetNamesTheOffendingIDs(t *testing.T) {
	s := threeMembers()
	s.ProtocolVersion = 3
	require.ErrorContains(t, s.CheckRing([]string{"n1"}), "leaves out n2, n3")
	require.ErrorContains(t, s.CheckRing([]string{"n1", "n2", "n2", "n3", "n1"}), "lists n2, n1 more than once")
	require.ErrorContains(t, s.CheckRing([]string{"n1", "n2", "n3", "x", "y"}), "lists x, y, which are not a member")
}

func TestMemberService(t *testing.T) {
	cases := []txnCase{
		{name: "records a member's service address", setup: proto3,
			typ: CmdMemberService, body: MemberService{ID: "n2", ServiceAddr: "127.0.0.1:9002"},
			want: func(s *State) { m := s.Members["n2"]; m.ServiceAddr = "127.0.0.1:9002"; s.Members["n2"] = m }},
		{name: "clears it", setup: func(sc *scene) {
			proto3(sc)
			sc.do(CmdMemberService, MemberService{ID: "n2", ServiceAddr: "127.0.0.1:9002"})
		}, typ: CmdMemberService, body: MemberService{ID: "n2"},
			want: func(s *State) { m := s.Members["n2"]; m.ServiceAddr = ""; s.Members["n2"] = m }},
		{name: "refuses an address that is not HOST:PORT", setup: proto3,
			typ: CmdMemberService, body: MemberService{ID: "n2", ServiceAddr: "9002"}, wantErr: ErrInvalid},
		{name: "refuses an unknown member", setup: proto3,
			typ: CmdMemberService, body: MemberService{ID: "n9", ServiceAddr: "127.0.0.1:9002"}, wantErr: ErrNotFound},
		{name: "a re-join keeps it", setup: func(sc *scene) {
			proto3(sc)
			sc.do(CmdMemberService, MemberService{ID: "n2", ServiceAddr: "127.0.0.1:9002"})
		}, typ: CmdMemberJoin, body: MemberJoin{func() Member {
			m := member("n2", "7002", "8002")
			m.Protocol = ProtocolRange{Min: 1, Max: 3}
			return m
		}()},
			check: func(t *testing.T, s *State) { require.Equal(t, "127.0.0.1:9002", s.Members["n2"].ServiceAddr) }},
	}
	runTxnCases(t, cases)
}

func TestNeighbours(t *testing.T) {
	ring := []string{"a", "b", "c", "d"}
	require.Equal(t, []string{"d", "b"}, Neighbours(ring, "a"))
	require.Equal(t, []string{"c", "a"}, Neighbours(ring, "d"), "the last and the first are neighbours")
	require.Equal(t, []string{"b"}, Neighbours([]string{"a", "b"}, "a"))
	require.Empty(t, Neighbours([]string{"a"}, "a"))
	require.Empty(t, Neighbours(ring, "z"))
}

func TestRingTxnStart(t *testing.T) {
	cases := []txnCase{
		{name: "keeps the ring it was planned on", setup: ringMembers, typ: CmdTxnStart, body: TxnStart{Txn: ringPlan()},
			check: func(t *testing.T, s *State) {
				require.Equal(t, []string{"n1", "n2", "n3", "n4", "n5"}, txnOf(s).Ring)
			}},
		{name: "refuses ring neighbours in one batch (I9)", setup: ringMembers, typ: CmdTxnStart,
			body: TxnStart{Txn: ringPlan(func(tx *Txn) {
				tx.Steps = []Step{{Node: "n1", Batch: 0}, {Node: "n2", Batch: 0}, {Node: "n3", Batch: 1}, {Node: "n4", Batch: 1}, {Node: "n5", Batch: 2}}
			})}, wantErr: ErrInvalid},
		{name: "refuses the last and the first in one batch", setup: ringMembers, typ: CmdTxnStart,
			body: TxnStart{Txn: ringPlan(func(tx *Txn) {
				tx.Steps = []Step{{Node: "n1", Batch: 0}, {Node: "n3", Batch: 1}, {Node: "n5", Batch: 2}, {Node: "n2", Batch: 2}, {Node: "n4", Batch: 3}}
				tx.Ring = []string{"n5", "n3", "n1", "n2", "n4"} // n4 and n5 neighbours through the wrap
				tx.Steps = []Step{{Node: "n1", Batch: 0}, {Node: "n4", Batch: 1}, {Node: "n5", Batch: 1}, {Node: "n2", Batch: 2}, {Node: "n3", Batch: 3}}
			})}, wantErr: ErrInvalid},
		{name: "refuses a ring that leaves a step's node out", setup: ringMembers, typ: CmdTxnStart,
			body: TxnStart{Txn: ringPlan(func(tx *Txn) { tx.Ring = []string{"n1", "n2", "n3", "n4", "n9"} })}, wantErr: ErrInvalid},
		{name: "refuses a ring on another strategy", setup: ringMembers, typ: CmdTxnStart,
			body: TxnStart{Txn: plan(func(tx *Txn) { tx.Ring = []string{"n1", "n2", "n3"} })}, wantErr: ErrInvalid},
		{name: "before protocol 3 drops the ring, as an older build does", typ: CmdTxnStart,
			body:  TxnStart{Txn: plan(func(tx *Txn) { tx.Ring = []string{"n1", "n2", "n3"} })},
			check: func(t *testing.T, s *State) { require.Nil(t, txnOf(s).Ring) }},
	}
	runTxnCases(t, cases)
}

// I9 in the state machine: no step of a ring transaction begins while a
// ring neighbour's step runs, whatever the step.
func TestRingNeighbourStepsNeverRunTogether(t *testing.T) {
	// A plan whose second batch holds n2, a neighbour of n1 and n3: a
	// retry of n1 in batch 1 is the case the batches alone cannot rule
	// out.
	retryPlan := func(sc *scene) {
		ringMembers(sc)
		sc.start(ringPlan(parallel(3)))
	}
	cases := []txnCase{
		{name: "a step begins beside a neighbour that is pending", setup: phaseRingRunning,
			typ: CmdStepBegin, body: StepBegin{TxnID: txID, Node: "n1", Attempt: 1},
			check: func(t *testing.T, s *State) { require.Equal(t, StepRunning, stepOf(s, "n1").State) }},
		{name: "a step begins beside a non-neighbour that runs", setup: func(sc *scene) { phaseRingRunning(sc); sc.begin("n1", 1) },
			typ: CmdStepBegin, body: StepBegin{TxnID: txID, Node: "n3", Attempt: 1},
			check: func(t *testing.T, s *State) { require.Equal(t, StepRunning, stepOf(s, "n3").State) }},
		{name: "a step is refused while its ring neighbour runs", setup: func(sc *scene) {
			retryPlan(sc)
			sc.upgrade("n3")
			sc.begin("n1", 1)
			sc.fail("n1", 1, "disk full")
			sc.control(CmdTxnRetry, "")
			sc.begin("n1", 2)
			sc.s.Txns[txID].Steps[3].Batch = 0 // n2 into the running batch, as no planner would
			sc.s.Txns[txID].reindex()
		}, typ: CmdStepBegin, body: StepBegin{TxnID: txID, Node: "n2", Attempt: 1}, wantErr: ErrConflict},
	}
	runTxnCases(t, cases)
}

// The refusal above is the ring's, not another limit's; rollbacks, which
// run one at a time with nothing else running, need no case of their own.
func TestRingNeighbourRefusalIsTheRings(t *testing.T) {
	sc := newScene(t)
	ringMembers(sc)
	sc.start(ringPlan(parallel(3)))
	sc.upgrade("n3")
	sc.begin("n1", 1)
	sc.s.Txns[txID].Steps[3].Batch = 0
	sc.s.Txns[txID].reindex()
	err := sc.apply(CmdStepBegin, StepBegin{TxnID: txID, Node: "n2", Attempt: 1})
	require.ErrorIs(t, err, ErrConflict)
	require.ErrorContains(t, err, "n2's ring neighbour n1 is upgrading in tx1")
}

func TestRingNeighbourErrorNamesBoth(t *testing.T) {
	tx := ringPlan()
	tx.Steps[1].State = StepRunning
	tx.ID = "t-9"
	err := checkRingNeighbours(&tx, "n2")
	require.ErrorIs(t, err, ErrConflict)
	require.ErrorContains(t, err, "n2's ring neighbour n3 is upgrading in t-9")
}

func TestGatewayRegistry(t *testing.T) {
	reg := func(sc *scene) { proto3(sc); sc.do(CmdGatewayRegister, GatewayRegister{Name: "gw1"}) }
	cases := []txnCase{
		{name: "registers a gateway stamped by the envelope", setup: proto3,
			typ: CmdGatewayRegister, body: GatewayRegister{Name: "gw1"},
			want: func(s *State) { s.Gateways = map[string]Gateway{"gw1": {Name: "gw1", RegisteredAt: tCmd}} }},
		{name: "a second registration changes nothing", setup: reg,
			typ: CmdGatewayRegister, body: GatewayRegister{Name: "gw1"}},
		{name: "refuses a bad name", setup: proto3,
			typ: CmdGatewayRegister, body: GatewayRegister{Name: "GW 1"}, wantErr: ErrInvalid},
		{name: "a gateway leaves", setup: reg,
			typ: CmdGatewayLeave, body: GatewayLeave{Name: "gw1"}, want: func(s *State) { s.Gateways = nil }},
		{name: "the leader expires one", setup: reg,
			typ: CmdGatewayExpire, body: GatewayExpire{Name: "gw1", TTL: Duration(15e9)}, want: func(s *State) { s.Gateways = nil }},
		{name: "leaving when not registered is not found", setup: proto3,
			typ: CmdGatewayLeave, body: GatewayLeave{Name: "gw1"}, wantErr: ErrNotFound},
		{name: "refuses one more than the most", setup: func(sc *scene) {
			proto3(sc)
			for i := range MaxGateways {
				sc.do(CmdGatewayRegister, GatewayRegister{Name: "gw" + string(rune('a'+i%26)) + string(rune('a'+i/26))})
			}
		}, typ: CmdGatewayRegister, body: GatewayRegister{Name: "one-more"}, wantErr: ErrConflict},
	}
	runTxnCases(t, cases)
}

func TestRingAndGatewaysSurviveASnapshot(t *testing.T) {
	sc := newScene(t)
	ringMembers(sc)
	sc.do(CmdRingSet, RingSet{Order: []string{"n5", "n4", "n3", "n2", "n1"}})
	sc.do(CmdGatewayRegister, GatewayRegister{Name: "gw1"})
	sc.do(CmdMemberService, MemberService{ID: "n1", ServiceAddr: "127.0.0.1:9001"})
	sc.start(ringPlan())
	b, err := sc.s.MarshalSnapshot()
	require.NoError(t, err)
	back, err := UnmarshalSnapshot(b)
	require.NoError(t, err)
	require.NoError(t, back.Validate())
	require.Equal(t, sc.s.Ring, back.Ring)
	require.Equal(t, sc.s.Gateways, back.Gateways)
	require.Equal(t, "127.0.0.1:9001", back.Members["n1"].ServiceAddr)
	require.Equal(t, txnOf(sc.s).Ring, txnOf(back).Ring)

	back.Ring = []string{"n1", "n1"}
	require.ErrorIs(t, back.Validate(), ErrBadState)
}
