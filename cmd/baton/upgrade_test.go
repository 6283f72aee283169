package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/coordinator/strategy"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// fakeAgent serves the upgrade routes of an agent's API from a script and
// records every request. Reads of one transaction follow the script: a read
// without ?index= gets txns[0] at index 1, and a read with ?index=N gets
// txns[N] at index N+1 (the last one, once the script runs out).
type fakeAgent struct {
	t    *testing.T
	srv  *httptest.Server
	plan api.Plan
	txns []api.Txn
	list []api.Txn
	logs []api.StepLogs
	// fail answers every request with this error when set.
	fail *api.APIError
	// unavailable answers this many long polls (reads with ?index=) with
	// 503 before serving them.
	unavailable int

	mu       sync.Mutex
	requests []fakeRequest
}

type fakeRequest struct {
	Method, Path string
	Query        map[string][]string
	Body         string
}

// newFakeAgent starts a fake agent and points BATON_ADDR at it.
func newFakeAgent(t *testing.T) *fakeAgent {
	a := &fakeAgent{t: t}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/upgrades/plan", func(w http.ResponseWriter, r *http.Request) { a.answer(w, 7, a.plan) })
	mux.HandleFunc("POST /v1/upgrades", func(w http.ResponseWriter, r *http.Request) { a.answer(w, 7, a.txns[0]) })
	mux.HandleFunc("GET /v1/upgrades", func(w http.ResponseWriter, r *http.Request) { a.answer(w, 7, a.list) })
	mux.HandleFunc("GET /v1/upgrades/{id}", a.getTxn)
	mux.HandleFunc("GET /v1/upgrades/{id}/logs", func(w http.ResponseWriter, r *http.Request) { a.answer(w, 7, a.logs) })
	mux.HandleFunc("POST /v1/upgrades/{id}/{action}", func(w http.ResponseWriter, r *http.Request) {
		txn := a.txns[0]
		txn.ID = r.PathValue("id")
		if txn.ID == "active" {
			txn.ID = a.txns[0].ID
		}
		a.answer(w, 7, txn)
	})
	a.srv = httptest.NewServer(a.record(mux))
	t.Cleanup(a.srv.Close)
	t.Setenv("BATON_ADDR", a.srv.URL)
	t.Setenv("BATON_TOKEN", "")
	return a
}

func (a *fakeAgent) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		require.NoError(a.t, err)
		a.mu.Lock()
		a.requests = append(a.requests, fakeRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: string(body)})
		a.mu.Unlock()
		if a.fail != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(a.fail.Status)
			_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: a.fail.Message})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *fakeAgent) getTxn(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("index")
	if q == "" {
		a.answer(w, 1, a.txns[0])
		return
	}
	a.mu.Lock()
	unavailable := a.unavailable > 0
	a.unavailable--
	a.mu.Unlock()
	if unavailable {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: "no leader"})
		return
	}
	index, err := strconv.Atoi(q)
	require.NoError(a.t, err)
	a.answer(w, uint64(index+1), a.txns[min(index, len(a.txns)-1)])
}

func (a *fakeAgent) answer(w http.ResponseWriter, index uint64, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(api.IndexHeader, strconv.FormatUint(index, 10))
	require.NoError(a.t, json.NewEncoder(w).Encode(body))
}

func (a *fakeAgent) seen() []fakeRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]fakeRequest(nil), a.requests...)
}

// runBaton runs baton in-process and returns its exit status and output.
func runBaton(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"baton"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func testTxn(state api.TxnState, steps ...api.Step) api.Txn {
	return api.Txn{
		ID: "t-1", State: state, TargetVersion: "2.0.0", Strategy: "by-id", MaxParallel: 1,
		OnFailure: "halt", Steps: steps, CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		ProtocolVersion: 1,
	}
}

func testStep(node string, batch int, state api.StepState, attempt uint64) api.Step {
	s := api.Step{Node: node, Batch: batch, State: state, Attempt: attempt, PriorVersion: "1.0.0", FromVersion: "1.0.0"}
	if state == api.StepDone {
		s.ToVersion = "2.0.0"
	}
	return s
}

// A node already at the target is skipped: the plan says so under its
// batch.
func TestUpgradePlanNamesSkippedNodes(t *testing.T) {
	a := newFakeAgent(t)
	a.plan = api.Plan{TargetVersion: "2.0.0", Strategy: "by-id", MaxParallel: 1, OnFailure: "halt", Leader: "n1", Voters: 3,
		QuorumBudget: 1, Batches: []api.PlanBatch{{Nodes: []string{"n1"}, Skip: []string{"n1"}}, {Nodes: []string{"n2"}}},
		Warnings: []string{"n1 already runs 2.0.0: its step is skipped (no hook runs, and no handoff for it)"}}
	code, out, errOut := runBaton(t, "upgrade", "plan", "--version", "2.0.0")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "batch 1: n1\n  skip n1: already at 2.0.0, no hook runs\nbatch 2: n2\n")
	require.NotContains(t, out, "hand leadership off")
}

