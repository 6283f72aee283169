// Package journal is the node's durable record of the steps it was asked to
// run: one record per (transaction, attempt) holding the step, each hook's
// begin and end (pid, exit code, output tail), the final state and version,
// whether the leader asked the attempt to stop, and whether it has
// acknowledged the completion notice. Beside each record it keeps the
// attempt's hook logs: the last 64 KiB of each hook's output (the latest run
// of each hook), bounded per attempt and kept for the newest attempts only,
// in a bucket of their own so that reading records stays cheap.
//
// It is a bbolt file. Every write of a Journal method is fsync'd before it
// returns, so what it wrote survives a SIGKILL or a power loss; the
// executor writes an at-most-once hook's begin before starting it, which is
// what makes "install runs at most once per attempt" (invariant I2) hold
// across agent restarts, and keeps unacknowledged outcomes so a completion
// notice is never lost (I5). The writes of Deferred are checked and kept in
// memory, seen by every read, and committed in the same transaction as the
// next durable write: one fsync'd bbolt transaction covers them all. A
// crash loses the deferred writes made since the last durable one, never an
// earlier write and never a later one alone, so the file always holds a
// prefix of the writes in the order they were made. The executor's package
// doc says which of its records may be deferred, and why that is safe.
//
// The journal only records; it must never run a hook, decide what to run
// next, or overwrite a record: Begin for an existing (txn, attempt) returns
// that record untouched, and a finished record never changes state again.
package journal
