package rpc

import "github.com/baton-upgrade/baton/fsm"

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
}

// Plan is what a transaction would do, computed without starting it.
// Reason says which rule the strategy applied, such as "primary = Baton's
// Raft leader n1 (no role hooks), upgraded last; the others first, in
// natural id order"; agents that predate it send none.
type Plan struct {
	TargetVersion string      `json:"target_version"`
	Strategy      string      `json:"strategy"`
	Reason        string      `json:"reason"`
	MaxParallel   int         `json:"max_parallel"`
	OnFailure     string      `json:"on_failure"`
	Leader        string      `json:"leader"`
	Voters        int         `json:"voters"`
	QuorumBudget  int         `json:"quorum_budget"`
	Batches       []PlanBatch `json:"batches"`
	Warnings      []string    `json:"warnings,omitempty"`
}

// PlanBatch is one batch of a plan. Handoff marks the batch that holds the
// leader: leadership moves to another voter before it starts.
type PlanBatch struct {
	Nodes   []string `json:"nodes"`
	Handoff bool     `json:"handoff,omitempty"`
}

// Txn is a transaction as the API shows it. ProtocolVersion is the
// cluster's active protocol version as read, or, for a transaction that
// finalized, the version it finalized to.
type Txn struct {
	fsm.Txn
	ProtocolVersion int `json:"protocol_version"`
}

// AbortRequest asks to abort, optionally rolling back the steps done.
type AbortRequest struct {
	Rollback bool `json:"rollback,omitempty"`
}

// StepRequest is what the leader's coordinator sends a node to run.
type StepRequest struct {
	TxnID           string `json:"txn_id"`
	Node            string `json:"node"`
	Attempt         uint64 `json:"attempt"`
	TargetVersion   string `json:"target_version"`
	FromVersion     string `json:"from_version"`
	ArtifactURL     string `json:"artifact_url,omitempty"`
	ArtifactSHA256  string `json:"artifact_sha256,omitempty"`
	ProtocolVersion int    `json:"protocol_version"`
	Rollback        bool   `json:"rollback,omitempty"`
	// AllowLeader lets a one-voter cluster's leader run its own step.
	AllowLeader bool `json:"allow_leader,omitempty"`
}

// Step states a node reports for an attempt.
const (
	StepRunning = "running"
	StepDone    = "done"
	StepFailed  = "failed"
)

// StepStatus is a node's account of one attempt.
type StepStatus struct {
	TxnID   string `json:"txn_id"`
	Node    string `json:"node"`
	Attempt uint64 `json:"attempt"`
	State   string `json:"state"`
	Hook    string `json:"hook,omitempty"`
	Version string `json:"version,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Notice is a node's completion notice for an attempt: State is done or
// failed.
type Notice = StepStatus

// Diagnostic is a node's answer to the leader's probe before a handoff
// (S5: does it serve, is its log caught up; S4: how idle is it).
type Diagnostic struct {
	ID           string `json:"id"`
	Healthy      bool   `json:"healthy"`
	HealthError  string `json:"health_error,omitempty"`
	AppliedIndex uint64 `json:"applied_index"`
	Version      string `json:"version"`
	// Protocol is the range of protocol versions the node's running build
	// speaks (zero from builds that predate the field).
	Protocol fsm.ProtocolRange `json:"protocol"`
	IdleCPU  float64           `json:"idle_cpu"`
	IdleMem  float64           `json:"idle_mem"`
}
