package api

// StepRequest is what the leader's coordinator sends a node to run
// (POST /v1/internal/steps).
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
}
