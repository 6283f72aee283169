package fsm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The service's scenes: the cluster speaks protocol 3, n2 is the service's
// primary, and tx1 upgrades n1, n3, then n2 (one batch each), accepting a
// lag of 5.

func proto3(sc *scene) { sc.s.ProtocolVersion = 3 }

func (sc *scene) roles(primary string, roles map[string]string) {
	sc.t.Helper()
	sc.do(CmdServiceRoles, ServiceRoles{Primary: primary, Roles: roles})
}

func phaseN2Primary(sc *scene) {
	proto3(sc)
	sc.roles("n2", map[string]string{"n1": RoleReplica, "n2": RolePrimary, "n3": RoleReplica})
}

func svcPlan(edits ...func(*Txn)) Txn {
	return plan(append([]func(*Txn){withSteps(Step{Node: "n1", Batch: 0}, Step{Node: "n3", Batch: 1}, Step{Node: "n2", Batch: 2}),
		func(tx *Txn) { tx.MaxLag = 5 }}, edits...)...)
}

// phasePrimaryDue: n1 and n3 are done; n2's step, the primary's, is next.
func phasePrimaryDue(sc *scene) {
	phaseN2Primary(sc)
	sc.start(svcPlan())
	sc.upgrade("n1")
	sc.upgrade("n3")
}

func (sc *scene) switchTo(phase SwitchPhase) {
	sc.t.Helper()
	sc.do(CmdSwitchoverPhase, SwitchoverPhase{TxnID: txID, Node: "n2", Primary: "n3", Phase: phase})
}

// phaseChosen: n3 is chosen to take over from n2.
func phaseChosen(sc *scene) {
	phasePrimaryDue(sc)
	sc.do(CmdSwitchoverBegin, SwitchoverBegin{TxnID: txID, Node: "n2", Candidate: "n3", Diagnostic: "healthy", CandidateLag: 2})
}

func phaseSwitchDemoted(sc *scene)   { phaseChosen(sc); sc.switchTo(SwitchDemoted) }
func phaseSwitchPromoted(sc *scene)  { phaseSwitchDemoted(sc); sc.switchTo(SwitchPromoted) }
func phaseSwitchCommitted(sc *scene) { phaseSwitchPromoted(sc); sc.switchTo(SwitchCommitted) }
func phaseSwitchDone(sc *scene)      { phaseSwitchCommitted(sc); sc.switchTo(SwitchDone) }

func role(s *State, id string) string { return s.Members[id].Role }

func setRole(s *State, id, r string) {
	m := s.Members[id]
	m.Role = r
	s.Members[id] = m
}

// lastSwitch returns tx1's last switch-over.
func lastSwitch(s *State) *Switchover {
	sw := txnOf(s).Switchovers
	return &sw[len(sw)-1]
}

func TestServiceCommandsAreProtocol3(t *testing.T) {
	for _, c := range []CommandType{CmdServiceRoles, CmdSwitchoverBegin, CmdSwitchoverPhase, CmdSwitchoverFail} {
		require.Equal(t, 3, CommandProtocol(c), c)
		require.True(t, known(c), c)
	}
}

