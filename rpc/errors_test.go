package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// errorMeanings is every error a handler may fail with, with what it must
// mean on the wire: the status, the code, the sentinel a client matches,
// and whether the write may have been applied.
var errorMeanings = []struct {
	err       error
	status    int
	code      api.ErrorCode
	sentinel  error
	maybeDone bool
}{
	{fsm.ErrInvalid, 400, api.CodeInvalid, api.ErrInvalid, false},
	{fsm.ErrUnknownCommand, 400, api.CodeInvalid, api.ErrInvalid, false},
	{api.ErrBadRequest, 400, api.CodeInvalid, api.ErrBadRequest, false},
	{api.ErrTooLarge, 413, api.CodeTooLarge, api.ErrTooLarge, false},
	{api.ErrTooManyRequests, 429, api.CodeTooMany, api.ErrTooManyRequests, false},
	{api.ErrUnauthorized, 401, api.CodeUnauthorized, api.ErrUnauthorized, false},
	{api.ErrForbidden, 403, api.CodeForbidden, api.ErrForbidden, false},
	{fsm.ErrNotFound, 404, api.CodeNotFound, api.ErrNotFound, false},
	{fsm.ErrConflict, 409, api.CodeConflict, api.ErrConflict, false},
	{fsm.ErrStale, 409, api.CodeStale, api.ErrStale, false},
	{api.ErrNoLeader, 503, api.CodeNoLeader, api.ErrNoLeader, false},
	{api.ErrUnknownOutcome, 503, api.CodeUnknownOutcome, api.ErrUnknownOutcome, true},
	{errors.New("disk on fire"), 500, api.CodeInternal, nil, true},
}

// allSentinels are the errors a client branches on.
var allSentinels = []error{api.ErrInvalid, api.ErrBadRequest, api.ErrTooLarge, api.ErrTooManyRequests, api.ErrUnauthorized, api.ErrForbidden, api.ErrNotFound,
	api.ErrConflict, api.ErrStale, api.ErrNoLeader, api.ErrUnknownOutcome}

// requireMeaning checks that a client-side error carries exactly the
// meaning the server gave it.
func requireMeaning(t *testing.T, err error, status int, code api.ErrorCode, sentinel error, maybeDone bool) {
	t.Helper()
	var apiErr *api.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, status, apiErr.Status)
	require.Equal(t, code, apiErr.Code)
	for _, s := range allSentinels {
		want := s == sentinel || sentinel == api.ErrInvalid && s == api.ErrBadRequest ||
			sentinel == api.ErrBadRequest && s == api.ErrInvalid
		require.Equal(t, want, errors.Is(err, s), "errors.Is(%q answer, %v)", code, s)
	}
	require.Equal(t, maybeDone, api.Indeterminate(err), "Indeterminate(%q answer)", code)
}

func TestEachErrorHasItsOwnCodeAndStatus(t *testing.T) {
	for _, m := range errorMeanings {
		err := fmt.Errorf("apply txn.pause: %w: more context", m.err)
		require.Equal(t, m.code, codeOf(err), "%v", m.err)
		require.Equal(t, m.status, StatusOf(err), "%v", m.err)
	}
}

// An error answer keeps its meaning across a real HTTP round trip, asked of
// the leader or of a follower that forwards the write to it.
func TestErrorCodesSurviveHTTP(t *testing.T) {
	leader, _, lsrv, fsrv := pair(t, "")
	for _, m := range errorMeanings {
		leader.joinErr = fmt.Errorf("join n3: %w: the detail", m.err)
		for via, url := range map[string]string{"leader": lsrv.URL, "follower": fsrv.URL} {
			t.Run(fmt.Sprintf("%s via %s", m.code, via), func(t *testing.T) {
				_, err := api.NewClient(url, "").Join(context.Background(), JoinRequestOut(member("n3", 7000)))
				requireMeaning(t, err, m.status, m.code, m.sentinel, m.maybeDone)
				require.Contains(t, err.Error(), "the detail")
			})
		}
	}
	require.Empty(t, leader.joins)
}

func TestBadInputAndTokensAnswerTheirCodes(t *testing.T) {
	_, _, lsrv, fsrv := pair(t, "tok")
	for _, url := range []string{lsrv.URL, fsrv.URL} {
		_, err := api.NewClient(url, "").Join(context.Background(), JoinRequestOut(member("n3", 7000)))
		requireMeaning(t, err, 401, api.CodeUnauthorized, api.ErrUnauthorized, false)
		_, err = api.NewClient(url, "wrong").Join(context.Background(), JoinRequestOut(member("n3", 7000)))
		requireMeaning(t, err, 403, api.CodeForbidden, api.ErrForbidden, false)
		_, err = api.NewClient(url, "tok").Join(context.Background(), api.JoinRequest{ID: "n3"})
		requireMeaning(t, err, 400, api.CodeInvalid, api.ErrInvalid, false)
		_, err = api.NewClient(url, "tok").Do(context.Background(), http.MethodPost, "/v1/members", nil,
			map[string]string{"id": "n3", "role": "primary"}, nil)
		requireMeaning(t, err, 400, api.CodeInvalid, api.ErrBadRequest, false)
		_, _, err = api.NewClient(url, "tok").Upgrade(context.Background(), "t-9", api.Wait{})
		requireMeaning(t, err, 404, api.CodeNotFound, api.ErrNotFound, false)
	}
}

func TestForwardedRequestIsNotForwardedAgainAndNothingApplied(t *testing.T) {
	_, follower, _, fsrv := pair(t, "")
	follower.mu.Lock()
	follower.leader = "n9" // it believes someone else leads
	follower.mu.Unlock()
	req, _ := http.NewRequest(http.MethodPost, fsrv.URL+"/v1/members", strings.NewReader(`{}`))
	req.Header.Set(api.ForwardedHeader, "n1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	var body api.ErrorBody
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, api.CodeNoLeader, body.Code)
}

// A follower that cannot open a connection to the leader sent nothing: no
// leader. One whose forwarded write got no answer cannot know whether the
// leader committed it: outcome unknown. A read is no leader either way.
func TestForwardingFailureSaysWhetherTheWriteMayHaveHappened(t *testing.T) {
	_, follower, _, fsrv := pair(t, "")

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := closed.Addr().String()
	require.NoError(t, closed.Close())

	mute := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // the request arrived; no answer leaves
		}
	}))
	t.Cleanup(mute.Close)

	for _, tc := range []struct {
		leaderAddr string
		write      bool
		code       api.ErrorCode
		sentinel   error
		maybeDone  bool
	}{
		{closedAddr, true, api.CodeNoLeader, api.ErrNoLeader, false},
		{strings.TrimPrefix(mute.URL, "http://"), true, api.CodeUnknownOutcome, api.ErrUnknownOutcome, true},
		{strings.TrimPrefix(mute.URL, "http://"), false, api.CodeNoLeader, api.ErrNoLeader, false},
	} {
		follower.mu.Lock()
		follower.leader = "n9"
		follower.addrs["n9"] = tc.leaderAddr
		follower.mu.Unlock()
		c := api.NewClient(fsrv.URL, "")
		if tc.write {
			_, err = c.Join(context.Background(), JoinRequestOut(member("n3", 7000)))
		} else {
			_, err = c.Do(context.Background(), http.MethodGet, "/v1/members", url.Values{"consistent": {"true"}}, nil, nil)
		}
		requireMeaning(t, err, 503, tc.code, tc.sentinel, tc.maybeDone)
	}
	require.Empty(t, follower.joins)
}