func TestUpgradePlanNamesBatchesAndHandoff(t *testing.T) {
	a := newFakeAgent(t)
	a.plan = api.Plan{
		TargetVersion: "2.0.0", Strategy: "secondaries-first", MaxParallel: 2, OnFailure: "halt",
		Reason: "primary = Baton's Raft leader n1 (no role hooks), upgraded last",
		Leader: "n1", Voters: 5, QuorumBudget: 2,
		Batches:  []api.PlanBatch{{Nodes: []string{"n2", "n3"}}, {Nodes: []string{"n4", "n5"}}, {Nodes: []string{"n1"}, Handoff: true}},
		Warnings: []string{"n5 has no health hook"},
	}
	code, out, errOut := runBaton(t, "upgrade", "plan", "--version", "2.0.0", "--strategy", "secondaries-first", "--max-parallel", "40%")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "at most 2 voter(s) down at once")
	require.Contains(t, out, "batch 1: n2, n3\nbatch 2: n4, n5\nbatch 3: n1\n  hand leadership off from n1 first\n")
	require.Contains(t, out, "warning: n5 has no health hook\n")
	require.Regexp(t, `strategy\s+secondaries-first`, out)
	require.Regexp(t, `\nreason\s+primary = Baton's Raft leader n1 \(no role hooks\), upgraded last\n`, out)

	reqs := a.seen()
	require.Len(t, reqs, 1)
	require.Equal(t, "/v1/upgrades/plan", reqs[0].Path)
	require.JSONEq(t, `{"target_version":"2.0.0","strategy":"secondaries-first","max_parallel":"40%"}`, reqs[0].Body)

	code, out, errOut = runBaton(t, "upgrade", "plan", "--version", "2.0.0", "--json")
	require.Equal(t, 0, code, errOut)
	var got api.Plan
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, a.plan, got)
}

// TestUpgradeHelpListsTheRegisteredStrategies: --strategy's help and the
// list in plan's and start's help come from the registry, with summaries.
func TestUpgradeHelpListsTheRegisteredStrategies(t *testing.T) {
	for _, cmd := range []string{"plan", "start"} {
		t.Run(cmd, func(t *testing.T) {
			code, out, errOut := runBaton(t, "upgrade", cmd, "--help")
			require.Equal(t, 0, code, errOut)
			require.Contains(t, out, "NAME is one of "+strings.Join(strategy.Names(), ", ")+" (default: by-id)")
			for _, s := range strategy.All() {
				require.Regexp(t, `\n +`+regexp.QuoteMeta(s.Name())+` +`+regexp.QuoteMeta(s.Summary())+`\n`, out)
			}
		})
	}
}

func TestUpgradeStartPrintsIDAndSendsRequest(t *testing.T) {
	a := newFakeAgent(t)
	a.txns = []api.Txn{testTxn(api.TxnRunning, testStep("n1", 0, api.StepPending, 0))}
	sha := strings.Repeat("ab", 32)
	code, out, errOut := runBaton(t, "upgrade", "start", "--version", "2.0.0", "--artifact", "https://example.com/b.tgz",
		"--sha256", sha, "--strategy", "primary-first", "--max-parallel", "2", "--on-failure", "rollback",
		"--step-timeout", "5m", "--progress-deadline", "1h", "--allow-leader-upgrade")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "t-1\n", out)
	reqs := a.seen()
	require.Len(t, reqs, 1)
	require.Equal(t, http.MethodPost, reqs[0].Method)
	require.Equal(t, "/v1/upgrades", reqs[0].Path)
	require.JSONEq(t, `{"target_version":"2.0.0","artifact_url":"https://example.com/b.tgz","artifact_sha256":"`+sha+`",
		"strategy":"primary-first","max_parallel":"2","on_failure":"rollback","step_timeout":"5m",
		"progress_deadline":"1h","allow_leader_upgrade":true}`, reqs[0].Body)

	code, out, errOut = runBaton(t, "upgrade", "start", "--version", "2.0.0", "--json")
	require.Equal(t, 0, code, errOut)
	require.JSONEq(t, `{"target_version":"2.0.0"}`, a.seen()[1].Body)
	var got api.Txn
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, "t-1", got.ID)
}

func TestUpgradeUsageErrorsExit2WithoutRequest(t *testing.T) {
	for _, args := range [][]string{
		{"upgrade", "plan"},
		{"upgrade", "plan", "--version", "2.0.0", "extra"},
		{"upgrade", "start"},
		{"upgrade", "start", "--strategy", "by-id"},
		{"upgrade", "start", "--version", "2.0.0", "--artifact", "https://example.com/b.tgz"},
		{"upgrade", "start", "--version", "2.0.0", "--sha256", strings.Repeat("ab", 32)},
		{"upgrade", "status", "t-1", "t-2"},
		{"upgrade", "status", "t-1", "--no-such-flag"},
		{"upgrade", "abort", "t-1", "--timeout"},
		{"upgrade", "pause", "t-1", "t-2"},
		{"upgrade", "resume", "t-1", "t-2"},
		{"upgrade", "retry", "t-1", "t-2"},
		{"upgrade", "abort", "t-1", "t-2"},
		{"upgrade", "list", "t-1"},
		{"upgrade", "status", "--no-such-flag"},
		{"upgrade", "frobnicate"},
	} {
		t.Run(strings.Join(args[1:], " "), func(t *testing.T) {
			a := newFakeAgent(t)
			code, out, errOut := runBaton(t, args...)
			require.Equal(t, 2, code, "stdout: %s\nstderr: %s", out, errOut)
			require.Empty(t, a.seen(), "a usage error must not reach the agent")
			require.True(t, strings.HasPrefix(errOut, "baton: "), errOut)
		})
	}
}

