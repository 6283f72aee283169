package coordinator

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// newServiceHarness is newHarness on a cluster speaking protocol 3 whose
// members run a fake service with primary as its primary, as the role
// watch has recorded it; Baton's leader is n1.
func newServiceHarness(t *testing.T, size int, primary string, req api.StartRequest, setup ...func(*fakeService)) *harness {
	t.Helper()
	c := &fakeCluster{id: "n1", f: fsm.New(3), now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		applyErr: map[fsm.CommandType]error{}, selfProtocol: map[string]fsm.ProtocolRange{}}
	var ids []string
	for _, m := range members(size) {
		m.Protocol = fsm.ProtocolRange{Min: 2, Max: 3}
		_, err := c.Apply(context.Background(), fsm.CmdMemberJoin, fsm.MemberJoin{Member: m})
		require.NoError(t, err)
		ids = append(ids, m.ID)
	}
	svc := newFakeService(primary, ids...)
	for _, s := range setup {
		s(svc)
	}
	n := newFakeNodes()
	n.svc = svc
	h := &harness{t: t, c: c, n: n, ctx: context.Background(), logs: &logCapture{}, m: newFakeMetrics()}
	h.co = New(h.c, h.n, Options{Now: h.c.clock, HandoffPatience: 10 * time.Second, Logger: h.logs.logger(), Metrics: h.m})
	h.tn = newTenure()
	h.co.probeRoles(h.ctx, h.co.readRoles(), ids, nil)
	require.Equal(t, primary, h.recordedPrimary(), "the role watch recorded the service's primary")
	txn, err := h.co.Start(h.ctx, req)
	require.NoError(t, err)
	h.txnID = txn.ID
	return h
}

func (h *harness) recordedPrimary() string {
	var p string
	h.c.FSM().View(func(s *fsm.State) { p = s.ServicePrimary() })
	return p
}

func (h *harness) lastSwitchover() fsm.Switchover {
	sws := h.txn().Switchovers
	require.NotEmpty(h.t, sws)
	return sws[len(sws)-1]
}

// run drives the transaction until it leaves the running state, completing
// every step it begins, and checks after every turn that the service never
// has two primaries and that no step begins on the service's primary (I10).
func (h *harness) run() {
	h.t.Helper()
	for i := 0; h.txn().State == fsm.TxnRunning; i++ {
		require.Less(h.t, i, 200, "the transaction does not move: %s", h.txn().Reason)
		h.drive()
		require.LessOrEqual(h.t, len(h.n.svc.primaries()), 1, "I10: two primaries: %v", h.n.svc.primaries())
		for _, n := range h.running() {
			require.NotContains(h.t, h.n.svc.primaries(), n, "I10: %s upgrades while it is the service's primary", n)
			require.NotEqual(h.t, n, h.c.ID(), "I4")
			h.complete(n)
		}
	}
}