func TestServiceRoles(t *testing.T) {
	all := map[string]string{"n1": RoleReplica, "n2": RolePrimary, "n3": RoleReplica}
	runTxnCases(t, []txnCase{
		{name: "roles learned: one primary, the others replicas", setup: proto3,
			typ: CmdServiceRoles, body: ServiceRoles{Primary: "n2", Roles: all},
			want: func(s *State) {
				setRole(s, "n1", RoleReplica)
				setRole(s, "n2", RolePrimary)
				setRole(s, "n3", RoleReplica)
				s.Service = Service{Primary: "n2", Since: tCmd}
			},
			check: func(t *testing.T, s *State) {
				require.Equal(t, "n2", s.ServicePrimary())
				require.True(t, s.RolesKnown())
			}},
		{name: "the same roles again change nothing", setup: phaseN2Primary,
			typ: CmdServiceRoles, body: ServiceRoles{Primary: "n2", Roles: all}},
		{name: "a silent primary stays; a node without a role hook has none", setup: phaseN2Primary,
			typ: CmdServiceRoles, body: ServiceRoles{Primary: "n2", Roles: map[string]string{"n3": RoleNone}},
			want: func(s *State) { setRole(s, "n3", "") }},
		{name: "the primary moves: the old one is a replica from now on", setup: phaseN2Primary,
			typ: CmdServiceRoles, body: ServiceRoles{Primary: "n3", Roles: map[string]string{"n3": RolePrimary}},
			want: func(s *State) {
				setRole(s, "n2", RoleReplica)
				setRole(s, "n3", RolePrimary)
				s.Service = Service{Primary: "n3", Since: tCmd}
			}},
		{name: "no primary when the recorded one says replica", setup: phaseN2Primary,
			typ: CmdServiceRoles, body: ServiceRoles{Roles: map[string]string{"n2": RoleReplica}},
			want: func(s *State) {
				setRole(s, "n2", RoleReplica)
				s.Service = Service{}
			},
			check: func(t *testing.T, s *State) {
				require.Empty(t, s.ServicePrimary())
				require.True(t, s.RolesKnown(), "replicas are still known")
			}},
		{name: "unknown member", setup: proto3, typ: CmdServiceRoles,
			body: ServiceRoles{Primary: "n2", Roles: map[string]string{"n2": RolePrimary, "n9": RoleReplica}}, wantErr: ErrNotFound},
		{name: "unknown primary", setup: proto3, typ: CmdServiceRoles,
			body: ServiceRoles{Primary: "n9"}, wantErr: ErrNotFound},
		{name: "unknown role", setup: proto3, typ: CmdServiceRoles,
			body: ServiceRoles{Roles: map[string]string{"n1": "leader"}}, wantErr: ErrInvalid},
		{name: "two primaries", setup: proto3, typ: CmdServiceRoles,
			body: ServiceRoles{Primary: "n2", Roles: map[string]string{"n2": RolePrimary, "n3": RolePrimary}}, wantErr: ErrInvalid},
		{name: "a primary that says replica", setup: proto3, typ: CmdServiceRoles,
			body: ServiceRoles{Primary: "n2", Roles: map[string]string{"n2": RoleReplica}}, wantErr: ErrInvalid},
		{name: "a silent node named primary that is not the recorded one", setup: phaseN2Primary, typ: CmdServiceRoles,
			body: ServiceRoles{Primary: "n1"}, wantErr: ErrInvalid},
		{name: "refused while a switch-over is in progress", setup: phaseSwitchPromoted, typ: CmdServiceRoles,
			body: ServiceRoles{Primary: "n3", Roles: map[string]string{"n3": RolePrimary, "n2": RoleReplica}}, wantErr: ErrConflict},
		{name: "accepted again once the switch-over is done", setup: phaseSwitchDone, typ: CmdServiceRoles,
			body: ServiceRoles{Primary: "n3", Roles: map[string]string{"n1": RoleNone}, ObservedAt: 100},
			want: func(s *State) { setRole(s, "n1", "") }},
		{name: "roles observed before the last switch-over command are stale", setup: phaseSwitchDone, typ: CmdServiceRoles,
			body: ServiceRoles{Primary: "n2", Roles: map[string]string{"n2": RolePrimary, "n3": RoleReplica}, ObservedAt: 13}, wantErr: ErrStale},
	})
}

