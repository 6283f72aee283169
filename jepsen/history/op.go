package history

import (
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
)

// Type is how an operation ended, in Jepsen's terms.
type Type string

// Operation outcomes. Fail is a definite failure: for a write, the cluster
// said (or the request never left, so it is sure) that nothing was applied.
// Info is a write whose outcome is unknown (api.Indeterminate: it timed
// out, leadership was lost while it committed, the agent failed): it may or
// may not have taken effect.
const (
	Invoke Type = "invoke"
	OK     Type = "ok"
	Fail   Type = "fail"
	Info   Type = "info"
)

// Operation kinds.
const (
	KindStart      = "start"
	KindPause      = "pause"
	KindResume     = "resume"
	KindRetry      = "retry"
	KindAbort      = "abort"
	KindRead       = "read"        // one transaction by id
	KindReadActive = "read-active" // the active transaction, if any
	KindList       = "list"        // every transaction kept
)

// Transports an operation goes through.
const (
	ViaAPI = "api"
	ViaCLI = "cli"
)

// Op is one client operation: what was asked, of which agent, when, and how
// it ended.
type Op struct {
	ID      int64  `json:"id"`
	Process string `json:"process"`
	Kind    string `json:"kind"`
	Via     string `json:"via"`
	Node    string `json:"node"`
	// Consistent marks a read sent with ?consistent=true (served by the
	// leader after a barrier): only these take part in the
	// linearizability check.
	Consistent bool `json:"consistent,omitempty"`
	// Txn is the transaction asked for; "" means the active one.
	Txn string `json:"txn,omitempty"`
	// Request holds a start's parameters.
	Request *StartParams `json:"request,omitempty"`

	Invoke   time.Time `json:"invoke"`
	Complete time.Time `json:"complete"`
	Type     Type      `json:"type"`
	// Status is the HTTP status of an API operation that got an answer,
	// or the exit status of a CLI command.
	Status int `json:"status,omitempty"`
	// Code is the error code of an API operation refused with one, or of a
	// CLI command whose message names one; it says whether a failed write
	// was applied (see api.Indeterminate).
	Code api.ErrorCode `json:"code,omitempty"`
	// Results holds what a successful operation returned: the started or
	// controlled transaction, the transaction read, or the list.
	Results []TxnView `json:"results,omitempty"`
	// Found is false for a successful read that found nothing (404).
	Found bool   `json:"found,omitempty"`
	Error string `json:"error,omitempty"`
}

// StartParams are the parameters of a start.
type StartParams struct {
	TargetVersion string `json:"target_version"`
	Strategy      string `json:"strategy"`
	MaxParallel   string `json:"max_parallel"`
	OnFailure     string `json:"on_failure"`
	// MaxLag is --max-lag (protocol 3), left out at 0.
	MaxLag uint64 `json:"max_lag,omitempty"`
}

// TxnView is the part of a transaction the checkers look at.
type TxnView struct {
	ID       string       `json:"id"`
	State    api.TxnState `json:"state"`
	Protocol int          `json:"protocol"`
}

// Result returns the first result, or the zero view.
func (o Op) Result() TxnView {
	if len(o.Results) == 0 {
		return TxnView{}
	}
	return o.Results[0]
}

// IsWrite reports whether the operation asks the cluster to change.
func (o Op) IsWrite() bool {
	switch o.Kind {
	case KindStart, KindPause, KindResume, KindRetry, KindAbort:
		return true
	}
	return false
}
