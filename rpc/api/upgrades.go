package api

import (
	"encoding/json"
	"fmt"
	"time"
)

// TxnState is the state of an upgrade transaction on the wire.
type TxnState string

// Transaction states. Running, paused, failed, finalizing, aborting and
// rollback-failed are active: at most one transaction is active. Done and
// aborted are terminal.
const (
	TxnRunning    TxnState = "running"
	TxnPaused     TxnState = "paused"
	TxnFailed     TxnState = "failed" // halted on a step failure; retry or abort
	TxnFinalizing TxnState = "finalizing"
	TxnDone       TxnState = "done"
	TxnAborting   TxnState = "aborting"
	TxnAborted    TxnState = "aborted"
	// TxnRollbackFailed (protocol 3): the rollback failed on some nodes,
	// named in the reason. The transaction waits for an operator: retry
	// (the rollback again), retry with Forward (upgrade again), or abort
	// (leave the nodes as they are).
	TxnRollbackFailed TxnState = "rollback-failed"
)

// Terminal reports whether nothing more can happen to the transaction.
func (s TxnState) Terminal() bool { return s == TxnDone || s == TxnAborted }

// Active reports whether a transaction in state s is the cluster's active
// one (every state but the terminal ones).
func (s TxnState) Active() bool {
	switch s {
	case TxnRunning, TxnPaused, TxnFailed, TxnFinalizing, TxnAborting, TxnRollbackFailed:
		return true
	}
	return false
}

// StepState is the state of one node's step: in a transaction as the API
// shows it, and in a node's own report of an attempt (StepStatus), which is
// only ever running, done or failed.
type StepState string

// Step states.
const (
	StepPending    StepState = "pending"
	StepRunning    StepState = "running"
	StepDone       StepState = "done"
	StepFailed     StepState = "failed"
	StepRolledBack StepState = "rolled-back"
)

// Failure policies (StartRequest.OnFailure, Txn.OnFailure).
const (
	OnFailureHalt     = "halt"
	OnFailureRollback = "rollback"
)

// Control actions (POST /v1/upgrades/{id}/{action}).
const (
	ActionPause  = "pause"
	ActionResume = "resume"
	ActionRetry  = "retry"
	ActionAbort  = "abort"
)

// MaxHistory is how many finished transactions an agent keeps: GET
// /v1/upgrades lists at most this many besides the active one. It is a
// property of the replicated state (every replica trims alike), so a new
// value would come with a new protocol version; a test in package rpc keeps
// it equal to the state machine's bound.
const MaxHistory = 100

// Duration is a time.Duration that reads and writes JSON as a string such
// as "5m0s".
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string such as "90s"; anything else is an
// error.
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
	// Attempt counts the times the step was begun.
	Attempt uint64 `json:"attempt"`
	// PriorVersion is what the node ran when the transaction started: the
	// version a rollback returns it to.
	PriorVersion string `json:"prior_version"`
	FromVersion  string `json:"from_version"`
	ToVersion    string `json:"to_version"`
	// Rollback marks a current attempt that rolls back.
	Rollback   bool      `json:"rollback,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Error      string    `json:"error"`
	// Waiting says what keeps a running or due step from going on, when the
	// answering agent knows (its node is unreachable, or no longer a
	// member); empty otherwise.
	Waiting string `json:"waiting,omitempty"`
	// Hook names the hook the step's node runs now, when the read asked
	// for it (?live=true) and the node answered; empty otherwise.
	Hook string `json:"hook,omitempty"`
	// Skipped marks a step done without running anything, because its
	// node already ran the target version (protocol 3).
	Skipped bool `json:"skipped,omitempty"`
	// Attempts are the step's latest attempts, oldest first, the current
	// one last (empty from agents that predate them).
	Attempts []Attempt `json:"attempts,omitempty"`
}

// Attempt is one attempt of a step: State is StepRunning until the node's
// notice (or the leader's deadline) ends it, then StepDone, StepRolledBack
// or StepFailed with Error.
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

// Txn is an upgrade transaction as the API shows it.
type Txn struct {
	ID                 string    `json:"id"`
	State              TxnState  `json:"state"`
	TargetVersion      string    `json:"target_version"`
	ArtifactURL        string    `json:"artifact_url,omitempty"`
	ArtifactSHA256     string    `json:"artifact_sha256,omitempty"`
	Strategy           string    `json:"strategy"`
	MaxParallel        int       `json:"max_parallel"`
	OnFailure          string    `json:"on_failure"`
	StepTimeout        Duration  `json:"step_timeout"`
	ProgressDeadline   Duration  `json:"progress_deadline"`
	AllowLeaderUpgrade bool      `json:"allow_leader_upgrade,omitempty"`
	LeaderAtStart      string    `json:"leader_at_start"`
	Steps              []Step    `json:"steps"`
	Reason             string    `json:"reason,omitempty"` // why it is paused, failed, aborting or blocked, for humans
	RollbackRequested  bool      `json:"rollback_requested,omitempty"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
	LastProgressAt     time.Time `json:"last_progress_at"`
	FinishedAt         time.Time `json:"finished_at,omitzero"`
	// ProtocolVersion is the cluster's active protocol version as read, or,
	// for a transaction that finalized, the version it finalized to.
	ProtocolVersion int `json:"protocol_version"`
	// MaxLag is the most a replica may lag to take over as the service's
	// primary (protocol 3; 0 from older agents).
	MaxLag uint64 `json:"max_lag,omitempty"`
	// Switchovers are the switch-overs of the service's primary the
	// transaction ran, oldest first (protocol 3).
	Switchovers []Switchover `json:"switchovers,omitempty"`
	// Ring is the failover ring a ring transaction was planned on, fixed
	// at its start (protocol 3); empty for the other strategies.
	Ring []string `json:"ring,omitempty"`
	// Groups are a grouped transaction's groups (protocol 3).
	Groups []Group `json:"groups,omitempty"`
	// ArtifactStored says the artifact (ArtifactSHA256) is one held by
	// the cluster, sha256:HEX (protocol 3).
	ArtifactStored bool `json:"artifact_stored,omitempty"`
}