func TestUpgradeServerErrorsExit1WithMessage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		msg    string
		args   []string
	}{
		{"bad version", http.StatusBadRequest, `invalid: version "x": want a version such as 2.0.0 or 2.1.0-rc.1`,
			[]string{"upgrade", "start", "--version", "x"}},
		{"bad strategy", http.StatusBadRequest, `invalid: unknown strategy "zigzag"`,
			[]string{"upgrade", "plan", "--version", "2.0.0", "--strategy", "zigzag"}},
		{"already active", http.StatusConflict, "conflict: transaction t-0 is already running; abort it or wait for it to end",
			[]string{"upgrade", "start", "--version", "2.0.0"}},
		{"nothing active", http.StatusNotFound, "not found: no transaction is active",
			[]string{"upgrade", "pause"}},
		{"unknown id", http.StatusNotFound, `not found: transaction "t-9"`,
			[]string{"upgrade", "status", "--watch", "t-9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newFakeAgent(t)
			a.fail = &api.APIError{Status: tc.status, Message: tc.msg}
			code, out, errOut := runBaton(t, tc.args...)
			require.Equal(t, 1, code)
			require.Empty(t, out)
			require.Equal(t, "baton: "+tc.msg+"\n", errOut)
			require.Len(t, a.seen(), 1)
		})
	}
}

func TestUpgradeStatusShowsStepTable(t *testing.T) {
	a := newFakeAgent(t)
	failed := testStep("n2", 1, api.StepFailed, 2)
	failed.Error = "install hook: exit status 1: " + strings.Repeat("disk full ", 20)
	txn := testTxn(api.TxnFailed, testStep("n1", 0, api.StepDone, 1), failed)
	txn.Reason = "step n2 failed"
	a.txns = []api.Txn{txn}

	code, out, errOut := runBaton(t, "upgrade", "status")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "/v1/upgrades/latest", a.seen()[0].Path)
	require.Regexp(t, `transaction\s+t-1\n`, out)
	require.Regexp(t, `state\s+failed\n`, out)
	require.Regexp(t, `reason\s+step n2 failed\n`, out)
	require.Regexp(t, `NODE\s+BATCH\s+STATE\s+ATTEMPT\s+FROM\s+TO\s+ERROR\n`, out)
	require.Regexp(t, `n1\s+1\s+done\s+1\s+1\.0\.0\s+2\.0\.0\s*\n`, out)
	require.Regexp(t, `n2\s+2\s+failed\s+2\s+1\.0\.0\s+-\s+install hook: exit status 1: disk full`, out)
	require.NotContains(t, out, strings.Repeat("disk full ", 20), "the error column is truncated")

	code, out, errOut = runBaton(t, "upgrade", "status", "--json", "t-1")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "/v1/upgrades/t-1", a.seen()[1].Path)
	var got api.Txn
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, failed.Error, got.Steps[1].Error)
}

// watchScript is a transaction upgrading n1 then n2, with a read that
// changes nothing in the middle, ending in end.
func watchScript(end api.TxnState) []api.Txn {
	pending := testTxn(api.TxnRunning, testStep("n1", 0, api.StepPending, 0), testStep("n2", 1, api.StepPending, 0))
	first := testTxn(api.TxnRunning, testStep("n1", 0, api.StepRunning, 1), testStep("n2", 1, api.StepPending, 0))
	second := testTxn(api.TxnRunning, testStep("n1", 0, api.StepDone, 1), testStep("n2", 1, api.StepRunning, 1))
	last := testTxn(end, testStep("n1", 0, api.StepDone, 1), testStep("n2", 1, api.StepDone, 1))
	if end == api.TxnAborted {
		last = testTxn(end, testStep("n1", 0, api.StepDone, 1), testStep("n2", 1, api.StepPending, 0))
		last.Reason = "aborted by an operator"
	}
	return []api.Txn{pending, pending, first, second, last}
}

