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

func lagOf(n uint64) *uint64 { return &n }

func TestOperatorRaftWithALeader(t *testing.T) {
	a := newMemberAgent(t)
	rep := api.RaftReport{Observer: "n2", Leader: "n1", Term: 4, LeaderLastIndex: 42, Voters: 2, Quorum: 2, Servers: []api.RaftServer{
		{ID: "n1", Address: "127.0.0.1:7001", Suffrage: api.SuffrageVoter, Leader: true, Status: api.MemberAlive, Reachable: true,
			RaftState: "Leader", LastContact: "0s", LastIndex: 42, AppliedIndex: 42, Lag: lagOf(0)},
		{ID: "n2", Address: "127.0.0.1:7002", Suffrage: api.SuffrageVoter, Status: api.MemberAlive, Reachable: true,
			RaftState: "Follower", LastContact: "12ms", LastIndex: 40, AppliedIndex: 40, Lag: lagOf(2)},
		{ID: "n3", Address: "127.0.0.1:7003", Suffrage: api.SuffrageNonvoter, Status: api.MemberUnreachable,
			Error: "connection refused"},
	}}
	a.handle("GET /v1/operator/raft", http.StatusOK, rep)
	code, out, errOut := runBaton(t, "operator", "raft")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.Regexp(t, `^ID\s+ADDRESS\s+SUFFRAGE\s+STATE\s+STATUS\s+LAST CONTACT\s+LAST INDEX\s+LAG$`, lines[0])
	require.Regexp(t, `^n1\s+127.0.0.1:7001\s+voter\s+leader\s+alive\s+0s\s+42\s+0$`, lines[1])
	require.Regexp(t, `^n2\s+127.0.0.1:7002\s+voter\s+follower\s+alive\s+12ms\s+40\s+2$`, lines[2])
	require.Regexp(t, `^n3\s+127.0.0.1:7003\s+nonvoter\s+no answer\s+unreachable\s+-\s+-\s+-$`, lines[3])
	require.Equal(t, "leader n1 (term 4), as seen by n2; 2 voters, a quorum needs 2; lag = the leader's last index (42) minus the server's", lines[4])
	require.Equal(t, []string{"GET /v1/operator/raft", "GET /v1/operator/raft?consistent=true"}, a.seen(),
		"a follower's view first, then the leader's")

	code, out, _ = runBaton(t, "operator", "raft", "--json", "--stale")
	require.Equal(t, 0, code)
	var got api.RaftReport
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, rep, got)
	require.Len(t, a.seen(), 3, "--stale does not ask the leader")
}

func TestOperatorRaftWithoutALeaderExits1AndDiagnoses(t *testing.T) {
	a := newMemberAgent(t)
	diagnosis := "no leader: 1 of 3 voters reachable (n1); a quorum needs 2 — bring back n2 or n3"
	a.handle("GET /v1/operator/raft", http.StatusOK, api.RaftReport{Observer: "n1", Voters: 3, Quorum: 2, Diagnosis: diagnosis,
		Servers: []api.RaftServer{
			{ID: "n1", Address: "127.0.0.1:7001", Suffrage: api.SuffrageVoter, Status: api.MemberAlive, Reachable: true, RaftState: "Candidate", LastContact: "never", LastIndex: 9},
			{ID: "n2", Address: "127.0.0.1:7002", Suffrage: api.SuffrageVoter, Status: api.MemberAlive, Error: "refused"},
			{ID: "n3", Address: "127.0.0.1:7003", Suffrage: api.SuffrageVoter, Status: api.MemberAlive, Error: "refused"},
		}})
	code, out, errOut := runBaton(t, "operator", "raft")
	require.Equal(t, 1, code)
	require.Regexp(t, `n1\s+127.0.0.1:7001\s+voter\s+candidate\s+alive\s+never\s+9\s+-`, out)
	require.Contains(t, out, diagnosis+"\n")
	require.Equal(t, "baton: "+diagnosis+"\n", errOut)

	code, out, errOut = runBaton(t, "operator", "raft", "--json")
	require.Equal(t, 1, code)
	require.Contains(t, out, `"diagnosis": "no leader: 1 of 3 voters`)
	require.Equal(t, "baton: "+diagnosis+"\n", errOut)
	for _, r := range a.seen() {
		require.NotContains(t, r, "consistent", "without a leader nobody is asked for a consistent read")
	}
}

func TestOperatorRaftOnAnOlderBuild(t *testing.T) {
	newMemberAgent(t)
	code, _, errOut := runBaton(t, "operator", "raft")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "this agent's build does not serve the Raft report (protocol 3)")
}

// An agent that has not caught up with any cluster (restarted without a
// leader in sight, say, after its --raft-addr changed) holds no catalogue:
// an empty table with exit 0 read as "the cluster has no members".
func TestMembersWithoutCatalogueOrLeaderFails(t *testing.T) {
	a := newMemberAgent(t)
	a.handle("GET /v1/members", http.StatusOK, []api.Member{})
	a.handle("GET /v1/protocol", http.StatusOK, api.ProtocolInfo{})
	code, out, errOut := runBaton(t, "members")
	require.Equal(t, 1, code)
	require.Empty(t, out)
	require.Contains(t, errOut, "baton: the agent holds no catalogue yet: it has not caught up with a cluster (or has only just started); `baton operator raft` on it says what it can reach\n")
}

func TestMembersWithoutLeaderWarns(t *testing.T) {
	a := newMemberAgent(t)
	a.handle("GET /v1/members", http.StatusOK, []api.Member{{ID: "n1", RaftAddr: "127.0.0.1:7001", HTTPAddr: "127.0.0.1:8001",
		Version: "1.0.0", Voter: true, Protocol: api.ProtocolRange{Min: 2, Max: 3}, Status: api.MemberAlive}})
	a.handle("GET /v1/protocol", http.StatusOK, api.ProtocolInfo{Active: 3})
	code, out, errOut := runBaton(t, "members")
	require.Equal(t, 0, code)
	require.Contains(t, out, "n1")
	require.Equal(t, "baton: warning: the agent knows no leader: this list may be out of date (see `baton operator raft`)\n", errOut)
}

func TestOperatorRaftFallsBackToTheAgentsViewWhenTheLeaderDoesNotAnswer(t *testing.T) {
	a := newMemberAgent(t)
	local := api.RaftReport{Observer: "n2", Leader: "n1", Term: 4, Voters: 1, Quorum: 1, Servers: []api.RaftServer{
		{ID: "n1", Address: "127.0.0.1:7001", Suffrage: api.SuffrageVoter, Leader: true, Status: api.MemberAlive, Error: "timeout"}}}
	a.mu.Lock()
	a.routes["GET /v1/operator/raft"] = func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("consistent") == "true" {
			writeTestJSON(w, http.StatusServiceUnavailable, api.ErrorBody{Error: "no leader: forward to leader failed", Code: api.CodeNoLeader})
			return
		}
		writeTestJSON(w, http.StatusOK, local)
	}
	a.mu.Unlock()
	code, out, errOut := runBaton(t, "operator", "raft")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "as seen by n2")
	require.Contains(t, errOut, "baton: warning: the leader n1 did not answer")
	require.Contains(t, errOut, "this is what n2 sees")
}
