package fsm

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tCmd is the leader's clock on the command under test. It is a day after
// every setup command, so a field it stamps is told apart from one the setup
// stamped, and neither is the wall clock.
var tCmd = t0.Add(24 * time.Hour)

const (
	txID   = "tx1"
	target = "2.0.0"
	digest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

func envelopeAt(t *testing.T, typ CommandType, at time.Time, body any) Envelope {
	t.Helper()
	b, err := Encode(typ, 1, at, body)
	require.NoError(t, err)
	e, err := Decode(b)
	require.NoError(t, err)
	return e
}

// plan returns a valid transaction tx1 that upgrades n1 (batch 0), then n2
// and n3 (batch 1) to 2.0.0 one at a time and halts on a failure. edits
// adjust it.
func plan(edits ...func(*Txn)) Txn {
	tx := Txn{ID: txID, TargetVersion: target, Strategy: "by-id", MaxParallel: 1, OnFailure: OnFailureHalt,
		StepTimeout: Duration(5 * time.Minute), ProgressDeadline: Duration(30 * time.Minute), LeaderAtStart: "n1",
		Steps: []Step{{Node: "n1", Batch: 0}, {Node: "n2", Batch: 1}, {Node: "n3", Batch: 1}}}
	for _, edit := range edits {
		edit(&tx)
	}
	return tx
}

func parallel(n int) func(*Txn) { return func(tx *Txn) { tx.MaxParallel = n } }

func rollbackPolicy(tx *Txn) { tx.OnFailure = OnFailureRollback }

func withSteps(steps ...Step) func(*Txn) { return func(tx *Txn) { tx.Steps = steps } }

func withID(id string) func(*Txn) { return func(tx *Txn) { tx.ID = id } }

// scene drives a three-member state through real commands, each stamped one
// minute after the previous, to put transaction tx1 into a given phase.
type scene struct {
	t   *testing.T
	s   *State
	idx uint64
}

func newScene(t *testing.T) *scene { return &scene{t: t, s: threeMembers(), idx: 3} }

func (sc *scene) apply(typ CommandType, body any) error {
	sc.t.Helper()
	sc.idx++
	return sc.s.Apply(sc.idx, envelopeAt(sc.t, typ, t0.Add(time.Duration(sc.idx)*time.Minute), body))
}

func (sc *scene) do(typ CommandType, body any) {
	sc.t.Helper()
	require.NoError(sc.t, sc.apply(typ, body), "setup: %s %+v", typ, body)
}

func (sc *scene) start(tx Txn) { sc.t.Helper(); sc.do(CmdTxnStart, TxnStart{Txn: tx}) }

func (sc *scene) begin(node string, attempt uint64) {
	sc.t.Helper()
	sc.do(CmdStepBegin, StepBegin{TxnID: txID, Node: node, Attempt: attempt})
}

func (sc *scene) beginRollback(node string, attempt uint64) {
	sc.t.Helper()
	sc.do(CmdStepBegin, StepBegin{TxnID: txID, Node: node, Attempt: attempt, Rollback: true})
}

func (sc *scene) complete(node string, attempt uint64, version string) {
	sc.t.Helper()
	sc.do(CmdStepComplete, StepComplete{TxnID: txID, Node: node, Attempt: attempt, Version: version})
}

func (sc *scene) fail(node string, attempt uint64, msg string) {
	sc.t.Helper()
	sc.do(CmdStepFail, StepFail{TxnID: txID, Node: node, Attempt: attempt, Error: msg})
}

// upgrade runs the next attempt of node's step to completion.
func (sc *scene) upgrade(node string) {
	sc.t.Helper()
	a := sc.s.Txns[txID].Step(node).Attempt + 1
	sc.begin(node, a)
	sc.complete(node, a, target)
}

func (sc *scene) control(typ CommandType, reason string) {
	sc.t.Helper()
	sc.do(typ, TxnControl{TxnID: txID, Reason: reason})
}

func (sc *scene) abort(rollback bool) {
	sc.t.Helper()
	sc.do(CmdTxnAbort, TxnAbort{TxnID: txID, Rollback: rollback})
}

func (sc *scene) report(id, version string, p ProtocolRange) {
	sc.t.Helper()
	sc.do(CmdMemberReport, MemberReport{ID: id, Version: version, Protocol: p})
}

// The phases of tx1 (with the default plan) that the tables start from.

func phaseRunning(sc *scene)   { sc.start(plan()) }
func phaseN1Running(sc *scene) { phaseRunning(sc); sc.begin("n1", 1) }
func phaseN1Done(sc *scene)    { phaseRunning(sc); sc.upgrade("n1") }
func phaseN2Running(sc *scene) { phaseN1Done(sc); sc.begin("n2", 1) }
func phasePaused(sc *scene)    { phaseRunning(sc); sc.control(CmdTxnPause, "") }

// phaseFailed: n1's first attempt failed and the transaction halted.
func phaseFailed(sc *scene) { phaseN1Running(sc); sc.fail("n1", 1, "disk full") }

// phaseAborting: aborted without rollback while nothing ran.
func phaseAborting(sc *scene) { phaseRunning(sc); sc.abort(false) }

// phaseAbortingN1Running: aborted without rollback while n1 ran.
func phaseAbortingN1Running(sc *scene) { phaseN1Running(sc); sc.abort(false) }

// phaseRollingBack: n1 and n2 done, n3 pending, aborted with rollback.
func phaseRollingBack(sc *scene) { phaseN1Done(sc); sc.upgrade("n2"); sc.abort(true) }

// phaseN2RollingBack: the rollback of n2 (attempt 2) runs.
func phaseN2RollingBack(sc *scene) { phaseRollingBack(sc); sc.beginRollback("n2", 2) }

// phaseN2RolledBack: n2 is back on 1.0.0.
func phaseN2RolledBack(sc *scene) { phaseN2RollingBack(sc); sc.complete("n2", 2, "1.0.0") }

// phaseN3Running: n1 and n2 done, the last step runs.
func phaseN3Running(sc *scene) { phaseN1Done(sc); sc.upgrade("n2"); sc.begin("n3", 1) }

func phaseFinalizing(sc *scene) { phaseN3Running(sc); sc.complete("n3", 1, target) }
func phaseDone(sc *scene) {
	phaseFinalizing(sc)
	sc.do(CmdTxnFinalize, TxnFinalize{TxnID: txID, ProtocolVersion: 1})
}
func phaseAborted(sc *scene) { phaseAborting(sc); sc.do(CmdTxnFinish, TxnFinish{TxnID: txID}) }

// phaseParallelSiblings: max-parallel 2, n1 done, n2 and n3 both run.
func phaseParallelSiblings(sc *scene) {
	sc.start(plan(parallel(2)))
	sc.upgrade("n1")
	sc.begin("n2", 1)
	sc.begin("n3", 1)
}

func txnOf(s *State) *Txn                { return s.Txns[txID] }
func stepOf(s *State, node string) *Step { return s.Txns[txID].Step(node) }

func setVersion(s *State, id, version string) {
	m := s.Members[id]
	m.Version = version
	s.Members[id] = m
}

// txnCase applies one command at tCmd to a state put in a phase by setup.
// A rejection must wrap wantErr and change nothing but the index. An
// accepted command must turn the state before into exactly what want makes
// of a copy of it; check may assert more. With neither, the command must be
// accepted without any effect.
type txnCase struct {
	name    string
	setup   func(sc *scene)
	typ     CommandType
	body    any
	wantErr error
	want    func(s *State)
	check   func(t *testing.T, s *State)
}

func runTxnCases(t *testing.T, cases []txnCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := newScene(t)
			if tc.setup != nil {
				tc.setup(sc)
			}
			before := sc.s.Clone()
			idx := sc.idx + 1
			err := sc.s.Apply(idx, envelopeAt(t, tc.typ, tCmd, tc.body))
			require.Equal(t, idx, sc.s.Index, "the index advances whatever the outcome")
			before.Index = idx
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.Equal(t, before, sc.s, "a rejected command changes nothing but the index")
				return
			}
			require.NoError(t, err)
			if tc.want != nil || tc.check == nil {
				if tc.want != nil {
					tc.want(before)
					// want sets step states directly: derive their index again,
					// so the comparison also checks the index Apply kept.
					for _, tx := range before.Txns {
						tx.reindex()
					}
				}
				require.Equal(t, before, sc.s)
			}
			if tc.check != nil {
				tc.check(t, sc.s)
			}
		})
	}
}

