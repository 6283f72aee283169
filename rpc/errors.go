package rpc

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/baton-upgrade/baton/fsm"
)

// Errors of the API layer, beside those of the state machine.
var (
	// ErrNoLeader means no leader is known or reachable; nothing was applied.
	ErrNoLeader = errors.New("no leader")
	// ErrUnknownOutcome means leadership was lost or the deadline passed
	// while a write was committing: it may or may not have taken effect.
	ErrUnknownOutcome = errors.New("outcome unknown")
	// ErrBadRequest marks malformed input found by the API layer.
	ErrBadRequest = errors.New("bad request")
	// ErrUnauthorized means a write came without a token.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden means a write came with a wrong token.
	ErrForbidden = errors.New("forbidden")
)

// StatusOf maps an error to its HTTP status. It is the only place that does.
func StatusOf(err error) int {
	switch {
	case errors.Is(err, fsm.ErrInvalid), errors.Is(err, ErrBadRequest), errors.Is(err, fsm.ErrUnknownCommand):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, fsm.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, fsm.ErrConflict), errors.Is(err, fsm.ErrStale):
		return http.StatusConflict
	case errors.Is(err, ErrNoLeader), errors.Is(err, ErrUnknownOutcome):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// APIError is an error response as the client received it.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// Is lets callers test a client error against the sentinel errors, so code
// reads the same on both sides of the wire.
func (e *APIError) Is(target error) bool {
	switch e.Status {
	case http.StatusBadRequest:
		return target == ErrBadRequest || target == fsm.ErrInvalid
	case http.StatusUnauthorized:
		return target == ErrUnauthorized
	case http.StatusForbidden:
		return target == ErrForbidden
	case http.StatusNotFound:
		return target == fsm.ErrNotFound
	case http.StatusConflict:
		return target == fsm.ErrConflict
	case http.StatusServiceUnavailable:
		return target == ErrNoLeader
	}
	return false
}

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadRequest}, args...)...)
}
