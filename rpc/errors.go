package rpc

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
)

// codeOf gives an error its meaning on the wire. It is the only place that
// does: the state machine's sentinels, the API's own (which the agent's
// Raft layer and this package wrap), and an *api.APIError a handler passes
// on from another agent all become one api.ErrorCode, and the code decides
// the HTTP status. An error that may have been applied wins over one that
// was not, should an error ever wrap both.
func codeOf(err error) api.ErrorCode {
	switch {
	case errors.Is(err, api.ErrUnknownOutcome):
		return api.CodeUnknownOutcome
	case errors.Is(err, api.ErrNoLeader):
		return api.CodeNoLeader
	case errors.Is(err, fsm.ErrInvalid), errors.Is(err, fsm.ErrUnknownCommand),
		errors.Is(err, api.ErrInvalid), errors.Is(err, api.ErrBadRequest):
		return api.CodeInvalid
	case errors.Is(err, api.ErrTooLarge):
		return api.CodeTooLarge
	case errors.Is(err, api.ErrTooManyRequests):
		return api.CodeTooMany
	case errors.Is(err, api.ErrUnauthorized):
		return api.CodeUnauthorized
	case errors.Is(err, api.ErrForbidden):
		return api.CodeForbidden
	case errors.Is(err, fsm.ErrNotFound), errors.Is(err, api.ErrNotFound):
		return api.CodeNotFound
	case errors.Is(err, fsm.ErrStale), errors.Is(err, api.ErrStale):
		return api.CodeStale
	case errors.Is(err, fsm.ErrConflict), errors.Is(err, api.ErrConflict):
		return api.CodeConflict
	}
	return api.CodeInternal
}

// StatusOf maps an error to its HTTP status, through its code.
func StatusOf(err error) int { return codeOf(err).Status() }

// writeError answers with err's status, message and code.
func writeError(w http.ResponseWriter, err error) {
	code := codeOf(err)
	writeJSON(w, code.Status(), api.ErrorBody{Error: err.Error(), Code: code})
}

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{api.ErrBadRequest}, args...)...)
}

// bodyError gives an error reading a request's body its meaning: a body
// over maxBody (http.MaxBytesReader's error) is ErrTooLarge, 413, and
// anything else a bad request.
func bodyError(err error) error {
	if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return fmt.Errorf("%w: the body is over the limit of %d bytes", api.ErrTooLarge, mbe.Limit)
	}
	return badRequest("read body: %v", err)
}