func TestTxnStart(t *testing.T) {
	start := func(edits ...func(*Txn)) TxnStart { return TxnStart{Txn: plan(edits...)} }
	cases := []txnCase{
		{name: "creates a running transaction with pending steps stamped by the envelope",
			typ: CmdTxnStart, body: start(),
			want: func(s *State) {
				pending := func(node string, batch int) Step {
					return Step{Node: node, Batch: batch, State: StepPending,
						PriorVersion: "1.0.0", FromVersion: "1.0.0", ToVersion: target}
				}
				s.Txns[txID] = &Txn{ID: txID, State: TxnRunning, TargetVersion: target, Strategy: "by-id",
					MaxParallel: 1, OnFailure: OnFailureHalt, StepTimeout: Duration(5 * time.Minute),
					ProgressDeadline: Duration(30 * time.Minute), LeaderAtStart: "n1",
					Steps:     []Step{pending("n1", 0), pending("n2", 1), pending("n3", 1)},
					CreatedAt: tCmd, UpdatedAt: tCmd, LastProgressAt: tCmd}
				s.TxnOrder = []string{txID}
				s.Active = txID
			}},
		{name: "ignores the state, times and step progress the proposer sent",
			typ: CmdTxnStart,
			body: start(func(tx *Txn) {
				tx.State, tx.Reason, tx.RollbackRequested, tx.ProtocolVersion = TxnDone, "forged", true, 9
				tx.CreatedAt, tx.UpdatedAt, tx.LastProgressAt, tx.FinishedAt = t0, t0, t0, t0
				tx.Steps[0] = Step{Node: "n1", Batch: 0, State: StepDone, Attempt: 7, PriorVersion: "0.1",
					FromVersion: "0.2", ToVersion: "0.3", Rollback: true, StartedAt: t0, FinishedAt: t0, Error: "old",
					Skipped: true, Attempts: []Attempt{{Attempt: 7, State: StepDone, StartedAt: t0}}}
			}),
			check: func(t *testing.T, s *State) {
				tx := txnOf(s)
				require.Equal(t, TxnRunning, tx.State)
				require.Empty(t, tx.Reason)
				require.False(t, tx.RollbackRequested)
				require.Zero(t, tx.ProtocolVersion)
				require.Equal(t, tCmd, tx.CreatedAt)
				require.Equal(t, tCmd, tx.LastProgressAt)
				require.True(t, tx.FinishedAt.IsZero())
				require.Equal(t, Step{Node: "n1", Batch: 0, State: StepPending, PriorVersion: "1.0.0",
					FromVersion: "1.0.0", ToVersion: target}, tx.Steps[0])
			}},
		{name: "records each member's own prior version",
			setup: func(sc *scene) { sc.report("n2", "1.1.0", ProtocolRange{1, 1}) },
			typ:   CmdTxnStart, body: start(),
			check: func(t *testing.T, s *State) {
				require.Equal(t, "1.0.0", stepOf(s, "n1").PriorVersion)
				require.Equal(t, "1.1.0", stepOf(s, "n2").PriorVersion)
				require.Equal(t, "1.1.0", stepOf(s, "n2").FromVersion)
			}},
		{name: "keeps artifact, strategy, policy and leader options",
			typ: CmdTxnStart,
			body: start(rollbackPolicy, parallel(3), func(tx *Txn) {
				tx.TargetVersion, tx.ArtifactURL, tx.ArtifactSHA256 = "v2.1.0-rc.1", "https://example.com/baton.tar.gz", digest
				tx.Strategy, tx.AllowLeaderUpgrade = "secondaries-first", true
				tx.Steps = []Step{{Node: "n2", Batch: 0}, {Node: "n3", Batch: 0}, {Node: "n1", Batch: 0}}
			}),
			check: func(t *testing.T, s *State) {
				tx := txnOf(s)
				require.Equal(t, "v2.1.0-rc.1", tx.TargetVersion)
				require.Equal(t, "https://example.com/baton.tar.gz", tx.ArtifactURL)
				require.Equal(t, digest, tx.ArtifactSHA256)
				require.Equal(t, "secondaries-first", tx.Strategy)
				require.Equal(t, OnFailureRollback, tx.OnFailure)
				require.Equal(t, 3, tx.MaxParallel)
				require.True(t, tx.AllowLeaderUpgrade)
				require.Equal(t, []string{"n2", "n3", "n1"}, []string{tx.Steps[0].Node, tx.Steps[1].Node, tx.Steps[2].Node})
				require.Equal(t, 1, tx.Batches())
				require.Equal(t, "v2.1.0-rc.1", tx.Steps[2].ToVersion)
			}},
		{name: "a subset of the members, one batch each",
			typ: CmdTxnStart, body: start(withSteps(Step{Node: "n3", Batch: 0}, Step{Node: "n1", Batch: 1})),
			check: func(t *testing.T, s *State) {
				require.Len(t, txnOf(s).Steps, 2)
				require.Equal(t, 2, txnOf(s).Batches())
				require.Nil(t, txnOf(s).Step("n2"))
			}},
		{name: "after a done transaction", setup: phaseDone, typ: CmdTxnStart, body: start(withID("tx2")),
			check: func(t *testing.T, s *State) {
				require.Equal(t, "tx2", s.Active)
				require.Equal(t, []string{txID, "tx2"}, s.TxnOrder)
				require.Equal(t, target, s.Txns["tx2"].Step("n1").PriorVersion, "the prior version is what n1 runs now")
				require.Equal(t, TxnDone, s.Txns[txID].State)
			}},
		{name: "after an aborted transaction", setup: phaseAborted, typ: CmdTxnStart, body: start(withID("tx2")),
			check: func(t *testing.T, s *State) { require.Equal(t, "tx2", s.Active) }},

		// I1: at most one active transaction.
		{name: "second start while running", setup: phaseRunning, typ: CmdTxnStart, body: start(withID("tx2")), wantErr: ErrConflict},
		{name: "second start while a step runs", setup: phaseN1Running, typ: CmdTxnStart, body: start(withID("tx2")), wantErr: ErrConflict},
		{name: "second start while paused", setup: phasePaused, typ: CmdTxnStart, body: start(withID("tx2")), wantErr: ErrConflict},
		{name: "second start while failed", setup: phaseFailed, typ: CmdTxnStart, body: start(withID("tx2")), wantErr: ErrConflict},
		{name: "second start while finalizing", setup: phaseFinalizing, typ: CmdTxnStart, body: start(withID("tx2")), wantErr: ErrConflict},
		{name: "second start while aborting", setup: phaseAborting, typ: CmdTxnStart, body: start(withID("tx2")), wantErr: ErrConflict},
		{name: "same id started twice", setup: phaseRunning, typ: CmdTxnStart, body: start(), wantErr: ErrConflict},
		{name: "id of a transaction in the history", setup: phaseDone, typ: CmdTxnStart, body: start(), wantErr: ErrConflict},

		{name: "empty id", typ: CmdTxnStart, body: start(withID("")), wantErr: ErrInvalid},
		{name: "id starting with a dash", typ: CmdTxnStart, body: start(withID("-tx")), wantErr: ErrInvalid},
		{name: "id with a space", typ: CmdTxnStart, body: start(withID("tx 1")), wantErr: ErrInvalid},
		{name: "id too long", typ: CmdTxnStart, body: start(withID(fmt.Sprintf("%065d", 1))), wantErr: ErrInvalid},
		{name: "empty version", typ: CmdTxnStart, body: start(func(tx *Txn) { tx.TargetVersion = "" }), wantErr: ErrInvalid},
		{name: "version that is a word", typ: CmdTxnStart, body: start(func(tx *Txn) { tx.TargetVersion = "latest" }), wantErr: ErrInvalid},
		{name: "version with five parts", typ: CmdTxnStart, body: start(func(tx *Txn) { tx.TargetVersion = "1.2.3.4.5" }), wantErr: ErrInvalid},
		{name: "version with an empty part", typ: CmdTxnStart, body: start(func(tx *Txn) { tx.TargetVersion = "1..2" }), wantErr: ErrInvalid},
		{name: "version with a path", typ: CmdTxnStart, body: start(func(tx *Txn) { tx.TargetVersion = "2.0.0/../../x" }), wantErr: ErrInvalid},
		{name: "artifact url without digest", typ: CmdTxnStart,
			body: start(func(tx *Txn) { tx.ArtifactURL = "https://example.com/b.tgz" }), wantErr: ErrInvalid},
		{name: "artifact digest without url", typ: CmdTxnStart,
			body: start(func(tx *Txn) { tx.ArtifactSHA256 = digest }), wantErr: ErrInvalid},
		{name: "upper-case sha256", typ: CmdTxnStart, body: start(func(tx *Txn) {
			tx.ArtifactURL, tx.ArtifactSHA256 = "https://example.com/b.tgz", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
		}), wantErr: ErrInvalid},
		{name: "short sha256", typ: CmdTxnStart, body: start(func(tx *Txn) {
			tx.ArtifactURL, tx.ArtifactSHA256 = "https://example.com/b.tgz", digest[:63]
		}), wantErr: ErrInvalid},
		{name: "non-hex sha256", typ: CmdTxnStart, body: start(func(tx *Txn) {
			tx.ArtifactURL, tx.ArtifactSHA256 = "https://example.com/b.tgz", "g"+digest[1:]
		}), wantErr: ErrInvalid},
		{name: "no strategy", typ: CmdTxnStart, body: start(func(tx *Txn) { tx.Strategy = "" }), wantErr: ErrInvalid},
		{name: "max parallel 0", typ: CmdTxnStart, body: start(parallel(0)), wantErr: ErrInvalid},
		{name: "max parallel negative", typ: CmdTxnStart, body: start(parallel(-1)), wantErr: ErrInvalid},
		{name: "no failure policy", typ: CmdTxnStart, body: start(func(tx *Txn) { tx.OnFailure = "" }), wantErr: ErrInvalid},
		{name: "unknown failure policy", typ: CmdTxnStart, body: start(func(tx *Txn) { tx.OnFailure = "retry" }), wantErr: ErrInvalid},
		{name: "zero step timeout", typ: CmdTxnStart, body: start(func(tx *Txn) { tx.StepTimeout = 0 }), wantErr: ErrInvalid},
		{name: "negative step timeout", typ: CmdTxnStart, body: start(func(tx *Txn) { tx.StepTimeout = Duration(-time.Second) }), wantErr: ErrInvalid},
		{name: "zero progress deadline", typ: CmdTxnStart, body: start(func(tx *Txn) { tx.ProgressDeadline = 0 }), wantErr: ErrInvalid},
		{name: "no steps", typ: CmdTxnStart, body: start(withSteps()), wantErr: ErrInvalid},
		{name: "step for an unknown member", typ: CmdTxnStart,
			body: start(withSteps(Step{Node: "n1", Batch: 0}, Step{Node: "n9", Batch: 1})), wantErr: ErrNotFound},
		{name: "two steps for one member", typ: CmdTxnStart,
			body: start(withSteps(Step{Node: "n1", Batch: 0}, Step{Node: "n2", Batch: 1}, Step{Node: "n1", Batch: 1})), wantErr: ErrInvalid},
		{name: "first batch is not 0", typ: CmdTxnStart,
			body: start(withSteps(Step{Node: "n1", Batch: 1}, Step{Node: "n2", Batch: 1})), wantErr: ErrInvalid},
		{name: "negative batch", typ: CmdTxnStart,
			body: start(withSteps(Step{Node: "n1", Batch: -1}, Step{Node: "n2", Batch: 0})), wantErr: ErrInvalid},
		{name: "batch skipped", typ: CmdTxnStart,
			body: start(withSteps(Step{Node: "n1", Batch: 0}, Step{Node: "n2", Batch: 2})), wantErr: ErrInvalid},
		{name: "batches out of order", typ: CmdTxnStart,
			body: start(withSteps(Step{Node: "n1", Batch: 0}, Step{Node: "n2", Batch: 1}, Step{Node: "n3", Batch: 0})), wantErr: ErrInvalid},
		{name: "malformed duration", typ: CmdTxnStart,
			body: json.RawMessage(`{"txn":{"id":"tx1","step_timeout":"soon"}}`), wantErr: ErrUndecodable},
	}
	runTxnCases(t, cases)
}

