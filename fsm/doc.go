// Package fsm is Baton's replicated state machine: the member catalogue, the
// cluster's active protocol version and the upgrade transactions.
//
// Every server applies the same committed log entries to the same State and
// must reach the same result, so this package must never read the clock, draw
// random numbers, depend on map iteration order or perform I/O inside Apply.
// Times arrive inside commands, stamped by the leader. Out-of-order or invalid
// commands are rejected with an error wrapping one of the sentinel errors
// (ErrInvalid, ErrConflict, ErrNotFound, ErrStale), and a rejected command
// leaves the state exactly as it was.
package fsm
