package executor

import (
	"fmt"

	"github.com/baton-upgrade/baton/node/journal"
)

// HookLog is what the latest run of one hook of an attempt printed, with
// when it began and ended; Ended is zero for a run that has not ended (it
// runs now, or the agent died while it ran).
type HookLog = journal.HookLog

// AttemptLogs is the hook output of one attempt on this node.
type AttemptLogs struct {
	TxnID   string
	Attempt uint64
	// Hooks holds the latest run of each hook begun, in the order the
	// hooks first began.
	Hooks []HookLog
}

// Logs returns the hook output of every attempt of transaction txnID this
// node's journal holds, in attempt order; none for a transaction it never
// ran a step of. Each hook the journal shows begun is listed, with its
// output once its run has ended. It fails only when the journal cannot be
// read.
func (e *Executor) Logs(txnID string) ([]AttemptLogs, error) {
	recs, err := e.opts.Journal.Attempts(txnID)
	if err != nil {
		return nil, fmt.Errorf("step logs of %s: %w", txnID, err)
	}
	out := make([]AttemptLogs, 0, len(recs))
	for _, rec := range recs {
		logs, err := e.opts.Journal.Logs(rec.Key())
		if err != nil {
			return nil, fmt.Errorf("step logs of %s: %w", txnID, err)
		}
		out = append(out, AttemptLogs{TxnID: rec.Step.TxnID, Attempt: rec.Step.Attempt, Hooks: merge(rec.Hooks, logs)})
	}
	return out, nil
}

// merge lists each hook run of a record with its log: the log when it is of
// the same run, else the run's begin alone (it has not ended, or its logs
// were pruned).
func merge(runs []journal.HookRun, logs []HookLog) []HookLog {
	byHook := make(map[string]HookLog, len(logs))
	for _, l := range logs {
		byHook[l.Hook] = l
	}
	out := make([]HookLog, 0, len(runs))
	for _, run := range runs {
		if l, ok := byHook[run.Name]; ok && l.Runs == run.Runs && run.HasEnded() {
			out = append(out, l)
			continue
		}
		l := HookLog{Hook: run.Name, Runs: run.Runs, Began: run.Began}
		if run.HasEnded() {
			// Logs pruned: the record's short tail is all there is.
			l.Ended, l.ExitCode, l.Output = run.Ended, run.ExitCode, run.Output
			l.Truncated = run.Output != "" || run.ExitCode != 0
		}
		out = append(out, l)
	}
	return out
}