func TestStepBegin(t *testing.T) {
	begin := func(node string, attempt uint64) StepBegin {
		return StepBegin{TxnID: txID, Node: node, Attempt: attempt}
	}
	rollback := func(node string, attempt uint64) StepBegin {
		return StepBegin{TxnID: txID, Node: node, Attempt: attempt, Rollback: true}
	}
	running := func(node string, attempt uint64, from, to string) func(s *State) {
		return func(s *State) {
			st := stepOf(s, node)
			st.State, st.Attempt, st.StartedAt, st.FinishedAt, st.Error = StepRunning, attempt, tCmd, time.Time{}, ""
			st.FromVersion, st.ToVersion, st.Rollback = from, to, false
			st.Attempts = append(st.Attempts, Attempt{Attempt: attempt, State: StepRunning, FromVersion: from, ToVersion: to, StartedAt: tCmd})
			txnOf(s).UpdatedAt, txnOf(s).LastProgressAt = tCmd, tCmd
		}
	}
	rollingBack := func(node string, attempt uint64, from string) func(s *State) {
		return func(s *State) {
			running(node, attempt, from, "1.0.0")(s)
			st := stepOf(s, node)
			st.Rollback, st.Attempts[len(st.Attempts)-1].Rollback = true, true
		}
	}
	cases := []txnCase{
		{name: "first step of the first batch", setup: phaseRunning, typ: CmdStepBegin, body: begin("n1", 1),
			want: running("n1", 1, "1.0.0", target)},
		{name: "step of the next batch once the batch before is done", setup: phaseN1Done, typ: CmdStepBegin, body: begin("n2", 1),
			want: running("n2", 1, "1.0.0", target)},
		{name: "second step of a batch within max-parallel",
			setup: func(sc *scene) { sc.start(plan(parallel(2))); sc.upgrade("n1"); sc.begin("n2", 1) },
			typ:   CmdStepBegin, body: begin("n3", 1), want: running("n3", 1, "1.0.0", target)},
		{name: "from-version is what the member reports now",
			setup: func(sc *scene) { phaseRunning(sc); sc.report("n1", "1.5.0", ProtocolRange{1, 1}) },
			typ:   CmdStepBegin, body: begin("n1", 1),
			want: running("n1", 1, "1.5.0", target)}, // the prior version stays 1.0.0
		{name: "retried step begins the next attempt; the last error stays in its attempts",
			setup: func(sc *scene) { phaseFailed(sc); sc.control(CmdTxnRetry, "") },
			typ:   CmdStepBegin, body: begin("n1", 2), want: running("n1", 2, "1.0.0", target),
			check: func(t *testing.T, s *State) {
				require.Empty(t, stepOf(s, "n1").Error)
				first := stepOf(s, "n1").Attempts[0]
				require.Equal(t, Attempt{Attempt: 1, State: StepFailed, FromVersion: "1.0.0", ToVersion: target,
					StartedAt: first.StartedAt, FinishedAt: first.FinishedAt, Error: "disk full"}, first)
				require.True(t, first.FinishedAt.After(first.StartedAt))
			}},
		{name: "a rollback retried by txn.recover begins from pending",
			setup: func(sc *scene) { phaseRollbackFailed(sc); sc.recover(true) },
			typ:   CmdStepBegin, body: rollback("n2", 3), want: rollingBack("n2", 3, target)},
		{name: "a step pending after txn.recover rolls back, it does not upgrade",
			setup: func(sc *scene) { phaseRollbackFailed(sc); sc.recover(true) },
			typ:   CmdStepBegin, body: begin("n2", 3), wantErr: ErrStale},
		{name: "rollback of a done step returns it to its prior version", setup: phaseRollingBack, typ: CmdStepBegin,
			body: rollback("n2", 2), want: rollingBack("n2", 2, target)},
		{name: "rollback of the first step", setup: phaseN2RolledBack, typ: CmdStepBegin,
			body: rollback("n1", 2), want: rollingBack("n1", 2, target)},
		{name: "rollback of a failed step",
			setup: func(sc *scene) { sc.start(plan(rollbackPolicy)); sc.begin("n1", 1); sc.fail("n1", 1, "disk full") },
			typ:   CmdStepBegin, body: rollback("n1", 2), want: rollingBack("n1", 2, "1.0.0")},
		{name: "rollback again after a failed rollback",
			setup: func(sc *scene) { phaseN2RollingBack(sc); sc.fail("n2", 2, "hook failed") },
			typ:   CmdStepBegin, body: rollback("n2", 3), want: rollingBack("n2", 3, target)},

		{name: "attempt 0", setup: phaseRunning, typ: CmdStepBegin, body: begin("n1", 0), wantErr: ErrStale},
		{name: "attempt skipped", setup: phaseRunning, typ: CmdStepBegin, body: begin("n1", 2), wantErr: ErrStale},
		{name: "same attempt begun twice", setup: phaseN1Running, typ: CmdStepBegin, body: begin("n1", 1), wantErr: ErrStale},
		{name: "next attempt of a step that still runs", setup: phaseN1Running, typ: CmdStepBegin, body: begin("n1", 2), wantErr: ErrStale},
		{name: "old attempt after a retry",
			setup: func(sc *scene) { phaseFailed(sc); sc.control(CmdTxnRetry, "") },
			typ:   CmdStepBegin, body: begin("n1", 1), wantErr: ErrStale},
		{name: "done step", setup: phaseN1Done, typ: CmdStepBegin, body: begin("n1", 2), wantErr: ErrStale},

		// I8: no step begins unless the transaction runs.
		{name: "paused transaction", setup: phasePaused, typ: CmdStepBegin, body: begin("n1", 1), wantErr: ErrStale},
		{name: "failed transaction", setup: phaseFailed, typ: CmdStepBegin, body: begin("n1", 2), wantErr: ErrStale},
		{name: "aborting transaction", setup: phaseAborting, typ: CmdStepBegin, body: begin("n1", 1), wantErr: ErrStale},
		{name: "aborting transaction with rollback", setup: phaseRollingBack, typ: CmdStepBegin, body: begin("n3", 1), wantErr: ErrStale},
		{name: "finalizing transaction", setup: phaseFinalizing, typ: CmdStepBegin, body: begin("n1", 2), wantErr: ErrStale},

		{name: "step of a later batch", setup: phaseRunning, typ: CmdStepBegin, body: begin("n2", 1), wantErr: ErrConflict},
		{name: "step of a later batch while the current one runs", setup: phaseN1Running, typ: CmdStepBegin,
			body: begin("n3", 1), wantErr: ErrConflict},
		// I3: never more than max-parallel steps at once.
		{name: "beyond max-parallel 1", setup: phaseN2Running, typ: CmdStepBegin, body: begin("n3", 1), wantErr: ErrConflict},
		{name: "beyond max-parallel 2",
			setup: func(sc *scene) {
				sc.start(plan(parallel(2), withSteps(Step{Node: "n1"}, Step{Node: "n2"}, Step{Node: "n3"})))
				sc.begin("n1", 1)
				sc.begin("n2", 1)
			},
			typ: CmdStepBegin, body: begin("n3", 1), wantErr: ErrConflict},

		{name: "unknown transaction", setup: phaseRunning, typ: CmdStepBegin,
			body: StepBegin{TxnID: "tx9", Node: "n1", Attempt: 1}, wantErr: ErrNotFound},
		{name: "unknown node", setup: phaseRunning, typ: CmdStepBegin, body: begin("n9", 1), wantErr: ErrNotFound},
		{name: "member without a step",
			setup: func(sc *scene) { sc.start(plan(withSteps(Step{Node: "n1"}, Step{Node: "n2", Batch: 1}))) },
			typ:   CmdStepBegin, body: begin("n3", 1), wantErr: ErrNotFound},
		{name: "done transaction", setup: phaseDone, typ: CmdStepBegin, body: begin("n1", 2), wantErr: ErrStale},
		{name: "aborted transaction", setup: phaseAborted, typ: CmdStepBegin, body: begin("n1", 1), wantErr: ErrStale},
		{name: "malformed body", setup: phaseRunning, typ: CmdStepBegin,
			body: json.RawMessage(`{"txn_id":"tx1","node":"n1","attempt":"one"}`), wantErr: ErrUndecodable},

		{name: "rollback of a running transaction", setup: phaseN1Done, typ: CmdStepBegin, body: rollback("n1", 2), wantErr: ErrStale},
		{name: "rollback of a failed transaction", setup: phaseFailed, typ: CmdStepBegin, body: rollback("n1", 2), wantErr: ErrStale},
		{name: "rollback while aborting without rollback",
			setup: func(sc *scene) { phaseN1Done(sc); sc.abort(false) },
			typ:   CmdStepBegin, body: rollback("n1", 2), wantErr: ErrStale},
		{name: "rollback of a pending step", setup: phaseRollingBack, typ: CmdStepBegin, body: rollback("n3", 1), wantErr: ErrStale},
		{name: "rollback of a rolled-back step", setup: phaseN2RolledBack, typ: CmdStepBegin, body: rollback("n2", 3), wantErr: ErrStale},
		{name: "rollback with a stale attempt", setup: phaseRollingBack, typ: CmdStepBegin, body: rollback("n2", 1), wantErr: ErrStale},
		{name: "rollback while another rollback runs", setup: phaseN2RollingBack, typ: CmdStepBegin,
			body: rollback("n1", 2), wantErr: ErrConflict},
		{name: "rollback while an upgrade still runs",
			setup: func(sc *scene) { phaseN2Running(sc); sc.abort(true) },
			typ:   CmdStepBegin, body: rollback("n1", 2), wantErr: ErrConflict},
	}
	runTxnCases(t, cases)
}