func TestUpgradeWatchJSONPrintsOneObjectPerChange(t *testing.T) {
	for _, tc := range []struct {
		end    api.TxnState
		code   int
		stderr string
	}{
		{api.TxnDone, 0, ""},
		{api.TxnAborted, 1, "baton: transaction t-1 ended aborted: aborted by an operator\n"},
	} {
		t.Run(string(tc.end), func(t *testing.T) {
			a := newFakeAgent(t)
			a.txns = watchScript(tc.end)
			code, out, errOut := runBaton(t, "upgrade", "status", "--watch", "--json")
			require.Equal(t, tc.code, code, errOut)
			require.Equal(t, tc.stderr, errOut)

			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			require.Len(t, lines, 4, "the unchanged read prints nothing:\n%s", out)
			var states []string
			for _, line := range lines {
				var txn api.Txn
				require.NoError(t, json.Unmarshal([]byte(line), &txn), line)
				states = append(states, string(txn.State)+":"+string(txn.Steps[0].State)+","+string(txn.Steps[1].State))
			}
			want := []string{"running:pending,pending", "running:running,pending", "running:done,running"}
			if tc.end == api.TxnDone {
				want = append(want, "done:done,done")
			} else {
				want = append(want, "aborted:done,pending")
			}
			require.Equal(t, want, states)

			reqs := a.seen()
			require.Equal(t, "/v1/upgrades/latest", reqs[0].Path)
			require.Empty(t, reqs[0].Query, "the first read does not wait")
			for i, r := range reqs[1:] {
				require.Equal(t, "/v1/upgrades/t-1", r.Path, "later reads follow the resolved id")
				require.Equal(t, []string{strconv.Itoa(i + 1)}, r.Query["index"])
				// A step runs in the state before reads 3 and 4: they are
				// live, and wait less.
				if i+1 >= 3 {
					require.Equal(t, []string{"2s"}, r.Query["wait"])
					require.Equal(t, []string{"true"}, r.Query["live"])
				} else {
					require.Equal(t, []string{"30s"}, r.Query["wait"])
					require.Empty(t, r.Query["live"])
				}
			}
		})
	}
}

func TestUpgradeWatchHumanLog(t *testing.T) {
	a := newFakeAgent(t)
	script := watchScript(api.TxnRunning)
	failed := testTxn(api.TxnFailed, testStep("n1", 0, api.StepDone, 1), testStep("n2", 1, api.StepFailed, 1))
	failed.Steps[1].Error = "health hook: exit status 3"
	failed.Reason = "step n2 failed"
	a.txns = append(script[:4], failed)

	code, out, errOut := runBaton(t, "upgrade", "status", "--watch", "t-1")
	require.Equal(t, 1, code)
	require.Equal(t, "baton: transaction t-1 halted failed: step n2 failed (baton upgrade retry or abort)\n", errOut,
		"no progress bar when stderr is not a terminal")
	require.Contains(t, out, "watching transaction t-1: by-id to 2.0.0, 2 step(s) in 2 batch(es)\n"+
		"transaction t-1 is now running\n"+
		"n1 running (attempt 1)\n"+
		"n1 done 1.0.0 -> 2.0.0\n"+
		"n2 running (attempt 1)\n"+
		"n2 failed: health hook: exit status 3\n"+
		"transaction t-1 is now failed: step n2 failed\n\n")
	require.Regexp(t, `n2\s+2\s+failed\s+1\s+1\.0\.0\s+-\s+health hook: exit status 3`, out, "the final status table")
}

// A watch stops at rollback-failed, which waits for an operator, and says
// what the operator can do.
func TestUpgradeWatchStopsAtAFailedRollback(t *testing.T) {
	a := newFakeAgent(t)
	last := testTxn(api.TxnRollbackFailed, testStep("n1", 0, api.StepFailed, 2), testStep("n2", 1, api.StepPending, 0))
	last.Steps[0].Rollback = true
	last.Reason = "rollback failed on n1; step on n1 failed (attempt 1): install exited 3; rolling back"
	a.txns = []api.Txn{testTxn(api.TxnAborting, testStep("n1", 0, api.StepFailed, 1), testStep("n2", 1, api.StepPending, 0)), last}
	code, out, errOut := runBaton(t, "upgrade", "status", "--watch")
	require.Equal(t, 1, code)
	require.Contains(t, out, "transaction t-1 is now rollback-failed: rollback failed on n1;")
	require.Regexp(t, `result\s+1 rollback failed, 1 not upgraded\n`, out)
	require.Equal(t, "baton: transaction t-1 halted: rollback failed on n1; step on n1 failed (attempt 1): install exited 3; rolling back "+
		"(baton upgrade retry to retry the rollback, retry --forward to upgrade again, or abort)\n", errOut)
}

func TestUpgradeWatchRidesOutUnavailableAgent(t *testing.T) {
	a := newFakeAgent(t)
	a.txns = watchScript(api.TxnDone)
	a.unavailable = 2
	code, out, errOut := runBaton(t, "upgrade", "status", "--watch")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "baton: watching t-1: no leader; retrying\nbaton: watching t-1: the agent answers again\n", errOut)
	require.Contains(t, out, "transaction t-1 is now done\n")
}

func TestUpgradeWatchGivesUpAtExplicitTimeout(t *testing.T) {
	a := newFakeAgent(t)
	a.txns = watchScript(api.TxnDone)
	a.unavailable = 1 << 30
	start := time.Now()
	code, _, errOut := runBaton(t, "upgrade", "status", "--watch", "--json", "--timeout", "1s")
	require.Equal(t, 1, code)
	require.Less(t, time.Since(start), 10*time.Second)
	require.Contains(t, errOut, "baton: gave up watching t-1 after --timeout 1s; it is still running\n")
	require.Less(t, len(a.seen()), 12, "retries back off rather than spin")
}

