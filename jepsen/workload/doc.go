// Package workload is the chaos suite's clients: concurrent processes that
// start, pause, resume, retry, abort and read upgrade transactions through
// the API (typed client) and the CLI (the baton binary), each operation
// recorded with its invocation and completion as ok, fail (definitely not
// done) or info (outcome unknown: a timed-out or failed write may still
// have happened). It also holds the settler, which brings every
// transaction to an end once the faults have healed.
//
// A client only ever talks to the cluster's agents; every loop stops with
// its context, and every call has a deadline.
package workload