func TestStepComplete(t *testing.T) {
	complete := func(node string, attempt uint64, version string) StepComplete {
		return StepComplete{TxnID: txID, Node: node, Attempt: attempt, Version: version}
	}
	finished := func(node string, state StepState, version string) func(s *State) {
		return func(s *State) {
			st := stepOf(s, node)
			st.State, st.FinishedAt = state, tCmd
			last := &st.Attempts[len(st.Attempts)-1]
			last.State, last.FinishedAt = state, tCmd
			setVersion(s, node, version)
			txnOf(s).UpdatedAt, txnOf(s).LastProgressAt = tCmd, tCmd
		}
	}
	cases := []txnCase{
		{name: "completes the step and records the member's new version", setup: phaseN1Running, typ: CmdStepComplete,
			body: complete("n1", 1, target), want: finished("n1", StepDone, target)},
		{name: "the last step moves a running transaction to finalizing", setup: phaseN3Running, typ: CmdStepComplete,
			body: complete("n3", 1, target),
			want: func(s *State) { finished("n3", StepDone, target)(s); txnOf(s).State = TxnFinalizing }},
		{name: "the last step moves a paused transaction to finalizing",
			setup: func(sc *scene) { phaseN3Running(sc); sc.control(CmdTxnPause, "maintenance window") },
			typ:   CmdStepComplete, body: complete("n3", 1, target),
			want: func(s *State) {
				finished("n3", StepDone, target)(s)
				txnOf(s).State, txnOf(s).Reason = TxnFinalizing, ""
			}},
		{name: "a step that was running when paused completes", setup: func(sc *scene) { phaseN1Running(sc); sc.control(CmdTxnPause, "") },
			typ: CmdStepComplete, body: complete("n1", 1, target), want: finished("n1", StepDone, target)},
		{name: "a step that was running at abort completes; the transaction stays aborting", setup: phaseAbortingN1Running,
			typ: CmdStepComplete, body: complete("n1", 1, target), want: finished("n1", StepDone, target)},
		{name: "the last step of an aborting transaction leaves it aborting",
			setup: func(sc *scene) { phaseN3Running(sc); sc.abort(false) },
			typ:   CmdStepComplete, body: complete("n3", 1, target), want: finished("n3", StepDone, target)},
		{name: "a sibling of a failed step completes; the transaction stays failed",
			setup: func(sc *scene) { phaseParallelSiblings(sc); sc.fail("n2", 1, "disk full") },
			typ:   CmdStepComplete, body: complete("n3", 1, target), want: finished("n3", StepDone, target)},
		{name: "a rollback completes with the prior version", setup: phaseN2RollingBack, typ: CmdStepComplete,
			body: complete("n2", 2, "1.0.0"), want: finished("n2", StepRolledBack, "1.0.0")},
		{name: "the retried attempt completes",
			setup: func(sc *scene) { phaseFailed(sc); sc.control(CmdTxnRetry, ""); sc.begin("n1", 2) },
			typ:   CmdStepComplete, body: complete("n1", 2, target),
			want: func(s *State) { finished("n1", StepDone, target)(s); stepOf(s, "n1").Error = "" }},

		// I2: a step completes once; a repeated notice is acknowledged without effect.
		{name: "repeated notice", setup: phaseN1Done, typ: CmdStepComplete, body: complete("n1", 1, target)},
		{name: "repeated notice after a later step moved on", setup: phaseN2Running, typ: CmdStepComplete, body: complete("n1", 1, target)},
		{name: "repeated rollback notice", setup: phaseN2RolledBack, typ: CmdStepComplete, body: complete("n2", 2, "1.0.0")},

		{name: "notice of an old attempt",
			setup: func(sc *scene) { phaseFailed(sc); sc.control(CmdTxnRetry, ""); sc.begin("n1", 2) },
			typ:   CmdStepComplete, body: complete("n1", 1, target), wantErr: ErrStale},
		{name: "notice of a future attempt", setup: phaseN1Running, typ: CmdStepComplete, body: complete("n1", 2, target), wantErr: ErrStale},
		{name: "notice of a step never begun", setup: phaseRunning, typ: CmdStepComplete, body: complete("n1", 0, target), wantErr: ErrStale},
		{name: "notice of a failed attempt", setup: phaseFailed, typ: CmdStepComplete, body: complete("n1", 1, target), wantErr: ErrStale},
		{name: "upgrade notice of an attempt now rolled back", setup: phaseN2RolledBack, typ: CmdStepComplete,
			body: complete("n2", 1, target), wantErr: ErrStale},
		{name: "another version than the target", setup: phaseN1Running, typ: CmdStepComplete, body: complete("n1", 1, "2.0.1"), wantErr: ErrInvalid},
		{name: "still the old version", setup: phaseN1Running, typ: CmdStepComplete, body: complete("n1", 1, "1.0.0"), wantErr: ErrInvalid},
		{name: "empty version", setup: phaseN1Running, typ: CmdStepComplete, body: complete("n1", 1, ""), wantErr: ErrInvalid},
		{name: "rollback notice with the target version", setup: phaseN2RollingBack, typ: CmdStepComplete,
			body: complete("n2", 2, target), wantErr: ErrInvalid},
		{name: "unknown transaction", setup: phaseN1Running, typ: CmdStepComplete,
			body: StepComplete{TxnID: "tx9", Node: "n1", Attempt: 1, Version: target}, wantErr: ErrNotFound},
		{name: "unknown node", setup: phaseN1Running, typ: CmdStepComplete, body: complete("n9", 1, target), wantErr: ErrNotFound},
		{name: "done transaction", setup: phaseDone, typ: CmdStepComplete, body: complete("n3", 1, target), wantErr: ErrStale},
		{name: "aborted transaction", setup: phaseAborted, typ: CmdStepComplete, body: complete("n1", 1, target), wantErr: ErrStale},
	}
	runTxnCases(t, cases)
}