// Step returns the step of node, or nil.
func (t *Txn) Step(node string) *Step {
	for i := range t.Steps {
		if t.Steps[i].Node == node {
			return &t.Steps[i]
		}
	}
	return nil
}

// Count returns how many steps are in state s.
func (t *Txn) Count(s StepState) int {
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
	for _, st := range t.Steps {
		if st.State != StepDone {
			return st.Batch
		}
	}
	return -1
}

// StartRequest asks for an upgrade transaction (and, to /v1/upgrades/plan,
// for its plan only). Empty fields take the defaults documented in CLI.md.
type StartRequest struct {
	TargetVersion    string `json:"target_version"`
	ArtifactURL      string `json:"artifact_url,omitempty"`
	ArtifactSHA256   string `json:"artifact_sha256,omitempty"`
	Strategy         string `json:"strategy,omitempty"`
	MaxParallel      string `json:"max_parallel,omitempty"` // "2" or "25%"
	OnFailure        string `json:"on_failure,omitempty"`
	StepTimeout      string `json:"step_timeout,omitempty"`
	ProgressDeadline string `json:"progress_deadline,omitempty"`
	// AllowLeaderUpgrade lets a one-voter cluster upgrade its leader in
	// place; it is refused on a cluster with other voters.
	AllowLeaderUpgrade bool `json:"allow_leader_upgrade,omitempty"`
	// MaxLag is the most a replica's lag hook may print for it to take
	// over as the service's primary (--max-lag, default 0; protocol 3).
	MaxLag uint64 `json:"max_lag,omitempty"`
	// GroupBy and MaxGroups shape the grouped strategy (--group-by
	// subnet:N|label:KEY, default subnet:24; --max-groups, default 1:
	// groups in progress at once); other strategies refuse them
	// (protocol 3).
	GroupBy   string `json:"group_by,omitempty"`
	MaxGroups int    `json:"max_groups,omitempty"`
	// Artifact names an artifact held by the cluster, sha256:HEX, which
	// every node fetches from the servers that hold it; it excludes
	// ArtifactURL and ArtifactSHA256 (protocol 3).
	Artifact string `json:"artifact,omitempty"`
}

// ControlRequest is the optional body of POST /v1/upgrades/{id}/{action}.
// Rollback is abort's: roll back the steps already done before ending.
// Forward is retry's: a rollback-failed transaction upgrades its nodes
// again instead of retrying the rollback (protocol 3; on a failed
// transaction a retry goes forward anyway). Each is refused with the other
// action.
type ControlRequest struct {
	Rollback bool `json:"rollback,omitempty"`
	Forward  bool `json:"forward,omitempty"`
}

// AbortRequest asks to abort, optionally rolling back the steps done: the
// ControlRequest of abort.
type AbortRequest = ControlRequest

// Plan is what a transaction would do, computed without starting it.
type Plan struct {
	TargetVersion string `json:"target_version"`
	Strategy      string `json:"strategy"`
	// Reason is the rule the strategy ordered the nodes by ("primary =
	// Baton's Raft leader n1 ..."); empty from agents that predate it.
	Reason       string      `json:"reason,omitempty"`
	MaxParallel  int         `json:"max_parallel"`
	OnFailure    string      `json:"on_failure"`
	Leader       string      `json:"leader"`
	Voters       int         `json:"voters"`
	QuorumBudget int         `json:"quorum_budget"`
	Batches      []PlanBatch `json:"batches"`
	Warnings     []string    `json:"warnings,omitempty"`
	// MaxLag is the request's --max-lag; ServicePrimary the service's
	// primary the plan ordered by, empty when it ordered by Baton's leader
	// or knew no primary (protocol 3).
	MaxLag         uint64 `json:"max_lag,omitempty"`
	ServicePrimary string `json:"service_primary,omitempty"`
	// Ring is the failover ring a ring plan was cut from, its first node
	// first (protocol 3); empty for the other strategies.
	Ring []string `json:"ring,omitempty"`
	// Groups are the groups of a grouped plan, in the order they start,
	// each with its leader and its members in the order they upgrade (the
	// leader last); GroupBy and MaxGroups are the grouping that made them
	// (protocol 3).
	Groups    []Group `json:"groups,omitempty"`
	GroupBy   string  `json:"group_by,omitempty"`
	MaxGroups int     `json:"max_groups,omitempty"`
}

// Group is one group of a grouped plan or transaction (S4). Acting is the
// member that acts for the group while its leader upgrades or is
// unreachable, "" while the leader does, with the reason and since when
// (transactions only).
type Group struct {
	Name         string    `json:"name"`
	Leader       string    `json:"leader"`
	Members      []string  `json:"members"`
	Acting       string    `json:"acting,omitempty"`
	ActingReason string    `json:"acting_reason,omitempty"`
	ActingSince  time.Time `json:"acting_since,omitzero"`
}

// PlanBatch is one batch of a plan. Handoff marks the batch that holds the
// leader: leadership moves to another voter before it starts. Skip lists
// the nodes of the batch that already run the target: their steps are done
// at once, running no hook, and need no handoff (protocol 3; empty from
// older agents, and while the cluster speaks an older protocol).
type PlanBatch struct {
	Nodes   []string `json:"nodes"`
	Handoff bool     `json:"handoff,omitempty"`
	Skip    []string `json:"skip,omitempty"`
}
