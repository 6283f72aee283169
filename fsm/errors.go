package fsm

import "errors"

// Sentinel errors that callers branch on. Errors returned by Apply wrap one of
// them; the API maps each to one HTTP status.
var (
	// ErrInvalid marks a command whose content is malformed or out of range.
	ErrInvalid = errors.New("invalid")
	// ErrConflict marks a command that contradicts the current state, such as
	// a member id already taken by another address or a second active
	// transaction.
	ErrConflict = errors.New("conflict")
	// ErrNotFound marks a command naming a member or transaction that does
	// not exist.
	ErrNotFound = errors.New("not found")
	// ErrStale marks a command that arrived out of order: a notice for an
	// attempt that is no longer current, a step begin after an abort.
	ErrStale = errors.New("stale")
	// ErrUnknownCommand marks a required command type this build cannot apply.
	ErrUnknownCommand = errors.New("unknown command type")
)
