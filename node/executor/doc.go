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
// # What is durable
//
// Only what a resume needs is fsync'd before the executor goes on; the
// other records are deferred (journal.Deferred) and reach the disk in the
// same bbolt transaction as the next fsync'd one. A no-op step writes 17
// records in 5 fsync'd transactions:
//
//	record                                   written   a crash just after it leaves
//	the attempt (Start)                      fsync'd   the attempt, running: Resume runs it from drain
//	drain, restart, health, version:         deferred  the last fsync'd record: the hook runs again
//	  begin, pid, end                                  (idempotent), or the version hook runs again
//	install (rollback) begin                 fsync'd   install begun, no pid: never started again; the
//	                                                   version hook decides (the process may not exist)
//	install pid                              fsync'd   install begun with its pid: Resume waits for that
//	                                                   process to exit, then restart, health, version
//	install end                              fsync'd   install ended: its failure fails the step, its
//	                                                   success goes on with restart
//	the outcome (done or failed)             fsync'd   the outcome, not acknowledged: the notice is sent
//	                                                   (again) until the leader acknowledges it (I5)
//	the notice acknowledged (MarkAcked)      deferred  the outcome unacknowledged: the notice is sent
//	                                                   again; the leader accepts a repeat without effect
//	the cancel (Cancel)                      fsync'd   a cancelled attempt: Resume stops what is left of
//	                                                   it and finishes it as cancelled
//
// The fsyncs are where a crash between one and the next would break a
// promise: install's begin must be on disk before its process starts (or a
// restart would run it again: I2); its pid before anything else, so that a
// restart waits for a process that outlived the agent (a kill -9 leaves it
// running) rather than restart the service under it; its end so that a
// known failure is not turned into "unknown, let the version hook decide";
// the outcome before it is reported, so that a resume cannot contradict a
// notice the leader acted on. A deferred record that a crash loses is only
// ever one a resume can do without: the file holds the writes in order up
// to the last fsync'd one, so a resume sees, at worst, an idempotent hook
// (drain, restart, health, version) as not begun or not ended and runs it
// again. A power loss kills the hooks too, so a lost pid of those hooks
// leaves nothing to wait for; after a kill -9, a drain, restart or health
// left running may overlap its re-run, as it always could (only install
// and rollback are waited for). The crash tests (crash_test.go) kill a real
// process after each of the 17 writes and from inside each hook, and check
// that install ran at most once and that the attempt ends done exactly when
// the node runs the target.
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
