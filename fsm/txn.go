package fsm

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// TxnState is the state of an upgrade transaction.
type TxnState string

// Transaction states. Running, paused, failed, finalizing, aborting and
// rollback-failed are active: at most one transaction is active (I1). Done
// and aborted are terminal.
const (
	TxnRunning    TxnState = "running"
	TxnPaused     TxnState = "paused"
	TxnFailed     TxnState = "failed" // halted on a step failure; retry or abort
	TxnFinalizing TxnState = "finalizing"
	TxnDone       TxnState = "done"
	TxnAborting   TxnState = "aborting"
	TxnAborted    TxnState = "aborted"
	// TxnRollbackFailed (protocol 3) is an aborting transaction whose
	// rollback failed on some nodes: halted for an operator, who retries
	// the rollback, rolls forward, or aborts and leaves the nodes as they
	// are (see txn.halt and txn.recover).
	TxnRollbackFailed TxnState = "rollback-failed"
)

// Terminal reports whether nothing more can happen to the transaction.
func (s TxnState) Terminal() bool { return s == TxnDone || s == TxnAborted }

// StepState is the state of one node's step.
type StepState string

// Step states.
const (
	StepPending    StepState = "pending"
	StepRunning    StepState = "running"
	StepDone       StepState = "done"
	StepFailed     StepState = "failed"
	StepRolledBack StepState = "rolled-back"
)

// Failure policies.
const (
	OnFailureHalt     = "halt"
	OnFailureRollback = "rollback"
)

// Duration is a time.Duration that reads and writes JSON as "5m0s".
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string such as "90s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as \"5m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// Step is one node's part of a transaction.
type Step struct {
	Node  string    `json:"node"`
	Batch int       `json:"batch"`
	State StepState `json:"state"`
	// Attempt counts the times the step was begun; a completion notice must
	// name the current attempt.
	Attempt uint64 `json:"attempt"`
	// PriorVersion is what the node ran when the transaction started: the
	// version a rollback returns it to.
	PriorVersion string `json:"prior_version"`
	FromVersion  string `json:"from_version"`
	ToVersion    string `json:"to_version"`
	// Rollback marks that the current attempt rolls back; on a pending
	// step (after txn.recover), that its next attempt does.
	Rollback   bool      `json:"rollback,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Error      string    `json:"error"`
	// Skipped marks a step done without running anything: its node already
	// ran the target version when the step was due (step.skip, protocol
	// 3).
	Skipped bool `json:"skipped,omitempty"`
	// Attempts are the step's latest attempts (at most MaxAttempts), oldest
	// first, the current one last. They are derived from step.begin,
	// step.complete and step.fail (docs/protocol.md, rule 6): a state
	// restored from a snapshot of a build that kept none starts without
	// them.
	Attempts []Attempt `json:"attempts,omitempty"`
}

// MaxAttempts bounds how many attempts of one step are kept.
const MaxAttempts = 10

// Attempt is the record of one attempt of a step: what it aimed at, when it
// ran and how it ended. State is StepRunning until its notice, then
// StepDone (StepRolledBack for a rollback) or StepFailed.
type Attempt struct {
	Attempt     uint64    `json:"attempt"`
	Rollback    bool      `json:"rollback,omitempty"`
	State       StepState `json:"state"`
	FromVersion string    `json:"from_version"`
	ToVersion   string    `json:"to_version"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	Error       string    `json:"error,omitempty"`
}

