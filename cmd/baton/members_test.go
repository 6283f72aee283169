package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// memberAgent is a fake agent for the member and operator commands: it
// answers each route from a handler the test sets, and records the
// requests.
type memberAgent struct {
	mu       sync.Mutex
	requests []string // "METHOD PATH?QUERY"
	routes   map[string]func(w http.ResponseWriter, r *http.Request)
}

func newMemberAgent(t *testing.T) *memberAgent {
	a := &memberAgent{routes: map[string]func(http.ResponseWriter, *http.Request){}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.requests = append(a.requests, r.Method+" "+r.URL.RequestURI())
		h := a.routes[r.Method+" "+r.URL.Path]
		a.mu.Unlock()
		if h == nil {
			writeTestJSON(w, http.StatusNotFound, api.ErrorBody{Error: "not found: no route", Code: api.CodeNotFound})
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("BATON_ADDR", srv.URL)
	t.Setenv("BATON_TOKEN", "")
	return a
}

func (a *memberAgent) handle(route string, status int, body any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.routes[route] = func(w http.ResponseWriter, r *http.Request) { writeTestJSON(w, status, body) }
}

func (a *memberAgent) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.requests...)
}

func writeTestJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func TestMembersRemove(t *testing.T) {
	a := newMemberAgent(t)
	a.handle("DELETE /v1/members/n3", http.StatusOK, api.RemoveResponse{Removed: "n3", Forced: true, FailedStepIn: "t-1"})
	code, out, errOut := runBaton(t, "members", "remove", "n3", "--force")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "removed n3\nits unfinished step in transaction t-1 failed: member n3 was removed\n", out)
	require.Equal(t, []string{"DELETE /v1/members/n3?force=true"}, a.seen())

	a.handle("DELETE /v1/members/n2", http.StatusOK, api.RemoveResponse{Removed: "n2"})
	code, out, _ = runBaton(t, "members", "remove", "--json", "n2")
	require.Equal(t, 0, code)
	var got api.RemoveResponse
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, api.RemoveResponse{Removed: "n2"}, got)
	require.Equal(t, "DELETE /v1/members/n2", a.seen()[1], "no force unless asked")
}

func TestMembersRemoveRefusalExits1WithTheMessage(t *testing.T) {
	a := newMemberAgent(t)
	msg := "conflict: member n3 is unreachable since 12:00:00Z: remove it with --force, which also fails its unfinished step"
	a.handle("DELETE /v1/members/n3", http.StatusConflict, api.ErrorBody{Error: msg, Code: api.CodeConflict})
	code, out, errOut := runBaton(t, "members", "remove", "n3")
	require.Equal(t, 1, code)
	require.Empty(t, out)
	require.Equal(t, "baton: "+msg+"\n", errOut)
}

func TestMembersRemoveUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"members", "remove"},
		{"members", "remove", "n1", "n2"},
		{"members", "remove", "-bad id"},
		{"members", "remove", "n1", "--force=maybe"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			a := newMemberAgent(t)
			code, _, errOut := runBaton(t, args...)
			require.Equal(t, 2, code, errOut)
			require.Empty(t, a.seen())
		})
	}
}
