package api

import (
	"errors"
	"net/http"
)

// The sentinel errors a client branches on. An error answer from an agent
// is an *APIError whose Is matches the sentinel of its code, so
// errors.Is(err, api.ErrConflict) reads the same on both sides of the wire.
//
// Whether a refused write took effect:
//   - nothing was applied: ErrNoLeader, ErrInvalid, ErrBadRequest,
//     ErrTooLarge, ErrTooManyRequests, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrConflict and ErrStale,
//     and ErrUnreachable (no connection could be opened); the write may be
//     sent again as it is, or changed.
//   - it may have been applied: ErrUnknownOutcome, an internal error, and
//     any call that got no answer after its request may have left (a
//     timeout, a connection cut). Indeterminate reports these: read the
//     state (a consistent read) before deciding whether to send it again.
var (
	// ErrNoLeader means no leader was known or reachable, or leadership
	// moved before the write was proposed: nothing was applied.
	ErrNoLeader = errors.New("no leader")
	// ErrUnknownOutcome means leadership was lost or the deadline passed
	// while a write was committing: it may or may not have taken effect.
	ErrUnknownOutcome = errors.New("outcome unknown")
	// ErrInvalid means the request's content is malformed or out of range;
	// nothing was applied.
	ErrInvalid = errors.New("invalid")
	// ErrBadRequest means the request itself was malformed (its JSON, a
	// query parameter); nothing was applied. Its code is CodeInvalid, so an
	// answer with that code matches both ErrBadRequest and ErrInvalid.
	ErrBadRequest = errors.New("bad request")
	// ErrTooLarge means the request's body was over the agent's limit
	// (1 MiB); the agent stopped reading it and nothing was applied.
	ErrTooLarge = errors.New("request body too large")
	// ErrTooManyRequests means the agent refused the connection: its
	// client already had as many open as the agent allows
	// (--http-max-conns-per-client); nothing was applied.
	ErrTooManyRequests = errors.New("too many connections")
	// ErrUnauthorized means a write came without a token; nothing was
	// applied.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden means a write came with a token the agent does not
	// accept; nothing was applied.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound means the request named a member, transaction, attempt or
	// route that does not exist; nothing was applied.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the request contradicts the current state, such as
	// a second active transaction or a pause of a transaction that is not
	// running; nothing was applied.
	ErrConflict = errors.New("conflict")
	// ErrStale means the request arrived out of order: a notice for an
	// attempt that is no longer current, a step begin after an abort;
	// nothing was applied.
	ErrStale = errors.New("stale")
)

// ErrorCode is the machine-readable meaning of an error answer, carried in
// ErrorBody.Code. Each code has one HTTP status (Status).
type ErrorCode string

// Error codes.
const (
	CodeNoLeader       ErrorCode = "no_leader"         // 503; nothing applied
	CodeUnknownOutcome ErrorCode = "unknown_outcome"   // 503; may have been applied
	CodeInvalid        ErrorCode = "invalid"           // 400; nothing applied
	CodeTooLarge       ErrorCode = "too_large"         // 413; nothing applied
	CodeTooMany        ErrorCode = "too_many_requests" // 429; nothing applied
	CodeUnauthorized   ErrorCode = "unauthorized"      // 401; nothing applied
	CodeForbidden      ErrorCode = "forbidden"         // 403; nothing applied
	CodeNotFound       ErrorCode = "not_found"         // 404; nothing applied
	CodeConflict       ErrorCode = "conflict"          // 409; nothing applied
	CodeStale          ErrorCode = "stale"             // 409; nothing applied
	CodeInternal       ErrorCode = "internal"          // 500; may have been applied
)

// Status is the HTTP status an agent answers with for code c; 500 for a
// code it does not know.
func (c ErrorCode) Status() int {
	switch c {
	case CodeInvalid:
		return http.StatusBadRequest
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeTooMany:
		return http.StatusTooManyRequests
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeNotFound:
		return http.StatusNotFound
	case CodeConflict, CodeStale:
		return http.StatusConflict
	case CodeNoLeader, CodeUnknownOutcome:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Applied reports whether a write refused with code c may have taken
// effect: false only for the codes that mean nothing was applied.
func (c ErrorCode) Applied() bool {
	switch c {
	case CodeNoLeader, CodeInvalid, CodeTooLarge, CodeTooMany, CodeUnauthorized, CodeForbidden, CodeNotFound, CodeConflict, CodeStale:
		return false
	}
	return true
}

// codeOfStatus reads the meaning of an answer without a code (from a build
// that predates codes, or from a proxy in between). Such builds answered
// 503 both when nothing was applied and when a write may have been, so a
// bare 503 is read as the one that promises less: CodeUnknownOutcome.
func codeOfStatus(status int) ErrorCode {
	switch status {
	case http.StatusBadRequest:
		return CodeInvalid
	case http.StatusRequestEntityTooLarge:
		return CodeTooLarge
	case http.StatusTooManyRequests:
		return CodeTooMany
	case http.StatusUnauthorized:
		return CodeUnauthorized
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusConflict:
		return CodeConflict
	case http.StatusServiceUnavailable:
		return CodeUnknownOutcome
	}
	return CodeInternal
}

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error string    `json:"error"`
	Code  ErrorCode `json:"code,omitempty"`
}

// APIError is an error answer as the client received it. Code is the
// answer's code, or, for an answer without one, the code its Status
// implies.
type APIError struct {
	Status  int
	Code    ErrorCode
	Message string
}

// Error returns the agent's message.
func (e *APIError) Error() string { return e.Message }

// Is matches the sentinel errors of e's code, so callers test a client
// error with errors.Is against the sentinels above.
func (e *APIError) Is(target error) bool {
	code := e.Code
	if code == "" {
		code = codeOfStatus(e.Status)
	}
	switch code {
	case CodeNoLeader:
		return target == ErrNoLeader
	case CodeUnknownOutcome:
		return target == ErrUnknownOutcome
	case CodeInvalid:
		return target == ErrInvalid || target == ErrBadRequest
	case CodeTooLarge:
		return target == ErrTooLarge
	case CodeTooMany:
		return target == ErrTooManyRequests
	case CodeUnauthorized:
		return target == ErrUnauthorized
	case CodeForbidden:
		return target == ErrForbidden
	case CodeNotFound:
		return target == ErrNotFound
	case CodeConflict:
		return target == ErrConflict
	case CodeStale:
		return target == ErrStale
	}
	return false
}

// Indeterminate reports whether a write that returned err may have taken
// effect: true for an unknown outcome, an internal error, and any failure
// to get an answer after the request may have left (a timeout, a connection
// cut: the agent may have served it). It is false for nil, for ErrUnreachable
// (the request never left) and for answers whose code says nothing was
// applied (see the sentinel errors).
func Indeterminate(err error) bool {
	if err == nil || errors.Is(err, ErrUnreachable) {
		return false
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		return true
	}
	code := apiErr.Code
	if code == "" {
		code = codeOfStatus(apiErr.Status)
	}
	return code.Applied()
}