func TestSwitchoverBegin(t *testing.T) {
	begin := SwitchoverBegin{TxnID: txID, Node: "n2", Candidate: "n3", Diagnostic: "healthy", CandidateLag: 2}
	with := func(edit func(*SwitchoverBegin)) SwitchoverBegin {
		b := begin
		edit(&b)
		return b
	}
	runTxnCases(t, []txnCase{
		{name: "the candidate is recorded", setup: phasePrimaryDue, typ: CmdSwitchoverBegin, body: begin,
			want: func(s *State) {
				tx := txnOf(s)
				tx.Switchovers = []Switchover{{OldPrimary: "n2", Candidate: "n3", Phase: SwitchChosen, Diagnostic: "healthy",
					CandidateLag: 2, MaxLag: 5, StartedAt: tCmd, UpdatedAt: tCmd}}
				tx.UpdatedAt = tCmd
				s.Service.Switched = s.Index
			}},
		{name: "unknown transaction", setup: phasePrimaryDue, typ: CmdSwitchoverBegin,
			body: with(func(b *SwitchoverBegin) { b.TxnID = "tx9" }), wantErr: ErrNotFound},
		{name: "not while paused", setup: func(sc *scene) { phasePrimaryDue(sc); sc.control(CmdTxnPause, "") },
			typ: CmdSwitchoverBegin, body: begin, wantErr: ErrStale},
		{name: "one at a time", setup: phaseChosen, typ: CmdSwitchoverBegin,
			body: with(func(b *SwitchoverBegin) { b.Candidate = "n1" }), wantErr: ErrConflict},
		{name: "only from the recorded primary", setup: phasePrimaryDue, typ: CmdSwitchoverBegin,
			body: with(func(b *SwitchoverBegin) { b.Node, b.Candidate = "n3", "n1" }), wantErr: ErrStale},
		{name: "only before the primary's step is due", setup: func(sc *scene) { phaseN2Primary(sc); sc.start(svcPlan()) },
			typ: CmdSwitchoverBegin, body: begin, wantErr: ErrConflict},
		{name: "the candidate is another member", setup: phasePrimaryDue, typ: CmdSwitchoverBegin,
			body: with(func(b *SwitchoverBegin) { b.Candidate = "n2" }), wantErr: ErrInvalid},
		{name: "the candidate is a member", setup: phasePrimaryDue, typ: CmdSwitchoverBegin,
			body: with(func(b *SwitchoverBegin) { b.Candidate = "n9" }), wantErr: ErrInvalid},
		{name: "the candidate is not in the batch about to upgrade",
			setup: func(sc *scene) {
				phaseN2Primary(sc)
				sc.start(svcPlan(parallel(2), withSteps(Step{Node: "n1", Batch: 0}, Step{Node: "n2", Batch: 1}, Step{Node: "n3", Batch: 1})))
				sc.upgrade("n1")
			},
			typ: CmdSwitchoverBegin, body: begin, wantErr: ErrConflict},
		{name: "never a candidate over the lag limit", setup: phasePrimaryDue, typ: CmdSwitchoverBegin,
			body: with(func(b *SwitchoverBegin) { b.CandidateLag = 6 }), wantErr: ErrInvalid},
	})
}

func TestSwitchoverPhases(t *testing.T) {
	phase := func(p SwitchPhase) SwitchoverPhase {
		return SwitchoverPhase{TxnID: txID, Node: "n2", Primary: "n3", Phase: p}
	}
	advanced := func(p SwitchPhase) func(*State) {
		return func(s *State) {
			sw := lastSwitch(s)
			sw.Phase, sw.UpdatedAt = p, tCmd
			txnOf(s).UpdatedAt = tCmd
			s.Service.Switched = s.Index
		}
	}
	runTxnCases(t, []txnCase{
		{name: "demoted", setup: phaseChosen, typ: CmdSwitchoverPhase, body: phase(SwitchDemoted), want: advanced(SwitchDemoted)},
		{name: "promoted", setup: phaseSwitchDemoted, typ: CmdSwitchoverPhase, body: phase(SwitchPromoted), want: advanced(SwitchPromoted)},
		{name: "committed: the candidate is the primary", setup: phaseSwitchPromoted, typ: CmdSwitchoverPhase, body: phase(SwitchCommitted),
			want: func(s *State) {
				advanced(SwitchCommitted)(s)
				setRole(s, "n2", RoleReplica)
				setRole(s, "n3", RolePrimary)
				s.Service.Primary, s.Service.Since = "n3", tCmd
			}},
		{name: "done, with a note", setup: phaseSwitchCommitted, typ: CmdSwitchoverPhase,
			body: SwitchoverPhase{TxnID: txID, Node: "n2", Primary: "n3", Phase: SwitchDone, Note: "n1 unreachable: no follow"},
			want: func(s *State) {
				advanced(SwitchDone)(s)
				lastSwitch(s).Note = "n1 unreachable: no follow"
				txnOf(s).LastProgressAt = tCmd
			},
			check: func(t *testing.T, s *State) { require.Nil(t, txnOf(s).CurrentSwitchover()) }},
		{name: "a repeated phase changes nothing", setup: phaseSwitchDemoted, typ: CmdSwitchoverPhase, body: phase(SwitchDemoted)},
		{name: "no phase is skipped", setup: phaseChosen, typ: CmdSwitchoverPhase, body: phase(SwitchPromoted), wantErr: ErrStale},
		{name: "no phase goes back", setup: phaseSwitchPromoted, typ: CmdSwitchoverPhase, body: phase(SwitchDemoted), wantErr: ErrStale},
		{name: "chosen only by a begin", setup: phaseChosen, typ: CmdSwitchoverPhase, body: phase(SwitchChosen), wantErr: ErrInvalid},
		{name: "failed only by a fail", setup: phaseChosen, typ: CmdSwitchoverPhase, body: phase(SwitchFailed), wantErr: ErrInvalid},
		{name: "another candidate", setup: phaseChosen, typ: CmdSwitchoverPhase,
			body: SwitchoverPhase{TxnID: txID, Node: "n2", Primary: "n1", Phase: SwitchDemoted}, wantErr: ErrStale},
		{name: "nothing after done", setup: phaseSwitchDone, typ: CmdSwitchoverPhase, body: phase(SwitchDone),
			check: func(t *testing.T, s *State) { require.Equal(t, SwitchDone, lastSwitch(s).Phase) }},
		{name: "no switch-over", setup: phasePrimaryDue, typ: CmdSwitchoverPhase, body: phase(SwitchDemoted), wantErr: ErrStale},
		{name: "carried through a pause", setup: func(sc *scene) { phaseSwitchPromoted(sc); sc.control(CmdTxnPause, "") },
			typ: CmdSwitchoverPhase, body: phase(SwitchCommitted),
			check: func(t *testing.T, s *State) {
				require.Equal(t, "n3", s.ServicePrimary())
				require.Equal(t, TxnPaused, txnOf(s).State)
			}},
		{name: "not once the transaction ended", setup: func(sc *scene) {
			phaseSwitchPromoted(sc)
			sc.abort(false)
			sc.do(CmdTxnFinish, TxnFinish{TxnID: txID})
		}, typ: CmdSwitchoverPhase, body: phase(SwitchCommitted), wantErr: ErrStale},
	})
}

