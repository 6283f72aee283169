package api

import "time"

// StepRequest is what the leader's coordinator sends a node to run
// (POST /v1/internal/steps).
type StepRequest struct {
	TxnID          string `json:"txn_id"`
	Node           string `json:"node"`
	Attempt        uint64 `json:"attempt"`
	TargetVersion  string `json:"target_version"`
	FromVersion    string `json:"from_version"`
	ArtifactURL    string `json:"artifact_url,omitempty"`
	ArtifactSHA256 string `json:"artifact_sha256,omitempty"`
	// ArtifactSources, for an artifact held by the cluster (no
	// ArtifactURL), are the servers that hold it, to fetch it from in
	// turn (protocol 3).
	ArtifactSources []ArtifactSource `json:"artifact_sources,omitempty"`
	ProtocolVersion int              `json:"protocol_version"`
	Rollback        bool             `json:"rollback,omitempty"`
	// AllowLeader lets a one-voter cluster's leader run its own step.
	AllowLeader bool `json:"allow_leader,omitempty"`
}

// StepStatus is a node's account of one attempt: State is StepRunning,
// StepDone or StepFailed; Hook names the hook running, Version what the
// version hook printed, Error why the attempt failed.
type StepStatus struct {
	TxnID   string    `json:"txn_id"`
	Node    string    `json:"node"`
	Attempt uint64    `json:"attempt"`
	State   StepState `json:"state"`
	Hook    string    `json:"hook,omitempty"`
	Version string    `json:"version,omitempty"`
	Error   string    `json:"error,omitempty"`
}

// Notice is a node's completion notice for an attempt
// (POST /v1/internal/notices): State is StepDone or StepFailed.
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
	Protocol ProtocolRange `json:"protocol"`
	IdleCPU  float64       `json:"idle_cpu"`
	IdleMem  float64       `json:"idle_mem"`
	// ServiceHooks lists the service-role hooks the node has (role,
	// promote, demote, follow, lag; protocol 3), so a switch-over can rule
	// a replica out before running any of them.
	ServiceHooks []string `json:"service_hooks,omitempty"`
}

// CancelRequest asks a node to stop an attempt (POST
// /v1/internal/steps/{txn}/{attempt}/cancel, protocol 3): the leader sends
// it when the step's deadline passes or the transaction is aborted.
type CancelRequest struct {
	// Reason is why, as the attempt's error will say ("step timed out
	// after 10m0s").
	Reason string `json:"reason"`
}

// HookOutput is what one run of a hook left: its standard output and error
// interleaved as written, the last HookOutputLimit bytes of it. A node keeps
// the latest run of each hook of an attempt (health is polled: its last
// poll). Ended is zero for a run that has not ended (it runs now, or the
// agent died while it ran); ExitCode and Output then say nothing yet.
type HookOutput struct {
	Hook     string    `json:"hook"`
	Began    time.Time `json:"began"`
	Ended    time.Time `json:"ended,omitzero"`
	ExitCode int       `json:"exit_code"`
	// Output is the tail of stdout and stderr together.
	Output string `json:"output"`
	// Truncated says that earlier output was dropped.
	Truncated bool `json:"truncated,omitempty"`
}

// HookOutputLimit is how much of each hook run's output a node keeps.
const HookOutputLimit = 64 << 10

// StepLogs is one attempt's hook output on one node (GET
// /v1/internal/steps/{txn}/logs on the node, protocol 3; gathered from
// every node by GET /v1/upgrades/{id}/logs). Error, when set, says why the
// node's logs could not be had (it is unreachable, say); Hooks is then
// empty.
type StepLogs struct {
	TxnID   string       `json:"txn_id"`
	Node    string       `json:"node"`
	Attempt uint64       `json:"attempt"`
	Hooks   []HookOutput `json:"hooks"`
	Error   string       `json:"error,omitempty"`
}
