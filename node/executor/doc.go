// Package executor runs the steps the leader sends this node, each attempt
// exactly once, with the hooks from the node's local config.
//
// An upgrade step fetches and verifies the artifact (when one is given), then
// runs drain, install, restart, health and version; a rollback step runs
// rollback, then version. The step is done only when the version hook prints
// the step's target version. Every hook's begin is journaled before the
// process starts and its end after it exits, and Start answers a re-sent
// (txn, attempt) from the journal instead of running it again.
//
// After an agent restart, Resume continues every attempt the journal shows
// unfinished, from the last hook that began (earlier hooks are not run
// again). Install (and rollback) run at most once per attempt (I2): if one
// began and its end was never journaled, it is not started again; the
// executor waits for the old process if it still runs, then goes on with
// restart, health and version, and the version hook decides the outcome.
// Any other hook cut short is run again: a drain interrupted before install
// began runs a second time, so drain must be idempotent by contract, and so
// must restart and health.
//
// The executor never sends anything to the leader: it reports each finished
// attempt once through Options.OnFinish and keeps unacknowledged outcomes in
// the journal (Unacked) for the agent to resend. It must never run a command
// that did not come from the local config, and never run two steps at once.
package executor