func TestStepFail(t *testing.T) {
	fail := func(node string, attempt uint64, msg string) StepFail {
		return StepFail{TxnID: txID, Node: node, Attempt: attempt, Error: msg}
	}
	failed := func(node, msg string, txn TxnState, reason string) func(s *State) {
		return func(s *State) {
			st := stepOf(s, node)
			st.State, st.FinishedAt, st.Error = StepFailed, tCmd, msg
			last := &st.Attempts[len(st.Attempts)-1]
			last.State, last.FinishedAt, last.Error = StepFailed, tCmd, msg
			txnOf(s).State, txnOf(s).Reason, txnOf(s).UpdatedAt = txn, reason, tCmd
		}
	}
	cases := []txnCase{
		{name: "halt: the transaction fails with the step's error", setup: phaseN1Running, typ: CmdStepFail,
			body: fail("n1", 1, "disk full"),
			want: failed("n1", "disk full", TxnFailed, "step on n1 failed (attempt 1): disk full")},
		{name: "halt names the attempt that failed",
			setup: func(sc *scene) { phaseFailed(sc); sc.control(CmdTxnRetry, ""); sc.begin("n1", 2) },
			typ:   CmdStepFail, body: fail("n1", 2, "health check timed out"),
			want: failed("n1", "health check timed out", TxnFailed, "step on n1 failed (attempt 2): health check timed out")},
		{name: "rollback policy: the transaction aborts and rolls back",
			setup: func(sc *scene) { sc.start(plan(rollbackPolicy)); sc.begin("n1", 1) },
			typ:   CmdStepFail, body: fail("n1", 1, "disk full"),
			want: func(s *State) {
				failed("n1", "disk full", TxnAborting, "step on n1 failed (attempt 1): disk full; rolling back")(s)
				txnOf(s).RollbackRequested = true
			}},
		{name: "a paused transaction halts",
			setup: func(sc *scene) { phaseN1Running(sc); sc.control(CmdTxnPause, "") },
			typ:   CmdStepFail, body: fail("n1", 1, "disk full"),
			want: failed("n1", "disk full", TxnFailed, "step on n1 failed (attempt 1): disk full")},
		{name: "an aborting transaction keeps aborting and adds the failure to its reason", setup: phaseAbortingN1Running,
			typ: CmdStepFail, body: fail("n1", 1, "disk full"),
			want: failed("n1", "disk full", TxnAborting, "aborted by an operator; step on n1 failed (attempt 1): disk full")},
		{name: "a failed rollback is recorded; the transaction keeps aborting", setup: phaseN2RollingBack, typ: CmdStepFail,
			body: fail("n2", 2, "hook failed"),
			want: failed("n2", "hook failed", TxnAborting, "aborted by an operator; rollback on n2 failed (attempt 2): hook failed")},
		{name: "a sibling fails in a halted transaction",
			setup: func(sc *scene) { phaseParallelSiblings(sc); sc.fail("n2", 1, "disk full") },
			typ:   CmdStepFail, body: fail("n3", 1, "no space"),
			check: func(t *testing.T, s *State) {
				require.Equal(t, TxnFailed, txnOf(s).State)
				require.Equal(t, 2, txnOf(s).Count(StepFailed))
				require.Contains(t, txnOf(s).Reason, "n3")
			},
			want: func(s *State) {
				st := stepOf(s, "n3")
				st.State, st.FinishedAt, st.Error = StepFailed, tCmd, "no space"
				st.Attempts[0].State, st.Attempts[0].FinishedAt, st.Attempts[0].Error = StepFailed, tCmd, "no space"
				txnOf(s).Reason, txnOf(s).UpdatedAt = "step on n3 failed (attempt 1): no space", tCmd
			}},
		{name: "repeated failure notice", setup: phaseFailed, typ: CmdStepFail, body: fail("n1", 1, "disk full")},

		{name: "no error text", setup: phaseN1Running, typ: CmdStepFail, body: fail("n1", 1, ""), wantErr: ErrInvalid},
		{name: "old attempt",
			setup: func(sc *scene) { phaseFailed(sc); sc.control(CmdTxnRetry, ""); sc.begin("n1", 2) },
			typ:   CmdStepFail, body: fail("n1", 1, "disk full"), wantErr: ErrStale},
		{name: "failure of a retried step before it begins again",
			setup: func(sc *scene) { phaseFailed(sc); sc.control(CmdTxnRetry, "") },
			typ:   CmdStepFail, body: fail("n1", 1, "disk full"), wantErr: ErrStale},
		{name: "step never begun", setup: phaseRunning, typ: CmdStepFail, body: fail("n1", 0, "disk full"), wantErr: ErrStale},
		{name: "done step", setup: phaseN1Done, typ: CmdStepFail, body: fail("n1", 1, "disk full"), wantErr: ErrStale},
		{name: "unknown transaction", setup: phaseN1Running, typ: CmdStepFail,
			body: StepFail{TxnID: "tx9", Node: "n1", Attempt: 1, Error: "x"}, wantErr: ErrNotFound},
		{name: "unknown node", setup: phaseN1Running, typ: CmdStepFail, body: fail("n9", 1, "x"), wantErr: ErrNotFound},
		{name: "done transaction", setup: phaseDone, typ: CmdStepFail, body: fail("n1", 1, "x"), wantErr: ErrStale},
		{name: "aborted transaction", setup: phaseAborted, typ: CmdStepFail, body: fail("n1", 0, "x"), wantErr: ErrStale},
	}
	runTxnCases(t, cases)
}

func TestTxnPauseResumeRetry(t *testing.T) {
	ctl := func(reason string) TxnControl { return TxnControl{TxnID: txID, Reason: reason} }
	unknown := TxnControl{TxnID: "tx9"}
	cases := []txnCase{
		{name: "pause a running transaction", setup: phaseN1Running, typ: CmdTxnPause, body: ctl(""),
			want: func(s *State) {
				txnOf(s).State, txnOf(s).Reason, txnOf(s).UpdatedAt = TxnPaused, "paused by an operator", tCmd
			}},
		{name: "pause with a reason", setup: phaseRunning, typ: CmdTxnPause, body: ctl("maintenance window"),
			want: func(s *State) {
				txnOf(s).State, txnOf(s).Reason, txnOf(s).UpdatedAt = TxnPaused, "maintenance window", tCmd
			}},
		{name: "pause a paused transaction", setup: phasePaused, typ: CmdTxnPause, body: ctl(""), wantErr: ErrConflict},
		{name: "pause a failed transaction", setup: phaseFailed, typ: CmdTxnPause, body: ctl(""), wantErr: ErrConflict},
		{name: "pause a finalizing transaction", setup: phaseFinalizing, typ: CmdTxnPause, body: ctl(""), wantErr: ErrConflict},
		{name: "pause an aborting transaction", setup: phaseAborting, typ: CmdTxnPause, body: ctl(""), wantErr: ErrConflict},
		{name: "pause a done transaction", setup: phaseDone, typ: CmdTxnPause, body: ctl(""), wantErr: ErrConflict},
		{name: "pause an aborted transaction", setup: phaseAborted, typ: CmdTxnPause, body: ctl(""), wantErr: ErrConflict},
		{name: "pause an unknown transaction", setup: phaseRunning, typ: CmdTxnPause, body: unknown, wantErr: ErrNotFound},

		{name: "resume restarts the progress clock", setup: phasePaused, typ: CmdTxnResume, body: ctl("ignored"),
			want: func(s *State) {
				tx := txnOf(s)
				tx.State, tx.Reason, tx.UpdatedAt, tx.LastProgressAt = TxnRunning, "", tCmd, tCmd
			}},
		{name: "resume a running transaction", setup: phaseRunning, typ: CmdTxnResume, body: ctl(""), wantErr: ErrConflict},
		{name: "resume a failed transaction", setup: phaseFailed, typ: CmdTxnResume, body: ctl(""), wantErr: ErrConflict},
		{name: "resume a finalizing transaction", setup: phaseFinalizing, typ: CmdTxnResume, body: ctl(""), wantErr: ErrConflict},
		{name: "resume an aborting transaction", setup: phaseAborting, typ: CmdTxnResume, body: ctl(""), wantErr: ErrConflict},
		{name: "resume a done transaction", setup: phaseDone, typ: CmdTxnResume, body: ctl(""), wantErr: ErrConflict},
		{name: "resume an unknown transaction", setup: phasePaused, typ: CmdTxnResume, body: unknown, wantErr: ErrNotFound},

		{name: "retry makes failed steps pending again, keeping their attempts", setup: phaseFailed, typ: CmdTxnRetry, body: ctl(""),
			want: func(s *State) {
				tx := txnOf(s)
				tx.State, tx.Reason, tx.UpdatedAt, tx.LastProgressAt = TxnRunning, "", tCmd, tCmd
				stepOf(s, "n1").State = StepPending
			},
			check: func(t *testing.T, s *State) { require.Equal(t, uint64(1), stepOf(s, "n1").Attempt) }},
		{name: "retry with two failed siblings",
			setup: func(sc *scene) {
				phaseParallelSiblings(sc)
				sc.fail("n2", 1, "disk full")
				sc.fail("n3", 1, "disk full")
			},
			typ: CmdTxnRetry, body: ctl(""),
			want: func(s *State) {
				tx := txnOf(s)
				tx.State, tx.Reason, tx.UpdatedAt, tx.LastProgressAt = TxnRunning, "", tCmd, tCmd
				stepOf(s, "n2").State, stepOf(s, "n3").State = StepPending, StepPending
			}},
		{name: "retry a running transaction", setup: phaseN1Running, typ: CmdTxnRetry, body: ctl(""), wantErr: ErrConflict},
		{name: "retry a paused transaction", setup: phasePaused, typ: CmdTxnRetry, body: ctl(""), wantErr: ErrConflict},
		{name: "retry an aborting transaction", setup: phaseRollingBack, typ: CmdTxnRetry, body: ctl(""), wantErr: ErrConflict},
		{name: "retry a finalizing transaction", setup: phaseFinalizing, typ: CmdTxnRetry, body: ctl(""), wantErr: ErrConflict},
		{name: "retry a done transaction", setup: phaseDone, typ: CmdTxnRetry, body: ctl(""), wantErr: ErrConflict},
		{name: "retry an aborted transaction", setup: phaseAborted, typ: CmdTxnRetry, body: ctl(""), wantErr: ErrConflict},
		{name: "retry an unknown transaction", setup: phaseFailed, typ: CmdTxnRetry, body: unknown, wantErr: ErrNotFound},
	}
	runTxnCases(t, cases)
}