func TestUpgradeStartWatch(t *testing.T) {
	a := newFakeAgent(t)
	a.txns = watchScript(api.TxnDone)
	code, out, errOut := runBaton(t, "upgrade", "start", "--version", "2.0.0", "--watch", "--json")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 4, "the started transaction, then one line per change:\n%s", out)
	reqs := a.seen()
	require.Equal(t, "/v1/upgrades", reqs[0].Path)
	require.Equal(t, "/v1/upgrades/t-1", reqs[1].Path)

	code, out, errOut = runBaton(t, "upgrade", "start", "--version", "2.0.0", "--watch")
	require.Equal(t, 0, code, errOut)
	require.True(t, strings.HasPrefix(out, "t-1\nwatching transaction t-1"), out)
	require.Contains(t, out, "n2 done 1.0.0 -> 2.0.0\ntransaction t-1 is now done\n")
}

func TestUpgradeControlCommands(t *testing.T) {
	a := newFakeAgent(t)
	a.txns = []api.Txn{testTxn(api.TxnAborting)}

	code, out, errOut := runBaton(t, "upgrade", "abort", "--rollback")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "transaction t-1 is now aborting\n", out)
	req := a.seen()[0]
	require.Equal(t, "/v1/upgrades/active/abort", req.Path)
	require.JSONEq(t, `{"rollback":true}`, req.Body)

	// CLI.md writes flags after TXN_ID; they count there too.
	code, _, errOut = runBaton(t, "upgrade", "abort", "t-9", "--rollback")
	require.Equal(t, 0, code, errOut)
	req = a.seen()[len(a.seen())-1]
	require.Equal(t, "/v1/upgrades/t-9/abort", req.Path)
	require.JSONEq(t, `{"rollback":true}`, req.Body)

	for _, action := range []string{"pause", "resume", "retry"} {
		code, out, errOut = runBaton(t, "upgrade", action, "--json", "t-7")
		require.Equal(t, 0, code, errOut)
		var got api.Txn
		require.NoError(t, json.Unmarshal([]byte(out), &got))
		require.Equal(t, "t-7", got.ID)
		req = a.seen()[len(a.seen())-1]
		require.Equal(t, "/v1/upgrades/t-7/"+action, req.Path)
		require.Empty(t, req.Body)
	}

	// retry --forward rolls a rollback-failed transaction forward.
	for _, args := range [][]string{{"upgrade", "retry", "--forward"}, {"upgrade", "retry", "t-1", "--forward"}} {
		code, _, errOut = runBaton(t, args...)
		require.Equal(t, 0, code, errOut)
		req = a.seen()[len(a.seen())-1]
		require.Regexp(t, `^/v1/upgrades/(active|t-1)/retry$`, req.Path)
		require.JSONEq(t, `{"forward":true}`, req.Body)
	}
	code, _, _ = runBaton(t, "upgrade", "abort", "--forward")
	require.Equal(t, 2, code, "--forward is retry's")
}

func TestUpgradeLogsPrintsEachHookUnderAHeader(t *testing.T) {
	a := newFakeAgent(t)
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	a.logs = []api.StepLogs{
		{TxnID: "t-1", Node: "n2", Attempt: 1, Hooks: []api.HookOutput{
			{Hook: "drain", Began: at, Ended: at.Add(100 * time.Millisecond)},
			{Hook: "install", Began: at.Add(time.Second), Ended: at.Add(3 * time.Second), ExitCode: 3,
				Output: "unpacking\ndisk full on n2\n", Truncated: true},
		}},
		{TxnID: "t-1", Node: "n2", Attempt: 2, Hooks: []api.HookOutput{{Hook: "install", Began: at.Add(time.Minute), Output: "unpacking"}}},
		{TxnID: "t-1", Node: "n3", Error: "could not get the hook output of n3: not found: no route GET /v1/internal/steps/t-1/logs"},
	}
	code, out, errOut := runBaton(t, "upgrade", "logs")
	require.Equal(t, 0, code, "a node that cannot be asked does not fail the command: %s", errOut)
	require.Empty(t, errOut)
	require.Equal(t, "/v1/upgrades/latest/logs", a.seen()[0].Path)
	require.Equal(t, "==> n2 · attempt 1 · drain · exit 0 · "+formatTime(at)+" (100ms)\n"+
		"(no output)\n"+
		"==> n2 · attempt 1 · install · exit 3 · "+formatTime(at.Add(time.Second))+" (2s)\n"+
		"… (earlier output dropped: each run keeps its last 64 KiB)\n"+
		"unpacking\ndisk full on n2\n"+
		"==> n2 · attempt 2 · install · running · "+formatTime(at.Add(time.Minute))+"\n"+
		"unpacking\n"+
		"==> n3: could not get the hook output of n3: not found: no route GET /v1/internal/steps/t-1/logs\n", out)

	code, out, errOut = runBaton(t, "upgrade", "logs", "t-1", "--node", "n2", "--hook", "install", "--json")
	require.Equal(t, 0, code, errOut)
	req := a.seen()[1]
	require.Equal(t, "/v1/upgrades/t-1/logs", req.Path)
	require.Equal(t, []string{"n2"}, req.Query["node"])
	require.Equal(t, []string{"install"}, req.Query["hook"])
	var got []api.StepLogs
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, a.logs, got)

	a.logs = nil
	code, out, errOut = runBaton(t, "upgrade", "logs", "--json")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "[]\n", out)
	code, out, _ = runBaton(t, "upgrade", "logs")
	require.Equal(t, 0, code)
	require.Equal(t, "no hook output: no node ran a hook of this transaction that matches\n", out)

	code, _, _ = runBaton(t, "upgrade", "logs", "t-1", "t-2")
	require.Equal(t, 2, code)
}

