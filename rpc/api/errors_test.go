package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEveryCodeHasOneStatusAndOneSentinel(t *testing.T) {
	for _, tc := range []struct {
		code     ErrorCode
		status   int
		sentinel error
		applied  bool
	}{
		{CodeNoLeader, 503, ErrNoLeader, false},
		{CodeUnknownOutcome, 503, ErrUnknownOutcome, true},
		{CodeInvalid, 400, ErrInvalid, false},
		{CodeTooLarge, 413, ErrTooLarge, false},
		{CodeTooMany, 429, ErrTooManyRequests, false},
		{CodeUnauthorized, 401, ErrUnauthorized, false},
		{CodeForbidden, 403, ErrForbidden, false},
		{CodeNotFound, 404, ErrNotFound, false},
		{CodeConflict, 409, ErrConflict, false},
		{CodeStale, 409, ErrStale, false},
		{CodeInternal, 500, nil, true},
	} {
		require.Equal(t, tc.status, tc.code.Status(), tc.code)
		require.Equal(t, tc.applied, tc.code.Applied(), tc.code)
		err := fmt.Errorf("start: %w", &APIError{Status: tc.status, Code: tc.code, Message: "m"})
		require.Equal(t, tc.applied, Indeterminate(err), tc.code)
		if tc.sentinel != nil {
			require.ErrorIs(t, err, tc.sentinel, tc.code)
		}
		for _, other := range []error{ErrNoLeader, ErrUnknownOutcome, ErrTooLarge, ErrTooManyRequests, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrConflict, ErrStale} {
			if other != tc.sentinel {
				require.NotErrorIs(t, err, other, "%s answer matched %v", tc.code, other)
			}
		}
	}
	invalid := &APIError{Status: 400, Code: CodeInvalid}
	require.ErrorIs(t, invalid, ErrBadRequest)
}

// An answer without a code comes from a build that predates codes (or from
// a proxy): its status decides, and a bare 503, which such builds gave both
// when nothing was applied and when a write may have been, promises
// nothing.
func TestAnswerWithoutCodeIsReadByItsStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := map[string]int{"/409": 409, "/503": 503, "/404": 404, "/502": 502}[r.URL.Path]
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "old agent says no"})
	}))
	defer srv.Close()
	c := NewClient(srv.URL, "")
	for path, want := range map[string]error{"/409": ErrConflict, "/404": ErrNotFound, "/503": ErrUnknownOutcome} {
		_, err := c.Do(context.Background(), http.MethodPost, path, nil, nil, nil)
		require.ErrorIs(t, err, want, path)
		require.EqualError(t, err, "old agent says no")
	}
	_, err := c.Do(context.Background(), http.MethodPost, "/503", nil, nil, nil)
	require.NotErrorIs(t, err, ErrNoLeader)
	require.True(t, Indeterminate(err))
	_, err = c.Do(context.Background(), http.MethodPost, "/409", nil, nil, nil)
	require.False(t, Indeterminate(err))
	_, err = c.Do(context.Background(), http.MethodPost, "/502", nil, nil, nil)
	require.True(t, Indeterminate(err), "a gateway's error says nothing of the write")
}

func TestCallsWithoutAnAnswer(t *testing.T) {
	require.False(t, Indeterminate(nil))

	// Nobody listens: the request never left.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	_, err = NewClient(addr, "").Health(context.Background())
	require.ErrorIs(t, err, ErrUnreachable)
	require.False(t, Indeterminate(err), "a write that never left did not happen")

	// The agent took the request and hung up: it may have served it.
	mute := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	}))
	defer mute.Close()
	_, err = NewClient(mute.URL, "").StartUpgrade(context.Background(), StartRequest{TargetVersion: "2.0.0"})
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrUnreachable)
	require.True(t, Indeterminate(err))

	require.True(t, Indeterminate(errors.New("anything else")))
}