func TestTxnAbortFinish(t *testing.T) {
	abort := func(rollback bool, reason string) TxnAbort {
		return TxnAbort{TxnID: txID, Rollback: rollback, Reason: reason}
	}
	aborting := func(rollback bool, reason string) func(s *State) {
		return func(s *State) {
			tx := txnOf(s)
			tx.State, tx.RollbackRequested, tx.Reason, tx.UpdatedAt = TxnAborting, rollback, reason, tCmd
		}
	}
	finish := func(reason string) TxnFinish { return TxnFinish{TxnID: txID, Reason: reason} }
	aborted := func(reason string) func(s *State) {
		return func(s *State) {
			tx := txnOf(s)
			tx.State, tx.Reason, tx.UpdatedAt, tx.FinishedAt = TxnAborted, reason, tCmd, tCmd
			s.Active = ""
		}
	}
	cases := []txnCase{
		{name: "abort a running transaction", setup: phaseN1Running, typ: CmdTxnAbort, body: abort(false, ""),
			want: aborting(false, "aborted by an operator")},
		{name: "abort with rollback and a reason", setup: phaseN1Done, typ: CmdTxnAbort, body: abort(true, "bad release"),
			want: aborting(true, "bad release")},
		{name: "abort a paused transaction keeps the pause reason", setup: phasePaused, typ: CmdTxnAbort, body: abort(false, ""),
			want: aborting(false, "paused by an operator; aborted by an operator")},
		{name: "abort a failed transaction keeps the failure", setup: phaseFailed, typ: CmdTxnAbort, body: abort(true, ""),
			want: aborting(true, "step on n1 failed (attempt 1): disk full; aborted by an operator")},
		{name: "abort a finalizing transaction", setup: phaseFinalizing, typ: CmdTxnAbort, body: abort(true, ""),
			want: aborting(true, "aborted by an operator")},
		{name: "abort again asking for a rollback", setup: phaseAborting, typ: CmdTxnAbort, body: abort(true, "again"),
			want: func(s *State) { txnOf(s).RollbackRequested = true }},
		{name: "abort again without rollback keeps the rollback", setup: phaseRollingBack, typ: CmdTxnAbort, body: abort(false, "")},
		{name: "abort a done transaction", setup: phaseDone, typ: CmdTxnAbort, body: abort(false, ""), wantErr: ErrConflict},
		{name: "abort an aborted transaction", setup: phaseAborted, typ: CmdTxnAbort, body: abort(true, ""), wantErr: ErrConflict},
		{name: "abort an unknown transaction", setup: phaseRunning, typ: CmdTxnAbort,
			body: TxnAbort{TxnID: "tx9"}, wantErr: ErrNotFound},

		{name: "finish an aborting transaction", setup: phaseAborting, typ: CmdTxnFinish, body: finish(""),
			want: aborted("aborted by an operator")},
		{name: "finish adds its reason", setup: phaseAborting, typ: CmdTxnFinish, body: finish("nothing left to undo"),
			want: aborted("aborted by an operator; nothing left to undo")},
		{name: "finish after the rollback", setup: func(sc *scene) {
			phaseN2RolledBack(sc)
			sc.beginRollback("n1", 2)
			sc.complete("n1", 2, "1.0.0")
		}, typ: CmdTxnFinish, body: finish(""), want: aborted("aborted by an operator")},
		{name: "finish once the step running at abort completed",
			setup: func(sc *scene) { phaseAbortingN1Running(sc); sc.complete("n1", 1, target) },
			typ:   CmdTxnFinish, body: finish(""), want: aborted("aborted by an operator")},
		{name: "finish while a step runs", setup: phaseAbortingN1Running, typ: CmdTxnFinish, body: finish(""), wantErr: ErrConflict},
		{name: "finish while a rollback runs", setup: phaseN2RollingBack, typ: CmdTxnFinish, body: finish(""), wantErr: ErrConflict},
		{name: "finish a running transaction", setup: phaseRunning, typ: CmdTxnFinish, body: finish(""), wantErr: ErrConflict},
		{name: "finish a paused transaction", setup: phasePaused, typ: CmdTxnFinish, body: finish(""), wantErr: ErrConflict},
		{name: "finish a failed transaction", setup: phaseFailed, typ: CmdTxnFinish, body: finish(""), wantErr: ErrConflict},
		{name: "finish a finalizing transaction", setup: phaseFinalizing, typ: CmdTxnFinish, body: finish(""), wantErr: ErrConflict},
		{name: "finish a done transaction", setup: phaseDone, typ: CmdTxnFinish, body: finish(""), wantErr: ErrConflict},
		{name: "finish an aborted transaction", setup: phaseAborted, typ: CmdTxnFinish, body: finish(""), wantErr: ErrConflict},
		{name: "finish an unknown transaction", setup: phaseAborting, typ: CmdTxnFinish, body: TxnFinish{TxnID: "tx9"}, wantErr: ErrNotFound},
	}
	runTxnCases(t, cases)
}

func TestTxnFinalize(t *testing.T) {
	finalize := func(p int) TxnFinalize { return TxnFinalize{TxnID: txID, ProtocolVersion: p} }
	done := func(p int) func(s *State) {
		return func(s *State) {
			tx := txnOf(s)
			tx.State, tx.ProtocolVersion, tx.UpdatedAt, tx.FinishedAt = TxnDone, p, tCmd, tCmd
			s.ProtocolVersion, s.Active = p, ""
		}
	}
	allSpeak := func(p ProtocolRange) func(sc *scene) {
		return func(sc *scene) {
			phaseFinalizing(sc)
			for _, id := range []string{"n1", "n2", "n3"} {
				sc.report(id, target, p)
			}
		}
	}
	cases := []txnCase{
		{name: "finalize at the active protocol", setup: phaseFinalizing, typ: CmdTxnFinalize, body: finalize(1), want: done(1)},
		{name: "finalize raises the protocol every member speaks", setup: allSpeak(ProtocolRange{1, 2}),
			typ: CmdTxnFinalize, body: finalize(2), want: done(2)},
		{name: "finalize to a protocol every member speaks, above the old one's range", setup: allSpeak(ProtocolRange{2, 3}),
			typ: CmdTxnFinalize, body: finalize(3), want: done(3)},
		{name: "a paused transaction whose last step completed finalizes",
			setup: func(sc *scene) { phaseN3Running(sc); sc.control(CmdTxnPause, ""); sc.complete("n3", 1, target) },
			typ:   CmdTxnFinalize, body: finalize(1), want: done(1)},

		// I6: the active protocol rises only when every member speaks it.
		{name: "no member speaks the protocol", setup: phaseFinalizing, typ: CmdTxnFinalize, body: finalize(2), wantErr: ErrConflict},
		{name: "one member does not speak the protocol",
			setup: func(sc *scene) {
				phaseFinalizing(sc)
				sc.report("n1", target, ProtocolRange{1, 2})
				sc.report("n2", target, ProtocolRange{1, 2})
			},
			typ: CmdTxnFinalize, body: finalize(2), wantErr: ErrConflict},
		{name: "a member that joined during the transaction does not speak the protocol",
			setup: func(sc *scene) {
				phaseN3Running(sc)
				sc.do(CmdMemberJoin, MemberJoin{member("n4", "7004", "8004")})
				sc.complete("n3", 1, target)
				for _, id := range []string{"n1", "n2", "n3"} {
					sc.report(id, target, ProtocolRange{1, 2})
				}
			},
			typ: CmdTxnFinalize, body: finalize(2), wantErr: ErrConflict},
		{name: "below the active protocol",
			setup: func(sc *scene) { allSpeak(ProtocolRange{1, 2})(sc); sc.s.ProtocolVersion = 2 },
			typ:   CmdTxnFinalize, body: finalize(1), wantErr: ErrInvalid},
		{name: "finalize a running transaction", setup: phaseN3Running, typ: CmdTxnFinalize, body: finalize(1), wantErr: ErrConflict},
		{name: "finalize a paused transaction", setup: phasePaused, typ: CmdTxnFinalize, body: finalize(1), wantErr: ErrConflict},
		{name: "finalize a failed transaction", setup: phaseFailed, typ: CmdTxnFinalize, body: finalize(1), wantErr: ErrConflict},
		{name: "finalize an aborting transaction whose steps are all done",
			setup: func(sc *scene) { phaseFinalizing(sc); sc.abort(false) },
			typ:   CmdTxnFinalize, body: finalize(1), wantErr: ErrConflict},
		{name: "finalize twice", setup: phaseDone, typ: CmdTxnFinalize, body: finalize(1), wantErr: ErrConflict},
		{name: "finalize an aborted transaction", setup: phaseAborted, typ: CmdTxnFinalize, body: finalize(1), wantErr: ErrConflict},
		{name: "finalize an unknown transaction", setup: phaseFinalizing, typ: CmdTxnFinalize,
			body: TxnFinalize{TxnID: "tx9", ProtocolVersion: 1}, wantErr: ErrNotFound},
	}
	runTxnCases(t, cases)
}