func TestUpgradeList(t *testing.T) {
	a := newFakeAgent(t)
	code, out, errOut := runBaton(t, "upgrade", "list")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "no upgrade transaction has run on this cluster\n", out)

	old := testTxn(api.TxnDone, testStep("n1", 0, api.StepDone, 1), testStep("n2", 1, api.StepDone, 1))
	old.ID = "t-0"
	a.list = []api.Txn{old, testTxn(api.TxnRunning, testStep("n1", 0, api.StepDone, 1), testStep("n2", 1, api.StepRunning, 1))}
	code, out, errOut = runBaton(t, "upgrade", "list")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `ID\s+STATE\s+TARGET\s+STRATEGY\s+CREATED\s+FINISHED\s+RESULT\s+REASON\n`, out)
	require.Regexp(t, `t-0\s+done\s+2\.0\.0\s+by-id\s+\S+\s+-\s+2/2 upgraded\s+-\n`, out)
	require.Regexp(t, `t-1\s+running\s+2\.0\.0\s+by-id\s+\S+\s+-\s+1/2 upgraded, 1 running\s+-\n`, out)

	code, out, errOut = runBaton(t, "upgrade", "list", "--json")
	require.Equal(t, 0, code, errOut)
	var got []api.Txn
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Len(t, got, 2)
}

func TestProgressDescription(t *testing.T) {
	txn := testTxn(api.TxnRunning, testStep("n1", 0, api.StepDone, 1), testStep("n2", 1, api.StepDone, 1),
		testStep("n3", 1, api.StepRunning, 1), testStep("n4", 2, api.StepPending, 0))
	require.Equal(t, "running · batch 2/3 · n3 (attempt 1)", progressDescription(txn, 0))
	txn.Steps[2].Hook = "install"
	require.Equal(t, "running · batch 2/3 · n3 (attempt 1, install) · 1m23s", progressDescription(txn, 83*time.Second+400*time.Millisecond),
		"the running hook, and the time the transaction has run")

	txn.State = api.TxnAborting
	txn.Steps[1].State, txn.Steps[1].Rollback, txn.Steps[1].Attempt = api.StepRunning, true, 2
	txn.Steps[2].State = api.StepRolledBack
	require.Equal(t, "aborting · batch 2/3 · n2 (rollback, attempt 2)", progressDescription(txn, 0))

	require.Equal(t, "done", progressDescription(testTxn(api.TxnDone, testStep("n1", 0, api.StepDone, 1)), 0))
}

// TestProgressViewTicks: on a terminal the bar is drawn again every tick,
// so the elapsed time advances while nothing changes.
func TestProgressViewTicks(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2025, 1, 2, 3, 5, 5, 0, time.UTC) // a minute after testTxn's creation
	out := &lockedBuffer{}
	v := &progressView{out: out, now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}
	v.tick(10 * time.Millisecond)
	defer v.close()
	v.update(testTxn(api.TxnRunning, testStep("n1", 0, api.StepRunning, 1)))
	require.Contains(t, out.String(), "· 1m0s")
	mu.Lock()
	now = now.Add(95 * time.Second)
	mu.Unlock()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "· 2m35s") }, 5*time.Second, 10*time.Millisecond,
		"the ticker draws the new elapsed time: %q", out.String())
	v.close()
	v.close()
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestUpgradeListSaysWhatTheNodesRun: an aborted transaction that left
// nodes upgraded says so, with when it ended and why.
func TestUpgradeListSaysWhatTheNodesRun(t *testing.T) {
	a := newFakeAgent(t)
	finished := time.Date(2025, 1, 2, 4, 0, 0, 0, time.UTC)
	aborted := testTxn(api.TxnAborted, testStep("n1", 0, api.StepDone, 1), testStep("n2", 1, api.StepDone, 1),
		testStep("n3", 2, api.StepPending, 0))
	aborted.ID, aborted.FinishedAt, aborted.Reason = "t-a", finished, "aborted by an operator"
	rolled := testTxn(api.TxnAborted, testStep("n1", 0, api.StepRolledBack, 2), testStep("n2", 1, api.StepFailed, 2),
		testStep("n3", 2, api.StepFailed, 1))
	rolled.ID, rolled.FinishedAt = "t-b", finished
	rolled.Steps[1].Rollback = true
	rolled.Reason = "rollback failed on n2; step on n3 failed (attempt 1): install exited 3; " + strings.Repeat("more ", 20)
	skipped := testTxn(api.TxnDone, testStep("n1", 0, api.StepDone, 0), testStep("n2", 1, api.StepDone, 1))
	skipped.ID, skipped.FinishedAt = "t-c", finished
	skipped.Steps[0].Skipped = true
	a.list = []api.Txn{aborted, rolled, skipped}

	code, out, errOut := runBaton(t, "upgrade", "list")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `t-a\s+aborted\s+2\.0\.0\s+by-id\s+\S+\s+`+regexp.QuoteMeta(formatTime(finished))+
		`\s+2 left upgraded, 1 not upgraded\s+aborted by an operator\n`, out)
	require.Regexp(t, `t-b\s+aborted\s.*\s1 rolled back, 1 rollback failed, 1 failed\s+rollback failed on n2; step on n3 failed \(attempt…\n`, out,
		"the reason is cut to its column")
	require.Regexp(t, `t-c\s+done\s.*\s2/2 upgraded \(1 already was\)\s+-\n`, out)
}