// Txn is an upgrade transaction.
type Txn struct {
	ID               string   `json:"id"`
	State            TxnState `json:"state"`
	TargetVersion    string   `json:"target_version"`
	ArtifactURL      string   `json:"artifact_url,omitempty"`
	ArtifactSHA256   string   `json:"artifact_sha256,omitempty"`
	Strategy         string   `json:"strategy"`
	MaxParallel      int      `json:"max_parallel"`
	OnFailure        string   `json:"on_failure"`
	StepTimeout      Duration `json:"step_timeout"`
	ProgressDeadline Duration `json:"progress_deadline"`
	// AllowLeaderUpgrade lets a one-voter cluster upgrade its leader in
	// place, since it has nobody to hand leadership to.
	AllowLeaderUpgrade bool   `json:"allow_leader_upgrade,omitempty"`
	LeaderAtStart      string `json:"leader_at_start"`
	Steps              []Step `json:"steps"`
	// Reason says why the transaction is paused, failed, aborting or
	// blocked, for humans.
	Reason string `json:"reason,omitempty"`
	// RollbackRequested makes an aborting transaction roll back the steps
	// already done, in reverse order, before it ends.
	RollbackRequested bool `json:"rollback_requested,omitempty"`
	// ProtocolVersion is the protocol version the transaction finalized to.
	ProtocolVersion int       `json:"protocol_version,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	LastProgressAt  time.Time `json:"last_progress_at"`
	FinishedAt      time.Time `json:"finished_at,omitzero"`
	// MaxLag is the most a replica's lag hook may print for it to take
	// over as the service's primary (--max-lag; protocol 3, service.go).
	MaxLag uint64 `json:"max_lag,omitempty"`
	// Switchovers are the switch-overs of the service's primary this
	// transaction ran, oldest first (protocol 3, service.go).
	Switchovers []Switchover `json:"switchovers,omitempty"`
	// Ring is the failover ring a ring transaction was planned on, fixed
	// at its start, so that its plan, its steps and the state machine's
	// check of I9 use the same ring (protocol 3, ring.go); nil for the
	// other strategies.
	Ring []string `json:"ring,omitempty"`
	// Groups are the groups of a grouped transaction, with their leaders,
	// in the order they start (protocol 3, groups.go); nil for the other
	// strategies.
	Groups []Group `json:"groups,omitempty"`
	// ArtifactStored says the artifact is one held by the cluster
	// (artifacts.go): ArtifactSHA256 names it and ArtifactURL is empty;
	// nodes fetch it from the servers that hold it (protocol 3).
	ArtifactStored bool `json:"artifact_stored,omitempty"`

	// index makes the lookups every step command does constant-time; see
	// stepIndex. It is not part of the replicated state.
	index stepIndex
}

// stepIndex is derived from a transaction's steps so that Step, Count and
// CurrentBatch need not scan them: with ten thousand steps, scanning on
// every command made a transaction quadratic. The state machine builds it
// when a transaction starts or is restored (reindex) and keeps it current
// through setStepState, the only way it changes a step's state. A Txn made
// anywhere else (decoded from the API, built by a caller) has none, and its
// methods scan.
type stepIndex struct {
	built bool
	// pos maps each node to its step's position. Steps never change order
	// or number after a transaction starts, so copies share the map.
	pos map[string]int
	// counts holds how many steps are in each state, by stateSlot.
	counts [len(stepStates)]int
	// firstOpen is the position of the first step not done, or len(Steps).
	firstOpen int
}

// stepStates lists the step states in the order of stepIndex.counts.
var stepStates = [...]StepState{StepPending, StepRunning, StepDone, StepFailed, StepRolledBack}

func stateSlot(s StepState) int {
	for i, x := range stepStates {
		if x == s {
			return i
		}
	}
	return -1
}

// reindex rebuilds the step index from the steps.
func (t *Txn) reindex() {
	ix := stepIndex{built: true, pos: make(map[string]int, len(t.Steps)), firstOpen: len(t.Steps)}
	for i, st := range t.Steps {
		ix.pos[st.Node] = i
		if slot := stateSlot(st.State); slot >= 0 {
			ix.counts[slot]++
		}
		if st.State != StepDone && i < ix.firstOpen {
			ix.firstOpen = i
		}
	}
	t.index = ix
}

// setStepState moves st, one of t's steps, to state to, keeping the index.
func (t *Txn) setStepState(st *Step, to StepState) {
	from := st.State
	st.State = to
	if !t.index.built || from == to {
		return
	}
	if slot := stateSlot(from); slot >= 0 {
		t.index.counts[slot]--
	}
	if slot := stateSlot(to); slot >= 0 {
		t.index.counts[slot]++
	}
	pos, ok := t.index.pos[st.Node]
	if !ok {
		t.reindex()
		return
	}
	switch {
	case to != StepDone && pos < t.index.firstOpen:
		t.index.firstOpen = pos
	case to == StepDone && pos == t.index.firstOpen:
		for t.index.firstOpen < len(t.Steps) && t.Steps[t.index.firstOpen].State == StepDone {
			t.index.firstOpen++
		}
	}
}

// Step returns the step of node, or nil.
func (t *Txn) Step(node string) *Step {
	if t.index.built {
		if i, ok := t.index.pos[node]; ok && i < len(t.Steps) && t.Steps[i].Node == node {
			return &t.Steps[i]
		}
	}
	for i := range t.Steps {
		if t.Steps[i].Node == node {
			return &t.Steps[i]
		}
	}
	return nil
}

// Count returns how many steps are in state s.
func (t *Txn) Count(s StepState) int {
	if slot := stateSlot(s); t.index.built && slot >= 0 {
		return t.index.counts[slot]
	}
	n := 0
	for _, st := range t.Steps {
		if st.State == s {
			n++
		}
	}
	return n
}

// Batches returns the number of batches.
func (t *Txn) Batches() int {
	if len(t.Steps) == 0 {
		return 0
	}
	return t.Steps[len(t.Steps)-1].Batch + 1
}

// CurrentBatch returns the lowest batch holding a step that is not done, or
// -1 when every step is done.
func (t *Txn) CurrentBatch() int {
	from := 0
	if t.index.built {
		from = t.index.firstOpen
	}
	for _, st := range t.Steps[min(from, len(t.Steps)):] {
		if st.State != StepDone {
			return st.Batch
		}
	}
	return -1
}

// BatchSteps returns the steps of batch b, in order: a part of t.Steps,
// not a copy. Steps are stored batch by batch, so it is found by binary
// search.
func (t *Txn) BatchSteps(b int) []Step {
	lo := sort.Search(len(t.Steps), func(i int) bool { return t.Steps[i].Batch >= b })
	hi := sort.Search(len(t.Steps), func(i int) bool { return t.Steps[i].Batch > b })
	return t.Steps[lo:hi]
}

func (t *Txn) clone() *Txn {
	c := *t
	c.Steps = append([]Step(nil), t.Steps...)
	c.Groups = append([]Group(nil), t.Groups...) // group.acting edits them in place
	for i := range c.Steps {
		if c.Steps[i].Attempts != nil {
			c.Steps[i].Attempts = append([]Attempt(nil), c.Steps[i].Attempts...)
		}
	}
	return &c
}
