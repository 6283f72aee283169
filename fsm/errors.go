package fsm

import (
	"errors"
	"fmt"
)

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
	// ErrUndecodable marks a log entry whose envelope or body this build
	// cannot decode. A leader only proposes what its own build encodes, so
	// on another replica it means a build that does not understand the log.
	ErrUndecodable = errors.New("undecodable log entry")
)

// HaltError is the error of an FSM that met a log entry it cannot apply
// (an unknown required command, a command of a protocol this build does
// not speak, an entry it cannot decode). Skipping it would leave this
// replica's state different from the others' without a word, so the FSM
// applies nothing from that entry on, refuses to snapshot, and the agent
// stops. Restarting the same build stops again at the same entry; a build
// that speaks the entry's protocol applies it and goes on.
type HaltError struct {
	// Index is the Raft index of the entry.
	Index uint64
	// Type is the entry's command type, empty when its envelope could not
	// be decoded.
	Type CommandType
	// Protocol is the protocol version the proposer encoded the entry at.
	Protocol int
	// Err says why it cannot be applied; it wraps ErrUnknownCommand or
	// ErrUndecodable.
	Err error
}

func (e *HaltError) Error() string {
	typ := string(e.Type)
	if typ == "" {
		typ = "undecodable"
	}
	return fmt.Sprintf("cannot apply log entry %d (%s, protocol %d): %v", e.Index, typ, e.Protocol, e.Err)
}

// Unwrap returns the reason.
func (e *HaltError) Unwrap() error { return e.Err }
