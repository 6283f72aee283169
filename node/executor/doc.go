// Package executor runs the steps the leader sends this node, each attempt
// exactly once, with the hooks from the node's local config.
//
// A step runs these phases; the step is done only when the version hook
// prints the step's target version:
//
//	phase  upgrade step       rollback step      runs
//	1      (artifact fetch)   -                  when the transaction names one; skipped once install began
//	2      drain              drain              again after a restart that cut it short: idempotent
//	3      install            rollback           at most once per attempt (I2), even across restarts
//	4      restart            restart            again after a restart that cut it short: idempotent
//	5      health             health             polled every HealthInterval until it passes or its timeout ends
//	6      version            version            once; its output decides the step
//
// A rollback step is an upgrade step with the versions' roles swapped: its
// TargetVersion (BATON_TARGET_VERSION) is the version rolled back to, the
// one the node ran before the transaction, and its FromVersion
// (BATON_FROM_VERSION) the version rolled back from; the rollback hook takes
// install's place. Every hook's begin is journaled before the process
// starts and its end after it exits, with its output tail (the logs, see
// Logs), and Start answers a re-sent (txn, attempt) from the journal
// instead of running it again.
//
// After an agent restart, Resume continues every attempt the journal shows
// unfinished, from the last hook that began (earlier hooks are not run
// again). Install and rollback run at most once per attempt (I2): if one
// began and its end was never journaled, it is not started again; the
// executor waits for the old process if it still runs, then goes on with
// restart, health and version, and the version hook decides the outcome.
// Any other hook cut short is run again: a drain interrupted before install
// began runs a second time, so drain must be idempotent by contract, and so
// must restart and health.
//
// Cancel stops an attempt the leader gave up on (its deadline passed, its
// transaction was aborted): the cancel is journaled, the running hook's
// process group gets SIGTERM and, after a grace period, SIGKILL, no further
// hook starts, and the attempt ends failed with "cancelled: <reason>". An
// install the cancel cut is never run again for that attempt, and a
// cancelled attempt is never continued by Resume: what the previous process
// left running of it is stopped, and the attempt finishes as cancelled.
//
// The executor never sends anything to the leader: it reports each finished
// attempt once through Options.OnFinish and keeps unacknowledged outcomes in
// the journal (Unacked) for the agent to resend. It must never run a command
// that did not come from the local config, and never run two steps at once.
package executor
