package journal

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
)

// Key identifies one attempt of one step. A node runs at most one step per
// transaction, so the transaction id and the attempt number are enough.
type Key struct {
	TxnID   string
	Attempt uint64
}

// String formats k as "txn/attempt" for logs and errors.
func (k Key) String() string {
	return fmt.Sprintf("%s/%d", k.TxnID, k.Attempt)
}

// encode gives keys that sort by transaction id, then numerically by
// attempt: the id, a NUL separator (ids may not contain NUL), then the
// attempt as 8 big-endian bytes.
func (k Key) encode() []byte {
	b := make([]byte, 0, len(k.TxnID)+1+8)
	b = append(b, k.TxnID...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint64(b, k.Attempt)
}

// Step is what the leader asked this node to do, as journaled; the
// executor runs it as it is. Rollback runs the rollback hook instead of the
// upgrade sequence, and TargetVersion is then the version to go back to.
type Step struct {
	TxnID          string
	Node           string
	Attempt        uint64
	TargetVersion  string
	FromVersion    string
	ArtifactURL    string
	ArtifactSHA256 string
	// ArtifactSources, for an artifact held by the cluster (no
	// ArtifactURL), are the servers to fetch it from.
	ArtifactSources []api.ArtifactSource `json:",omitempty"`
	ProtocolVersion int
	Rollback        bool
}

// Key returns the journal key of s.
func (s Step) Key() Key {
	return Key{TxnID: s.TxnID, Attempt: s.Attempt}
}

// finished reports whether an attempt in state s has ended. An attempt is
// api.StepRunning (begun and not finished; Resume continues it),
// api.StepDone (the version hook printed the target version) or
// api.StepFailed (a hook or a check failed; Error says which and why): the
// states the node reports on the wire, journaled under the same names.
func finished(s api.StepState) bool {
	return s == api.StepDone || s == api.StepFailed
}

// HookRun is the latest run of one hook within an attempt. A hook that is
// run again (health is polled; drain may be re-run after a restart) replaces
// its previous run and counts up Runs, so a record stays small.
type HookRun struct {
	Name string
	// Runs counts how many times the hook was begun in this attempt.
	Runs int
	// PID is the hook's process id, 0 until it has started.
	PID   int
	Began time.Time
	// Ended is zero while the hook runs, or when the agent died first.
	Ended    time.Time
	ExitCode int
	// Output is the last RecordOutputLimit bytes of the run's output; the
	// whole kept tail is in the attempt's logs (Journal.Logs).
	Output string
	// Error is empty when the hook succeeded.
	Error string
	// Interrupted marks a run whose outcome is unknown: the agent stopped
	// or died while it ran. Error then says what is known.
	Interrupted bool
}

// HasEnded reports whether the run's end was journaled.
func (h HookRun) HasEnded() bool {
	return !h.Ended.IsZero()
}

// Succeeded reports whether the run ended and is known to have exited 0.
func (h HookRun) Succeeded() bool {
	return h.HasEnded() && !h.Interrupted && h.Error == ""
}

// Outcome is how a hook run ended, as HookEnd records it.
type Outcome struct {
	ExitCode int
	// Output is the run's output tail (at most api.HookOutputLimit bytes
	// are kept) and Truncated says that earlier output was dropped.
	Output      string
	Truncated   bool
	Error       string
	Interrupted bool
}

// HookLog is what the latest run of one hook in an attempt printed: its
// standard output and error interleaved, the last api.HookOutputLimit bytes
// of it (less when the attempt's other runs fill MaxAttemptOutput), with
// when it began and ended and how it exited.
type HookLog struct {
	Hook string
	// Runs counts the runs of the hook in the attempt, as HookRun.Runs;
	// only the latest one's output is kept.
	Runs     int
	Began    time.Time
	Ended    time.Time
	ExitCode int
	Output   string
	// Truncated says that earlier output of the run was dropped.
	Truncated bool
}

// Record is everything journaled about one attempt.
type Record struct {
	Step Step
	// Seq orders records by the time Begin created them; pruning drops the
	// lowest first.
	Seq   uint64
	State api.StepState
	// Hooks holds the latest run of each hook, in the order first begun.
	Hooks   []HookRun
	Version string
	Error   string
	// CancelReason, when not empty, is why the leader asked this attempt
	// to stop (RequestCancel). An attempt with a reason never runs another
	// hook: the executor finishes it as cancelled, also after a restart.
	CancelReason string
	Acked        bool
	Began        time.Time
	Finished     time.Time
}

// Key returns the journal key of r.
func (r Record) Key() Key {
	return r.Step.Key()
}

// Hook returns the latest run of the named hook, if it was ever begun.
func (r Record) Hook(name string) (HookRun, bool) {
	if i := r.hookIndex(name); i >= 0 {
		return r.Hooks[i], true
	}
	return HookRun{}, false
}

func (r Record) hookIndex(name string) int {
	for i, h := range r.Hooks {
		if h.Name == name {
			return i
		}
	}
	return -1
}
