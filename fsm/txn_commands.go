package fsm

// Transaction command types.
const (
	CmdTxnStart     CommandType = "txn.start"
	CmdStepBegin    CommandType = "step.begin"
	CmdStepComplete CommandType = "step.complete" // the completion notice
	CmdStepFail     CommandType = "step.fail"
	CmdTxnPause     CommandType = "txn.pause"
	CmdTxnResume    CommandType = "txn.resume"
	CmdTxnRetry     CommandType = "txn.retry"
	CmdTxnAbort     CommandType = "txn.abort"
	CmdTxnFinish    CommandType = "txn.finish"
	CmdTxnFinalize  CommandType = "txn.finalize"
	CmdTxnNote      CommandType = "txn.note"
	// CmdStepSkip is new in protocol 3: a step whose node already runs the
	// target is done without running anything.
	CmdStepSkip CommandType = "step.skip"
	// CmdTxnHalt is new in protocol 3: an aborting transaction whose
	// rollback failed on some nodes halts as rollback-failed.
	CmdTxnHalt CommandType = "txn.halt"
	// CmdTxnRecover is new in protocol 3: an operator takes a
	// rollback-failed transaction on, retrying the rollback or rolling
	// forward.
	CmdTxnRecover CommandType = "txn.recover"
)

// TxnStart creates a transaction with its steps already ordered and cut
// into batches by the leader.
type TxnStart struct {
	Txn Txn `json:"txn"`
}

// StepBegin is the write-ahead intent to run attempt Attempt of node's step;
// it must commit before the step is sent to the node.
type StepBegin struct {
	TxnID    string `json:"txn_id"`
	Node     string `json:"node"`
	Attempt  uint64 `json:"attempt"`
	Rollback bool   `json:"rollback,omitempty"`
}

// StepComplete is a node's completion notice: attempt Attempt of its step
// finished and the node now runs Version.
type StepComplete struct {
	TxnID   string `json:"txn_id"`
	Node    string `json:"node"`
	Attempt uint64 `json:"attempt"`
	Version string `json:"version"`
}

// StepFail records that attempt Attempt of node's step failed.
type StepFail struct {
	TxnID   string `json:"txn_id"`
	Node    string `json:"node"`
	Attempt uint64 `json:"attempt"`
	Error   string `json:"error"`
}

// TxnControl names a transaction for pause, resume, retry and note.
type TxnControl struct {
	TxnID  string `json:"txn_id"`
	Reason string `json:"reason,omitempty"`
}

// TxnAbort ends a transaction early; with Rollback the steps already done
// are rolled back first.
type TxnAbort struct {
	TxnID    string `json:"txn_id"`
	Rollback bool   `json:"rollback,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// TxnFinish ends an aborting transaction once no step runs any more.
type TxnFinish struct {
	TxnID  string `json:"txn_id"`
	Reason string `json:"reason,omitempty"`
}

// TxnFinalize ends a transaction whose steps are all done, raising the
// cluster's active protocol version to ProtocolVersion.
type TxnFinalize struct {
	TxnID           string `json:"txn_id"`
	ProtocolVersion int    `json:"protocol_version"`
}

// StepSkip marks node's pending step done without running it, because the
// node already runs the transaction's target version (protocol 3). The
// state machine checks that against the catalogue itself.
type StepSkip struct {
	TxnID string `json:"txn_id"`
	Node  string `json:"node"`
}

// TxnRecover takes a rollback-failed transaction on again (protocol 3):
// with Rollback it retries the rollbacks that failed; without, it rolls
// forward, upgrading again every node whose step is not done.
type TxnRecover struct {
	TxnID    string `json:"txn_id"`
	Rollback bool   `json:"rollback,omitempty"`
}