func followsIn(actions []string) []string {
	var out []string
	for _, a := range actions {
		if len(a) > 7 && a[:7] == "follow " {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

func TestSecondariesFirstSwitchesTheServiceOverBeforeItsPrimaryLast(t *testing.T) {
	h := newServiceHarness(t, 3, "n2", api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})
	require.Equal(t, []string{"n1", "n3", "n2"}, stepOrder(h.txn()), "the service's primary n2 last, though n1 leads Baton")
	h.run()
	require.Equal(t, fsm.TxnFinalizing, h.txn().State, h.txn().Reason)

	sw := h.lastSwitchover()
	require.Equal(t, fsm.SwitchDone, sw.Phase)
	require.Equal(t, "n2", sw.OldPrimary)
	require.Equal(t, "n1", sw.Candidate, "upgraded, equal idle weight: the lower id")
	require.Equal(t, "healthy", sw.Diagnostic)
	require.Equal(t, []string{"n1"}, h.n.svc.primaries())
	require.Equal(t, "n1", h.recordedPrimary())

	actions := h.n.svc.ran()
	require.Equal(t, []string{"demote n2", "promote n1"}, actions[:2], "demote before promote: never two primaries")
	require.Equal(t, []string{"follow n2", "follow n3"}, followsIn(actions), "follow on every other node")
	require.Equal(t, []string{"n1#1", "n3#1", "n2#1"}, h.n.sentNodes(), "the old primary's step only after the switch-over")
	// Baton's own leadership is handed off on its own: n1 hands it to n2
	// before n1's step, and n2, Baton's leader and the service's old
	// primary at once, hands it back before its own step.
	require.Equal(t, []string{"n2", "n1"}, h.c.transfers)
	require.Equal(t, 1, len(h.txn().Switchovers))
}

func stepOrder(t *fsm.Txn) []string {
	var out []string
	for _, s := range t.Steps {
		out = append(out, s.Node)
	}
	return out
}

func TestPrimaryFirstSwitchesOverTwice(t *testing.T) {
	h := newServiceHarness(t, 3, "n2", api.StartRequest{TargetVersion: "2.0.0", Strategy: "primary-first"})
	require.Equal(t, []string{"n2", "n1", "n3"}, stepOrder(h.txn()))
	h.run()
	require.Equal(t, fsm.TxnFinalizing, h.txn().State, h.txn().Reason)
	sws := h.txn().Switchovers
	require.Len(t, sws, 2, "the new primary's own step needs a switch-over too")
	require.Equal(t, "n2", sws[0].OldPrimary)
	require.Equal(t, "n1", sws[1].OldPrimary)
	require.Equal(t, "n2", sws[1].Candidate, "back to the one already upgraded")
}

// A leader that dies in any phase leaves a committed phase; a new tenure
// (a new leader's coordinator) goes on from it, running the interrupted
// part again, and ends with exactly one primary.
func TestSwitchoverResumesFromEachPhase(t *testing.T) {
	for _, phase := range []fsm.SwitchPhase{fsm.SwitchChosen, fsm.SwitchDemoted, fsm.SwitchPromoted, fsm.SwitchCommitted, fsm.SwitchDone} {
		t.Run(string(phase), func(t *testing.T) {
			h := newServiceHarness(t, 3, "n2", api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})
			for h.txn().Step("n2").State == fsm.StepPending && !h.reached(phase) {
				h.drive()
				for _, n := range h.running() {
					h.complete(n)
				}
			}
			require.True(t, h.reached(phase))
			// The leader dies with the phase's own work done but not
			// committed: the next commit of a phase fails once.
			h.c.applyErr[fsm.CmdSwitchoverPhase] = fmt.Errorf("leadership lost")
			h.drive()
			delete(h.c.applyErr, fsm.CmdSwitchoverPhase)
			h.tn = newTenure()
			h.co = New(h.c, h.n, Options{Now: h.c.clock, Logger: h.logs.logger(), Metrics: h.m})
			h.run()
			require.Equal(t, fsm.TxnFinalizing, h.txn().State, h.txn().Reason)
			require.Equal(t, []string{"n1"}, h.n.svc.primaries(), "exactly one primary at the end")
			require.Equal(t, fsm.SwitchDone, h.lastSwitchover().Phase)
			require.Len(t, h.txn().Switchovers, 1, "the same switch-over carried on")
		})
	}
}

// reached reports whether the switch-over got to phase.
func (h *harness) reached(phase fsm.SwitchPhase) bool {
	sws := h.txn().Switchovers
	return len(sws) > 0 && sws[len(sws)-1].Phase == phase
}

func TestCandidateOverTheLagLimitOrUnhealthyIsNeverChosen(t *testing.T) {
	h := newServiceHarness(t, 4, "n2", api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", MaxLag: 10},
		func(s *fakeService) { s.lag["n1"] = 11; s.lag["n3"] = 10 })
	h.n.unhealth["n3:80"] = true
	h.run()
	sw := h.lastSwitchover()
	require.Equal(t, "n4", sw.Candidate, "n1 lags 11 over 10, n3's health fails")
	require.Equal(t, uint64(0), sw.CandidateLag)
	require.Equal(t, uint64(10), sw.MaxLag)
}

func TestNoCandidatePausesNamingEach(t *testing.T) {
	h := newServiceHarness(t, 3, "n2", api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"},
		func(s *fakeService) { s.lag["n1"] = 120 })
	h.n.unhealth["n3:80"] = true
	for h.txn().Step("n3").State != fsm.StepDone || h.txn().Step("n1").State != fsm.StepDone {
		h.drive()
		for _, n := range h.running() {
			h.complete(n)
		}
	}
	h.drive()
	txn := h.txn()
	require.Equal(t, fsm.TxnRunning, txn.State)
	require.Contains(t, txn.Reason, "retrying")
	h.c.advance(candidatePatience)
	h.drive()
	txn = h.txn()
	require.Equal(t, fsm.TxnPaused, txn.State)
	require.Equal(t, "no replica can take over as the service's primary before n2 upgrades "+
		"(n1: lag 120 over --max-lag 0; n3: health check failing)", txn.Reason)
	require.Empty(t, txn.Switchovers)
	require.Empty(t, h.n.svc.ran(), "no hook ran")
	require.Equal(t, fsm.StepPending, txn.Step("n2").State)
	require.Equal(t, float32(1), h.m.counter("coordinator.switchover.paused"))

	// Resumed with a replica back in sync, it goes on.
	h.n.svc.setLag("n1", 0)
	_, err := h.co.Control(h.ctx, h.txnID, api.ActionResume, api.AbortRequest{})
	require.NoError(t, err)
	h.run()
	require.Equal(t, fsm.TxnFinalizing, h.txn().State)
	require.Equal(t, "n1", h.lastSwitchover().Candidate)
}

// The lag is checked again right before promote: a candidate whose lag
// grew after it was chosen is not promoted until it is back within the
// limit.
func TestLagIsCheckedAgainBeforePromote(t *testing.T) {
	h := newServiceHarness(t, 3, "n2", api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", MaxLag: 5})
	h.n.svc.onAction = func(action, node string) {
		if action == api.HookDemote {
			h.n.svc.setLag("n1", 40)
		}
	}
	for !h.reached(fsm.SwitchDemoted) {
		h.drive()
		for _, n := range h.running() {
			h.complete(n)
		}
	}
	for range 3 {
		h.drive()
	}
	require.Equal(t, fsm.SwitchDemoted, h.lastSwitchover().Phase, "no promote while the lag is over")
	require.NotContains(t, h.n.svc.ran(), "promote n1")
	require.Contains(t, h.txn().Reason, "waits for n1's lag to come within --max-lag 5")
	h.n.svc.setLag("n1", 5)
	h.run()
	require.Equal(t, uint64(5), h.n.svc.promoteLag["n1"], "promoted only within the limit")
	require.Equal(t, fsm.TxnFinalizing, h.txn().State)
}

func TestDemoteThatHandsOverNeedsNoPromote(t *testing.T) {
	h := newServiceHarness(t, 3, "n2", api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"},
		func(s *fakeService) { s.handOver = true })
	h.run()
	require.Equal(t, fsm.TxnFinalizing, h.txn().State)
	require.NotContains(t, h.n.svc.ran(), "promote n1", "the candidate said primary after demote")
	require.Equal(t, []string{"n1"}, h.n.svc.primaries())
}

func TestFailedSwitchoverHaltsOrRollsBack(t *testing.T) {
	for _, policy := range []string{fsm.OnFailureHalt, fsm.OnFailureRollback} {
		t.Run(policy, func(t *testing.T) {
			h := newServiceHarness(t, 3, "n2", api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", OnFailure: policy},
				func(s *fakeService) { s.fail["promote/n1"] = "cannot promote" })
			h.run()
			txn := h.txn()
			require.Equal(t, fsm.SwitchFailed, h.lastSwitchover().Phase)
			require.Contains(t, txn.Reason, "switch-over of the service's primary from n2 to n1 failed: promote on n1 failed: hook promote exited 1: cannot promote")
			require.Equal(t, fsm.StepPending, txn.Step("n2").State, "the old primary's step never began")
			require.Equal(t, "n2", h.recordedPrimary(), "the record keeps the old primary")
			if policy == fsm.OnFailureHalt {
				require.Equal(t, fsm.TxnFailed, txn.State)
			} else {
				require.Equal(t, fsm.TxnAborting, txn.State)
				require.True(t, txn.RollbackRequested)
			}
			before := len(h.n.svc.ran())
			h.drive()
			require.Len(t, h.n.svc.ran(), before, "no service hook runs after a failure")
			require.Equal(t, float32(1), h.m.counter("coordinator.switchover.failed"))
		})
	}
}

func TestRolesThatDisagreeAfterPromoteFailTheSwitchover(t *testing.T) {
	h := newServiceHarness(t, 3, "n2", api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"},
		func(s *fakeService) { s.noHooks["n2"] = []string{api.HookDemote} })
	// Without demote, n2 stays primary after n1's promote: the confirmation
	// sees two primaries.
	for !h.reached(fsm.SwitchPromoted) {
		h.drive()
		for _, n := range h.running() {
			h.complete(n)
		}
	}
	h.drive()
	require.Equal(t, fsm.SwitchPromoted, h.lastSwitchover().Phase, "not committed while roles disagree")
	h.c.advance(confirmPatience)
	h.drive()
	require.Equal(t, fsm.TxnFailed, h.txn().State)
	require.Contains(t, h.lastSwitchover().Error, "after promote the role hooks disagree: n1 says primary; n2 says primary; n3 says replica")
	require.Equal(t, "n2", h.recordedPrimary())
}

func TestSwitchoverTimesOutWithTheStepTimeout(t *testing.T) {
	h := newServiceHarness(t, 3, "n2", api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", StepTimeout: "1m", MaxLag: 1})
	h.n.svc.onAction = func(action, node string) {
		if action == api.HookDemote {
			h.n.svc.setLag("n1", 9)
		}
	}
	for !h.reached(fsm.SwitchDemoted) {
		h.drive()
		for _, n := range h.running() {
			h.complete(n)
		}
	}
	h.c.advance(time.Minute)
	h.drive()
	require.Equal(t, fsm.TxnFailed, h.txn().State)
	require.Contains(t, h.lastSwitchover().Error, "not committed within the step timeout (1m0s)")
}

func TestNoSwitchoverWithoutRoles(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})
	for h.txn().State == fsm.TxnRunning {
		h.drive()
		for _, n := range h.running() {
			h.complete(n)
		}
	}
	require.Empty(t, h.txn().Switchovers)
}

func TestPlanSaysWhichPrimaryItOrderedBy(t *testing.T) {
	h := newServiceHarness(t, 3, "n3", api.StartRequest{TargetVersion: "2.0.0", Strategy: "by-id"})
	p, err := h.co.Plan(h.ctx, api.StartRequest{TargetVersion: "3.0.0", Strategy: "secondaries-first", MaxLag: 7})
	require.NoError(t, err)
	require.Equal(t, "primary = the service's primary n3 (from the role hooks), upgraded last; the others first, in natural id order", p.Reason)
	require.Equal(t, "n3", p.ServicePrimary)
	require.Equal(t, uint64(7), p.MaxLag)
	require.Equal(t, "n1", p.Leader)
}

func TestMaxLagNeedsProtocol3(t *testing.T) {
	h := newHarness(t, 3, api.StartRequest{TargetVersion: "2.0.0"})
	_, err := h.co.Plan(h.ctx, api.StartRequest{TargetVersion: "3.0.0", MaxLag: 1})
	require.ErrorIs(t, err, fsm.ErrInvalid)
	require.Contains(t, err.Error(), "--max-lag needs protocol 3")
}

func TestLearnRoles(t *testing.T) {
	rec := map[string]string{"n1": api.RoleReplica, "n2": api.RolePrimary, "n3": api.RoleReplica, "n4": ""}
	ans := func(id, role string) RoleAnswer { return RoleAnswer{ID: id, Answered: true, Role: role} }
	silent := func(id string) RoleAnswer { return RoleAnswer{ID: id} }
	cases := []struct {
		name     string
		answers  []RoleAnswer
		want     fsm.ServiceRoles
		change   bool
		conflict []string
	}{
		{"the record holds", []RoleAnswer{ans("n1", "replica"), ans("n2", "primary"), ans("n3", "replica"), ans("n4", "")},
			fsm.ServiceRoles{Primary: "n2"}, false, nil},
		{"one says primary: it is the primary", []RoleAnswer{ans("n2", "replica"), ans("n3", "primary")},
			fsm.ServiceRoles{Primary: "n3", Roles: map[string]string{"n2": "replica", "n3": "primary"}}, true, nil},
		{"a silent primary stays", []RoleAnswer{silent("n2"), ans("n3", "replica")},
			fsm.ServiceRoles{Primary: "n2"}, false, nil},
		{"nobody says primary and the primary answered: none", []RoleAnswer{ans("n2", "replica")},
			fsm.ServiceRoles{Roles: map[string]string{"n2": "replica"}}, true, nil},
		{"a role hook appears", []RoleAnswer{ans("n4", "replica")},
			fsm.ServiceRoles{Primary: "n2", Roles: map[string]string{"n4": "replica"}}, true, nil},
		{"a role hook goes away", []RoleAnswer{ans("n3", "")},
			fsm.ServiceRoles{Primary: "n2", Roles: map[string]string{"n3": fsm.RoleNone}}, true, nil},
		{"two say primary: nothing is recorded", []RoleAnswer{ans("n2", "primary"), ans("n10", "primary"), ans("n3", "primary")},
			fsm.ServiceRoles{}, false, []string{"n2", "n3", "n10"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd, change, conflict := LearnRoles(rec, "n2", tc.answers)
			require.Equal(t, tc.want, cmd)
			require.Equal(t, tc.change, change)
			require.Equal(t, tc.conflict, conflict)
		})
	}
}

func TestRoleWatchRecordsAMoveAndIgnoresSplitBrain(t *testing.T) {
	h := newServiceHarness(t, 3, "n2", api.StartRequest{TargetVersion: "2.0.0", Strategy: "by-id"})
	s := h.n.svc
	s.mu.Lock()
	s.role["n2"], s.role["n3"] = api.RoleReplica, api.RolePrimary
	s.mu.Unlock()
	h.co.probeRoles(h.ctx, h.co.readRoles(), []string{"n1", "n2", "n3"}, nil)
	require.Equal(t, "n3", h.recordedPrimary())

	s.mu.Lock()
	s.role["n1"] = api.RolePrimary
	s.mu.Unlock()
	conflict := h.co.probeRoles(h.ctx, h.co.readRoles(), []string{"n1", "n2", "n3"}, nil)
	require.Equal(t, []string{"n1", "n3"}, conflict)
	require.Equal(t, "n3", h.recordedPrimary(), "two primaries change nothing")
	require.Len(t, h.logs.records(t, "service reports two primaries"), 1)
}

func TestFollowSkipsAnUnreachableNodeAndNotesIt(t *testing.T) {
	h := newServiceHarness(t, 4, "n2", api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})
	for !h.reached(fsm.SwitchCommitted) {
		h.drive()
		for _, n := range h.running() {
			h.complete(n)
		}
	}
	_, err := h.c.Apply(h.ctx, fsm.CmdMemberLiveness, fsm.MemberLiveness{ID: "n4", Status: fsm.LivenessUnreachable})
	require.NoError(t, err)
	h.n.down["n3:80"] = true
	h.drive()
	sw := h.lastSwitchover()
	require.Equal(t, fsm.SwitchDone, sw.Phase, "a missed follow does not fail the switch-over")
	require.Contains(t, sw.Note, "n4 is unreachable: no follow")
	require.Contains(t, sw.Note, "n3 did not run follow")
	require.Equal(t, []string{"follow n2"}, followsIn(h.n.svc.ran()))
}