func TestTxnNote(t *testing.T) {
	note := func(reason string) TxnControl { return TxnControl{TxnID: txID, Reason: reason} }
	noted := func(reason string) func(s *State) {
		return func(s *State) { txnOf(s).Reason, txnOf(s).UpdatedAt = reason, tCmd }
	}
	blocked := "waiting for n2 to catch up"
	cases := []txnCase{
		{name: "running", setup: phaseN1Running, typ: CmdTxnNote, body: note(blocked), want: noted(blocked)},
		{name: "paused", setup: phasePaused, typ: CmdTxnNote, body: note(blocked), want: noted(blocked)},
		{name: "failed", setup: phaseFailed, typ: CmdTxnNote, body: note(blocked), want: noted(blocked)},
		{name: "finalizing", setup: phaseFinalizing, typ: CmdTxnNote, body: note("n4 speaks only protocol 1"),
			want: noted("n4 speaks only protocol 1")},
		{name: "aborting", setup: phaseRollingBack, typ: CmdTxnNote, body: note(blocked), want: noted(blocked)},
		{name: "an empty note clears the reason", setup: phaseFailed, typ: CmdTxnNote, body: note(""), want: noted("")},
		{name: "done", setup: phaseDone, typ: CmdTxnNote, body: note(blocked), wantErr: ErrConflict},
		{name: "aborted", setup: phaseAborted, typ: CmdTxnNote, body: note(blocked), wantErr: ErrConflict},
		{name: "unknown", setup: phaseRunning, typ: CmdTxnNote, body: TxnControl{TxnID: "tx9", Reason: "x"}, wantErr: ErrNotFound},
	}
	runTxnCases(t, cases)
}

func TestMemberLeaveDuringTxn(t *testing.T) {
	leave := func(id string) MemberLeave { return MemberLeave{ID: id} }
	gone := func(id string) func(s *State) { return func(s *State) { delete(s.Members, id) } }
	cases := []txnCase{
		{name: "member with a pending step", setup: phaseRunning, typ: CmdMemberLeave, body: leave("n2"), wantErr: ErrConflict},
		{name: "member with a running step", setup: phaseN1Running, typ: CmdMemberLeave, body: leave("n1"), wantErr: ErrConflict},
		{name: "member with a pending step in a paused transaction", setup: phasePaused, typ: CmdMemberLeave,
			body: leave("n1"), wantErr: ErrConflict},
		{name: "member with a pending step in a failed transaction", setup: phaseFailed, typ: CmdMemberLeave,
			body: leave("n2"), wantErr: ErrConflict},
		{name: "member whose step runs in an aborting transaction", setup: phaseAbortingN1Running, typ: CmdMemberLeave,
			body: leave("n1"), wantErr: ErrConflict},
		{name: "member whose rollback runs", setup: phaseN2RollingBack, typ: CmdMemberLeave, body: leave("n2"), wantErr: ErrConflict},
		{name: "member whose step is done", setup: phaseN2Running, typ: CmdMemberLeave, body: leave("n1"), want: gone("n1")},
		{name: "member without a step",
			setup: func(sc *scene) { sc.start(plan(withSteps(Step{Node: "n1"}, Step{Node: "n2", Batch: 1}))) },
			typ:   CmdMemberLeave, body: leave("n3"), want: gone("n3")},
		{name: "member with a pending step of a finished transaction", setup: phaseAborted, typ: CmdMemberLeave,
			body: leave("n2"), want: gone("n2")},
	}
	runTxnCases(t, cases)
}

// TestFinishedTxnRejectsEveryCommand: once a transaction is done, step
// commands are stale and control commands conflict; an unknown transaction
// is not found, whatever the command.
func TestFinishedTxnRejectsEveryCommand(t *testing.T) {
	bodies := func(id string) map[CommandType]any {
		return map[CommandType]any{
			CmdStepBegin:    StepBegin{TxnID: id, Node: "n1", Attempt: 2},
			CmdStepComplete: StepComplete{TxnID: id, Node: "n1", Attempt: 1, Version: target},
			CmdStepFail:     StepFail{TxnID: id, Node: "n1", Attempt: 1, Error: "late"},
			CmdTxnPause:     TxnControl{TxnID: id},
			CmdTxnResume:    TxnControl{TxnID: id},
			CmdTxnRetry:     TxnControl{TxnID: id},
			CmdTxnAbort:     TxnAbort{TxnID: id, Rollback: true},
			CmdTxnFinish:    TxnFinish{TxnID: id},
			CmdTxnFinalize:  TxnFinalize{TxnID: id, ProtocolVersion: 1},
			CmdTxnNote:      TxnControl{TxnID: id, Reason: "late"},
			CmdStepSkip:     StepSkip{TxnID: id, Node: "n1"},
			CmdTxnHalt:      TxnControl{TxnID: id},
			CmdTxnRecover:   TxnRecover{TxnID: id, Rollback: true},
		}
	}
	stale := map[CommandType]bool{CmdStepBegin: true, CmdStepComplete: true, CmdStepFail: true, CmdStepSkip: true}
	var cases []txnCase
	for _, typ := range []CommandType{CmdStepBegin, CmdStepComplete, CmdStepFail, CmdTxnPause, CmdTxnResume,
		CmdTxnRetry, CmdTxnAbort, CmdTxnFinish, CmdTxnFinalize, CmdTxnNote, CmdStepSkip, CmdTxnHalt, CmdTxnRecover} {
		want := ErrConflict
		if stale[typ] {
			want = ErrStale
		}
		cases = append(cases,
			txnCase{name: string(typ) + " of a done transaction", setup: phaseDone, typ: typ, body: bodies(txID)[typ], wantErr: want},
			txnCase{name: string(typ) + " of a done transaction while another runs",
				setup: func(sc *scene) { phaseDone(sc); sc.start(plan(withID("tx2"))) },
				typ:   typ, body: bodies(txID)[typ], wantErr: want},
			txnCase{name: string(typ) + " of an unknown transaction", setup: phaseN1Running, typ: typ,
				body: bodies("tx9")[typ], wantErr: ErrNotFound},
			txnCase{name: string(typ) + " with no transaction at all", typ: typ, body: bodies(txID)[typ], wantErr: ErrNotFound},
		)
	}
	runTxnCases(t, cases)
}

// TestHaltPolicyRetry walks a halted transaction through a retry: the failed
// step becomes pending again and its next begin is attempt 2; notices of
// attempt 1 are stale from then on.
func TestHaltPolicyRetry(t *testing.T) {
	sc := newScene(t)
	sc.start(plan())
	sc.begin("n1", 1)
	sc.fail("n1", 1, "disk full")
	tx := txnOf(sc.s)
	require.Equal(t, TxnFailed, tx.State)
	require.Equal(t, "step on n1 failed (attempt 1): disk full", tx.Reason)
	require.Equal(t, sc.s.Active, txID, "a failed transaction stays active")
	require.ErrorIs(t, sc.apply(CmdStepBegin, StepBegin{TxnID: txID, Node: "n1", Attempt: 2}), ErrStale, "I8: nothing begins while failed")

	sc.control(CmdTxnRetry, "")
	st := stepOf(sc.s, "n1")
	require.Equal(t, StepPending, st.State)
	require.Equal(t, uint64(1), st.Attempt)
	require.Equal(t, TxnRunning, txnOf(sc.s).State)
	require.ErrorIs(t, sc.apply(CmdStepBegin, StepBegin{TxnID: txID, Node: "n1", Attempt: 1}), ErrStale)

	sc.begin("n1", 2)
	require.ErrorIs(t, sc.apply(CmdStepComplete, StepComplete{TxnID: txID, Node: "n1", Attempt: 1, Version: target}), ErrStale)
	require.ErrorIs(t, sc.apply(CmdStepFail, StepFail{TxnID: txID, Node: "n1", Attempt: 1, Error: "late"}), ErrStale)
	sc.complete("n1", 2, target)
	require.Equal(t, StepDone, stepOf(sc.s, "n1").State)
	require.Equal(t, target, sc.s.Members["n1"].Version)

	sc.upgrade("n2")
	sc.upgrade("n3")
	require.Equal(t, TxnFinalizing, txnOf(sc.s).State)
	sc.do(CmdTxnFinalize, TxnFinalize{TxnID: txID, ProtocolVersion: 1})
	require.Equal(t, TxnDone, txnOf(sc.s).State)
	require.Empty(t, sc.s.Active)
}

