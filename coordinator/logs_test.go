package coordinator

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

func hookRun(hook string, exit int, output string) api.HookOutput {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return api.HookOutput{Hook: hook, Began: at, Ended: at.Add(time.Second), ExitCode: exit, Output: output}
}

// logsHarness: n2's step failed at attempt 1 and ran again; n3's runs; n1
// (last) has not begun.
func logsHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarnessAt(t, 3, 3, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"}, nil)
	h.drive()
	h.fail("n2", "install exited 3")
	_, err := h.co.Control(h.ctx, h.txnID, api.ActionRetry, api.ControlRequest{})
	require.NoError(t, err)
	h.drive()
	h.complete("n2")
	h.drive()
	require.Equal(t, []string{"n3"}, h.running())
	h.n.logs["n2:80"] = []api.StepLogs{
		{TxnID: h.txnID, Node: "n2", Attempt: 1, Hooks: []api.HookOutput{hookRun("drain", 0, ""), hookRun("install", 3, "disk full\n")}},
		{TxnID: h.txnID, Node: "n2", Attempt: 2, Hooks: []api.HookOutput{hookRun("drain", 0, ""), hookRun("install", 0, "ok\n"), hookRun("version", 0, "2.0.0\n")}},
	}
	return h
}

func TestLogsGathersEveryNodeThatRanAStep(t *testing.T) {
	h := logsHarness(t)
	h.n.logs["n3:80"] = []api.StepLogs{{TxnID: h.txnID, Node: "n3", Attempt: 1, Hooks: []api.HookOutput{hookRun("drain", 0, "")}}}
	logs, err := h.co.Logs(h.ctx, h.txnID, "", "")
	require.NoError(t, err)
	require.Equal(t, []api.StepLogs{h.n.logs["n2:80"][0], h.n.logs["n2:80"][1], h.n.logs["n3:80"][0]}, logs,
		"in step order, each node's attempts oldest first; n1 never began and is not asked")

	logs, err = h.co.Logs(h.ctx, "latest", "n2", "install")
	require.NoError(t, err)
	require.Len(t, logs, 2)
	for i, l := range logs {
		require.Equal(t, uint64(i+1), l.Attempt)
		require.Len(t, l.Hooks, 1)
		require.Equal(t, "install", l.Hooks[0].Hook)
	}
	require.Equal(t, "disk full\n", logs[0].Hooks[0].Output)

	logs, err = h.co.Logs(h.ctx, "active", "n2", "health")
	require.NoError(t, err)
	require.Empty(t, logs, "no attempt ran that hook")
	require.NotNil(t, logs, "an empty list, not null")
}

// A node that cannot be asked gets an entry saying why; the others answer.
func TestLogsNameTheNodesThatCouldNotBeAsked(t *testing.T) {
	h := logsHarness(t)
	h.n.down["n3:80"] = true
	logs, err := h.co.Logs(h.ctx, h.txnID, "", "")
	require.NoError(t, err)
	require.Len(t, logs, 3)
	require.Empty(t, logs[0].Error)
	require.Equal(t, "n3", logs[2].Node)
	require.Equal(t, h.txnID, logs[2].TxnID)
	require.Contains(t, logs[2].Error, "could not get the hook output of n3: connection refused")

	// A build without the route answers 404: an entry, not a failure.
	h.n.down["n3:80"] = false
	logs, err = h.co.Logs(h.ctx, h.txnID, "n3", "")
	require.NoError(t, err)
	require.Len(t, logs, 1)
	require.Contains(t, logs[0].Error, "no route GET /v1/internal/steps/")
}

func TestLogsRefusals(t *testing.T) {
	h := logsHarness(t)
	_, err := h.co.Logs(h.ctx, "t-nope", "", "")
	require.ErrorIs(t, err, fsm.ErrNotFound)
	_, err = h.co.Logs(h.ctx, h.txnID, "n9", "")
	require.ErrorIs(t, err, fsm.ErrNotFound)
	require.Contains(t, err.Error(), `no step for "n9"`)

	c := newFakeClusterAt(t, 3, "n1", membersAt(3, 3)...)
	_, err = New(c, newFakeNodes(), Options{}).Logs(context.Background(), "latest", "", "")
	require.ErrorIs(t, err, fsm.ErrNotFound)
	require.Contains(t, err.Error(), "no transaction has run on this cluster")
}

// TestLogsOverHTTP gathers from real HTTP nodes: one answers, one has no
// such route (an agent of an older build answers 404 with the API's error
// body), one hangs past the call timeout.
func TestLogsOverHTTP(t *testing.T) {
	h := logsHarness(t)
	want := h.n.logs["n2:80"]
	answer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/v1/internal/steps/"+h.txnID+"/logs", r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(want)
	}))
	defer answer.Close()
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: "not found: no route GET " + r.URL.Path, Code: api.CodeNotFound})
	}))
	defer old.Close()
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(hang)

	addrs := map[string]string{"n1": slow.URL, "n2": answer.URL, "n3": old.URL}
	for id, u := range addrs {
		m := h.c.FSM().Read().Members[id]
		m.HTTPAddr = strings.TrimPrefix(u, "http://")
		_, err := h.c.Apply(h.ctx, fsm.CmdMemberJoin, fsm.MemberJoin{Member: m})
		require.NoError(t, err)
	}
	// n1 runs too, so that all three are asked.
	_, err := h.c.TransferLeadership(h.ctx, "n2")
	require.NoError(t, err)
	h.complete("n3")
	h.drive()
	require.Equal(t, []string{"n1"}, h.running())

	co := New(h.c, HTTPNodes{}, Options{CallTimeout: 300 * time.Millisecond})
	start := time.Now()
	logs, err := co.Logs(context.Background(), h.txnID, "", "")
	require.NoError(t, err)
	require.Less(t, time.Since(start), 5*time.Second, "the nodes are asked at once, each within the call timeout")
	require.Len(t, logs, 4)
	require.Equal(t, want, logs[:2], "n2 first: the step order is secondaries-first")
	require.Equal(t, "n3", logs[2].Node)
	require.Contains(t, logs[2].Error, "no route GET /v1/internal/steps/"+h.txnID+"/logs")
	require.Equal(t, "n1", logs[3].Node)
	require.Contains(t, logs[3].Error, "could not get the hook output of n1")
}

func TestRunningHooksAsksTheRunningNodes(t *testing.T) {
	h := newHarnessAt(t, 3, 5, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", MaxParallel: "2"}, nil)
	h.drive()
	require.Equal(t, []string{"n2", "n3"}, h.running())
	h.n.known["n2:80/"+h.txnID+"/1"] = api.StepStatus{TxnID: h.txnID, Node: "n2", Attempt: 1, State: api.StepRunning, Hook: "install"}
	h.n.down["n3:80"] = true
	require.Equal(t, map[string]string{"n2": "install"}, h.co.RunningHooks(h.ctx, h.txnID), "a node that does not answer is left out")
	require.Empty(t, h.co.RunningHooks(h.ctx, "t-nope"))
}