func TestSwitchoverFail(t *testing.T) {
	fail := SwitchoverFail{TxnID: txID, Node: "n2", Primary: "n3", Error: "hook promote exited 1: no"}
	const reason = "switch-over of the service's primary from n2 to n3 failed: hook promote exited 1: no"
	failed := func(s *State) {
		sw := lastSwitch(s)
		sw.Phase, sw.Error, sw.UpdatedAt = SwitchFailed, fail.Error, tCmd
		txnOf(s).UpdatedAt = tCmd
		s.Service.Switched = s.Index
	}
	runTxnCases(t, []txnCase{
		{name: "halt: the transaction fails, the primary stays", setup: phaseSwitchDemoted, typ: CmdSwitchoverFail, body: fail,
			want: func(s *State) {
				failed(s)
				txnOf(s).State, txnOf(s).Reason = TxnFailed, reason
			},
			check: func(t *testing.T, s *State) {
				require.Equal(t, "n2", s.ServicePrimary())
				require.Equal(t, StepPending, stepOf(s, "n2").State, "the old primary's step never began")
			}},
		{name: "rollback: the transaction rolls back",
			setup: func(sc *scene) {
				phaseN2Primary(sc)
				sc.start(svcPlan(rollbackPolicy))
				sc.upgrade("n1")
				sc.upgrade("n3")
				sc.do(CmdSwitchoverBegin, SwitchoverBegin{TxnID: txID, Node: "n2", Candidate: "n3", CandidateLag: 0})
			},
			typ: CmdSwitchoverFail, body: fail,
			want: func(s *State) {
				failed(s)
				tx := txnOf(s)
				tx.State, tx.RollbackRequested, tx.Reason = TxnAborting, true, reason+"; rolling back"
			}},
		{name: "while aborting the reason is added", setup: func(sc *scene) { phaseChosen(sc); sc.abort(false) },
			typ: CmdSwitchoverFail, body: fail,
			want: func(s *State) {
				failed(s)
				txnOf(s).Reason = "aborted by an operator; " + reason
			}},
		{name: "a repeat changes nothing", setup: func(sc *scene) { phaseChosen(sc); sc.do(CmdSwitchoverFail, fail) },
			typ: CmdSwitchoverFail, body: fail},
		{name: "not once committed", setup: phaseSwitchCommitted, typ: CmdSwitchoverFail, body: fail, wantErr: ErrStale},
		{name: "not once done", setup: phaseSwitchDone, typ: CmdSwitchoverFail, body: fail, wantErr: ErrStale},
		{name: "an error is needed", setup: phaseChosen, typ: CmdSwitchoverFail,
			body: SwitchoverFail{TxnID: txID, Node: "n2", Primary: "n3", Error: " "}, wantErr: ErrInvalid},
		{name: "another switch-over", setup: phaseChosen, typ: CmdSwitchoverFail,
			body: SwitchoverFail{TxnID: txID, Node: "n3", Primary: "n1", Error: "x"}, wantErr: ErrStale},
	})
}