// TestUpgradeStatusShowsEveryAttempt: a step retried after a failure still
// shows the failure; a skipped step says so; the result says what runs.
func TestUpgradeStatusShowsEveryAttempt(t *testing.T) {
	a := newFakeAgent(t)
	at := time.Date(2025, 1, 2, 3, 10, 0, 0, time.UTC)
	retried := testStep("n2", 1, api.StepRunning, 2)
	retried.Hook = "install"
	retried.Attempts = []api.Attempt{
		{Attempt: 1, State: api.StepFailed, FromVersion: "1.0.0", ToVersion: "2.0.0", StartedAt: at, FinishedAt: at.Add(time.Minute),
			Error: "install exited 3: disk full on n2"},
		{Attempt: 2, State: api.StepRunning, FromVersion: "1.0.0", ToVersion: "2.0.0", StartedAt: at.Add(2 * time.Minute)},
	}
	skipped := testStep("n1", 0, api.StepDone, 0)
	skipped.Skipped = true
	a.txns = []api.Txn{testTxn(api.TxnRunning, skipped, retried)}

	code, out, errOut := runBaton(t, "upgrade", "status")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, []string{"true"}, a.seen()[0].Query["live"], "a person's status names the running hooks")
	require.Regexp(t, `result\s+1/2 upgraded \(1 already was\), 1 running\n`, out)
	require.Regexp(t, `n1\s+1\s+skipped\s+0\s`, out)
	require.Regexp(t, `n2\s+2\s+running:install\s+2\s`, out)
	require.Contains(t, out, "\nearlier attempts:\n")
	require.Regexp(t, `NODE\s+ATTEMPT\s+KIND\s+STATE\s+FINISHED\s+ERROR\n`+
		`n2\s+1\s+upgrade\s+failed\s+`+regexp.QuoteMeta(formatTime(at.Add(time.Minute)))+`\s+install exited 3: disk full on n2\n`, out)

	code, out, errOut = runBaton(t, "upgrade", "status", "--json")
	require.Equal(t, 0, code, errOut)
	require.Empty(t, a.seen()[1].Query["live"], "scripts polling --json cost the nodes nothing")
	var got api.Txn
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, retried.Attempts, got.Steps[1].Attempts)
}

func TestProgressViewDrawsOnItsWriter(t *testing.T) {
	var bar bytes.Buffer
	v := &progressView{out: &bar}
	txn := testTxn(api.TxnRunning, testStep("n1", 0, api.StepDone, 1), testStep("n2", 1, api.StepRunning, 1))
	v.update(txn)
	require.Contains(t, bar.String(), "running · batch 2/2 · n2 (attempt 1)")
	require.Contains(t, bar.String(), "1/2")

	// A rollback after every step was done takes the bar back.
	txn.Steps[1].State = api.StepDone
	v.update(txn)
	txn.State, txn.Steps[1].State, txn.Steps[1].Rollback = api.TxnAborting, api.StepRunning, true
	bar.Reset()
	v.update(txn)
	require.Contains(t, bar.String(), "1/2")
	v.close()

	var none *progressView
	none.update(txn)
	none.clear()
	none.close()
}

func TestStepLines(t *testing.T) {
	rolling := testStep("n1", 0, api.StepRunning, 2)
	rolling.Rollback = true
	failed := testStep("n3", 0, api.StepFailed, 1)
	failed.Error = "install hook:\nexit status 1"
	for _, tc := range []struct {
		step api.Step
		want string
	}{
		{testStep("n2", 0, api.StepRunning, 1), "n2 running (attempt 1)"},
		{testStep("n2", 0, api.StepDone, 1), "n2 done 1.0.0 -> 2.0.0"},
		{failed, "n3 failed: install hook: exit status 1"},
		{rolling, "n1 rolling back to 1.0.0 (attempt 2)"},
		{testStep("n1", 0, api.StepRolledBack, 2), "n1 rolled back to 1.0.0"},
		{testStep("n4", 0, api.StepPending, 0), "n4 pending"},
	} {
		require.Equal(t, tc.want, stepLine(tc.step))
	}
}