// TestRollbackPolicyRollsBackInReverse: a failure under the rollback policy
// aborts the transaction; the steps that ran roll back last first, each to
// its prior version, and the transaction then finishes as aborted.
func TestRollbackPolicyRollsBackInReverse(t *testing.T) {
	sc := newScene(t)
	sc.report("n2", "1.1.0", ProtocolRange{1, 1})
	sc.start(plan(rollbackPolicy, parallel(2)))
	sc.upgrade("n1")
	sc.begin("n2", 1)
	sc.begin("n3", 1)
	sc.complete("n2", 1, target)
	sc.fail("n3", 1, "health check failed")

	tx := txnOf(sc.s)
	require.Equal(t, TxnAborting, tx.State)
	require.True(t, tx.RollbackRequested)
	require.Equal(t, "step on n3 failed (attempt 1): health check failed; rolling back", tx.Reason)
	require.ErrorIs(t, sc.apply(CmdStepBegin, StepBegin{TxnID: txID, Node: "n3", Attempt: 2}), ErrStale, "I8: no upgrade after the abort")

	for _, node := range []string{"n3", "n2", "n1"} {
		st := stepOf(sc.s, node)
		prior := st.PriorVersion
		sc.beginRollback(node, st.Attempt+1)
		st = stepOf(sc.s, node)
		require.Equal(t, StepRunning, st.State)
		require.True(t, st.Rollback)
		require.Equal(t, prior, st.ToVersion)
		require.ErrorIs(t, sc.apply(CmdTxnFinish, TxnFinish{TxnID: txID}), ErrConflict, "no finish while %s rolls back", node)
		sc.complete(node, st.Attempt, prior)
		require.Equal(t, StepRolledBack, stepOf(sc.s, node).State)
		require.Equal(t, prior, sc.s.Members[node].Version)
	}
	require.Equal(t, "1.1.0", sc.s.Members["n2"].Version)
	require.Equal(t, uint64(2), stepOf(sc.s, "n1").Attempt)
	require.Equal(t, TxnAborting, txnOf(sc.s).State, "only finish ends an aborting transaction")

	sc.do(CmdTxnFinish, TxnFinish{TxnID: txID, Reason: "rolled back"})
	tx = txnOf(sc.s)
	require.Equal(t, TxnAborted, tx.State)
	require.Equal(t, "step on n3 failed (attempt 1): health check failed; rolling back; rolled back", tx.Reason)
	require.Empty(t, sc.s.Active)
	require.Equal(t, 1, sc.s.ProtocolVersion, "an aborted transaction never raises the protocol")
	require.False(t, tx.FinishedAt.IsZero())
}

// TestHistoryKeepsNewest: finished transactions beyond MaxHistory are
// dropped oldest first.
func TestHistoryKeepsNewest(t *testing.T) {
	sc := newScene(t)
	const extra = 5
	for i := range MaxHistory + extra {
		id := fmt.Sprintf("tx-%03d", i)
		sc.start(plan(withID(id), withSteps(Step{Node: "n1"})))
		sc.do(CmdTxnAbort, TxnAbort{TxnID: id})
		sc.do(CmdTxnFinish, TxnFinish{TxnID: id})
		require.LessOrEqual(t, len(sc.s.TxnOrder), MaxHistory)
	}
	require.Len(t, sc.s.TxnOrder, MaxHistory)
	require.Len(t, sc.s.Txns, MaxHistory)
	require.Equal(t, fmt.Sprintf("tx-%03d", extra), sc.s.TxnOrder[0])
	require.Equal(t, fmt.Sprintf("tx-%03d", MaxHistory+extra-1), sc.s.TxnOrder[MaxHistory-1])
	for i := range extra {
		require.NotContains(t, sc.s.Txns, fmt.Sprintf("tx-%03d", i))
	}
	for _, id := range sc.s.TxnOrder {
		require.Contains(t, sc.s.Txns, id)
	}

	// An active transaction on top of a full history is kept, and trimmed
	// down to MaxHistory once it ends.
	sc.start(plan(withID("last"), withSteps(Step{Node: "n1"})))
	require.Len(t, sc.s.TxnOrder, MaxHistory+1)
	require.Equal(t, "last", sc.s.LatestTxn().ID)
	sc.do(CmdStepBegin, StepBegin{TxnID: "last", Node: "n1", Attempt: 1})
	sc.do(CmdStepComplete, StepComplete{TxnID: "last", Node: "n1", Attempt: 1, Version: target})
	sc.do(CmdTxnFinalize, TxnFinalize{TxnID: "last", ProtocolVersion: 1})
	require.Len(t, sc.s.TxnOrder, MaxHistory)
	require.Equal(t, "last", sc.s.TxnOrder[MaxHistory-1])
	require.Equal(t, fmt.Sprintf("tx-%03d", extra+1), sc.s.TxnOrder[0])
}

// TestDepartedMemberIsNotRecreated: a member may leave while its step is
// failed (in a halted transaction) or done (in a transaction that may still
// roll back); such a step can later begin again. Whatever the FSM decides,
// no command other than member.join may put a record into the catalogue,
// and every record must be a valid member filed under its own id.
func TestDepartedMemberIsNotRecreated(t *testing.T) {
	cases := []struct {
		name string
		run  func(sc *scene)
	}{
		{name: "retry of a failed step", run: func(sc *scene) {
			sc.start(plan())
			sc.begin("n1", 1)
			sc.fail("n1", 1, "disk full")
			_ = sc.apply(CmdMemberLeave, MemberLeave{ID: "n1"})
			_ = sc.apply(CmdTxnRetry, TxnControl{TxnID: txID})
			_ = sc.apply(CmdStepBegin, StepBegin{TxnID: txID, Node: "n1", Attempt: 2})
			_ = sc.apply(CmdStepComplete, StepComplete{TxnID: txID, Node: "n1", Attempt: 2, Version: target})
		}},
		{name: "rollback of a done step", run: func(sc *scene) {
			sc.start(plan())
			sc.upgrade("n1")
			_ = sc.apply(CmdMemberLeave, MemberLeave{ID: "n1"})
			_ = sc.apply(CmdTxnAbort, TxnAbort{TxnID: txID, Rollback: true})
			_ = sc.apply(CmdStepBegin, StepBegin{TxnID: txID, Node: "n1", Attempt: 2, Rollback: true})
			_ = sc.apply(CmdStepComplete, StepComplete{TxnID: txID, Node: "n1", Attempt: 2, Version: "1.0.0"})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := newScene(t)
			tc.run(sc)
			requireCatalogueIntact(t, sc.s)
			if m, ok := sc.s.Members["n1"]; ok {
				require.Equal(t, member("n1", "7001", "8001").RaftAddr, m.RaftAddr, "n1 either stayed or is gone")
			}
		})
	}
}

// requireCatalogueIntact checks that every member record is valid and filed
// under its own id.
func requireCatalogueIntact(t *testing.T, s *State) {
	t.Helper()
	for id, m := range s.Members {
		require.Equal(t, id, m.ID, "member record filed under %q names %q", id, m.ID)
		require.NoError(t, ValidateMember(m), "member record %q", id)
	}
}

func TestBatchStepsAndIndex(t *testing.T) {
	tx := &Txn{Steps: []Step{{Node: "a", Batch: 0}, {Node: "b", Batch: 1}, {Node: "c", Batch: 1}, {Node: "d", Batch: 2}}}
	require.Equal(t, []string{"b", "c"}, stepNodes(tx.BatchSteps(1)))
	require.Empty(t, tx.BatchSteps(-1))
	require.Empty(t, tx.BatchSteps(3))
	for i := range tx.Steps {
		tx.Steps[i].State = StepPending
	}
	tx.reindex()
	require.Equal(t, 0, tx.CurrentBatch())
	tx.setStepState(tx.Step("a"), StepDone)
	tx.setStepState(tx.Step("b"), StepRunning)
	require.Equal(t, 1, tx.CurrentBatch())
	require.Equal(t, 1, tx.Count(StepRunning))
	require.Equal(t, 2, tx.Count(StepPending))
	tx.setStepState(tx.Step("b"), StepDone)
	tx.setStepState(tx.Step("c"), StepDone)
	require.Equal(t, 2, tx.CurrentBatch())
	tx.setStepState(tx.Step("a"), StepRunning) // a rollback begins
	require.Equal(t, 0, tx.CurrentBatch())
	copied := tx.clone()
	copied.setStepState(copied.Step("d"), StepDone)
	require.Equal(t, 1, tx.Count(StepPending), "a copy's index is its own")
	require.Equal(t, 0, copied.Count(StepPending))
	require.Nil(t, tx.Step("z"))
}

func stepNodes(steps []Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Node)
	}
	return out
}

// A refused resume of a halted transaction says what to do instead.
func TestResumeOfAFailedTransactionSuggestsRetry(t *testing.T) {
	sc := newScene(t)
	phaseFailed(sc)
	err := sc.s.Apply(sc.idx+1, envelopeAt(t, CmdTxnResume, tCmd, TxnControl{TxnID: "tx1"}))
	require.ErrorIs(t, err, ErrConflict)
	require.Contains(t, err.Error(), "`baton upgrade retry` runs its failed steps again")
}