func TestPrimaryStepWaitsForItsSwitchover(t *testing.T) {
	runTxnCases(t, []txnCase{
		{name: "the recorded primary's step does not begin", setup: phasePrimaryDue,
			typ: CmdStepBegin, body: StepBegin{TxnID: txID, Node: "n2", Attempt: 1}, wantErr: ErrConflict},
		{name: "nor while its switch-over is in progress", setup: phaseSwitchPromoted,
			typ: CmdStepBegin, body: StepBegin{TxnID: txID, Node: "n2", Attempt: 1}, wantErr: ErrConflict},
		{name: "it begins once the switch-over committed", setup: phaseSwitchDone,
			typ: CmdStepBegin, body: StepBegin{TxnID: txID, Node: "n2", Attempt: 1},
			check: func(t *testing.T, s *State) { require.Equal(t, StepRunning, stepOf(s, "n2").State) }},
		{name: "below protocol 3 nothing is recorded, and nothing waits",
			setup: func(sc *scene) {
				phasePrimaryDue(sc)
				sc.s.ProtocolVersion = 2
			},
			typ: CmdStepBegin, body: StepBegin{TxnID: txID, Node: "n2", Attempt: 1},
			check: func(t *testing.T, s *State) { require.Equal(t, StepRunning, stepOf(s, "n2").State) }},
	})
}

func TestMaxLagIsKeptFromProtocol3(t *testing.T) {
	sc := newScene(t)
	sc.start(svcPlan())
	require.Zero(t, txnOf(sc.s).MaxLag, "a build of protocol 2 drops the field; so does this one at protocol 2")

	sc = newScene(t)
	proto3(sc)
	sc.start(svcPlan(func(tx *Txn) { tx.Switchovers = []Switchover{{OldPrimary: "n1", Phase: SwitchChosen}} }))
	require.Equal(t, uint64(5), txnOf(sc.s).MaxLag)
	require.Empty(t, txnOf(sc.s).Switchovers, "a transaction starts without switch-overs")
}

func TestRejoinKeepsTheRecordedRole(t *testing.T) {
	sc := newScene(t)
	phaseN2Primary(sc)
	m := sc.s.Members["n2"]
	m.Role, m.Protocol = "", ProtocolRange{Min: 2, Max: 3}
	sc.do(CmdMemberJoin, MemberJoin{m})
	require.Equal(t, RolePrimary, role(sc.s, "n2"), "a re-join says nothing of the role")

	fresh := member("n4", "7004", "8004")
	fresh.Role, fresh.Protocol = RolePrimary, ProtocolRange{Min: 2, Max: 3}
	sc.do(CmdMemberJoin, MemberJoin{fresh})
	require.Empty(t, role(sc.s, "n4"), "a new member's role is learned, not declared")
	require.Equal(t, "n2", sc.s.ServicePrimary())

	sc.do(CmdMemberLeave, MemberLeave{ID: "n2"})
	require.Empty(t, sc.s.ServicePrimary(), "a member that left is nobody's primary")
}

func TestStateCopiesShareNoSwitchover(t *testing.T) {
	sc := newScene(t)
	phaseChosen(sc)
	before := sc.s.Clone()
	sc.switchTo(SwitchDemoted)
	require.Equal(t, SwitchChosen, lastSwitch(before).Phase, "a copy taken before keeps its phase")
	require.Equal(t, SwitchDemoted, lastSwitch(sc.s).Phase)
}