// A watch log names the hook a running step's node runs when it changes,
// and what the transaction waits for when that changes.
func TestWatchNamesHooksAndWhatItWaitsFor(t *testing.T) {
	running := testTxn(api.TxnRunning, testStep("n1", 0, api.StepRunning, 1))
	install := testTxn(api.TxnRunning, testStep("n1", 0, api.StepRunning, 1))
	install.Steps[0].Hook = "install"
	require.Equal(t, []string{"n1 runs install"}, changeLines(&running, install))
	require.Empty(t, changeLines(&install, install), "a hook is named once")
	silent := carryHooks(&install, running)
	require.Equal(t, "install", silent.Steps[0].Hook, "a node that did not answer keeps its last hook")
	require.Empty(t, changeLines(&install, silent))
	require.Empty(t, running.Steps[0].Hook, "carryHooks does not touch what it was given")

	handoff := install
	handoff.Reason = "handing leadership off to n2 before n1 upgrades"
	require.Equal(t, []string{"transaction t-1 waits: handing leadership off to n2 before n1 upgrades"}, changeLines(&install, handoff))
	require.Empty(t, changeLines(&handoff, handoff))
	aborting := testTxn(api.TxnAborting, testStep("n1", 0, api.StepRunning, 1))
	later := aborting
	later.Reason = "aborted by an operator; rollback on n2 failed (attempt 2): exit 4"
	require.Equal(t, []string{"transaction t-1 is still aborting: aborted by an operator; rollback on n2 failed (attempt 2): exit 4"},
		changeLines(&aborting, later))
}

// A watch reads live, at a short wait, while steps run: the hooks they run
// are named soon after they start.
func TestUpgradeWatchReadsLiveWhileStepsRun(t *testing.T) {
	a := newFakeAgent(t)
	a.txns = watchScript(api.TxnDone)
	a.txns[3].Steps[1].Hook = "install"
	code, out, errOut := runBaton(t, "upgrade", "status", "--watch")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "n2 running (attempt 1)\nn2 runs install\n")
	reqs := a.seen()
	// Script: pending, pending, n1 running, n2 running, done.
	for i, live := range []bool{false, false, false, true, true} {
		if live {
			require.Equal(t, []string{"true"}, reqs[i].Query["live"], "read %d", i)
			require.Equal(t, []string{"2s"}, reqs[i].Query["wait"], "read %d", i)
		} else {
			require.Empty(t, reqs[i].Query["live"], "read %d", i)
		}
	}
}

// A step that waits on an unreachable node says so once in a watch log,
// again when the reason changes, and under the status table.
func TestWaitingStepsAreNamed(t *testing.T) {
	running := testTxn(api.TxnRunning, testStep("n1", 0, api.StepRunning, 1))
	waiting := testTxn(api.TxnRunning, testStep("n1", 0, api.StepRunning, 1))
	waiting.Steps[0].Waiting = "node n1 unreachable since 2026-03-01T12:00:00Z"
	require.Equal(t, []string{"n1 waits: node n1 unreachable since 2026-03-01T12:00:00Z"}, changeLines(&running, waiting))
	require.Empty(t, changeLines(&waiting, waiting), "an unchanged reason is not repeated")

	var out bytes.Buffer
	require.NoError(t, writeSteps(&out, waiting.Steps))
	require.Contains(t, out.String(), "\nn1 waits: node n1 unreachable since 2026-03-01T12:00:00Z\n")
}

func TestMemberStatusColumn(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 2, 10, 0, time.UTC)
	since := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	require.Equal(t, "alive", memberStatus(api.Member{Status: api.MemberAlive, StatusSince: since}, now))
	require.Equal(t, "unreachable since 12:00:00Z (2m10s ago)", memberStatus(api.Member{Status: api.MemberUnreachable, StatusSince: since}, now))
	require.Equal(t, "unknown", memberStatus(api.Member{}, now), "an older agent sends no status")
}

// A ring plan shows the ring it was cut from, text and JSON.
func TestUpgradePlanShowsTheRing(t *testing.T) {
	a := newFakeAgent(t)
	a.plan = api.Plan{TargetVersion: "2.0.0", Strategy: "ring", MaxParallel: 2, OnFailure: "halt", Leader: "n1", Voters: 5,
		QuorumBudget: 2, Ring: []string{"n1", "n2", "n3", "n4", "n5"},
		Batches: []api.PlanBatch{{Nodes: []string{"n1", "n3"}, Handoff: true}, {Nodes: []string{"n5", "n2"}}, {Nodes: []string{"n4"}}}}
	code, out, errOut := runBaton(t, "upgrade", "plan", "--version", "2.0.0", "--strategy", "ring", "--max-parallel", "2")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `\nring\s+n1 -> n2 -> n3 -> n4 -> n5 -> n1 \(never two neighbours at once\)\n`, out)
	require.Contains(t, out, "batch 1: n1, n3\n  hand leadership off from n1 first\nbatch 2: n5, n2\nbatch 3: n4\n")

	code, out, errOut = runBaton(t, "upgrade", "plan", "--version", "2.0.0", "--strategy", "ring", "--json")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, `"ring": [`)
	var got api.Plan
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, a.plan, got)
}
