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
				require.Equal(t, []string{"30s"}, r.Query["wait"])
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
	require.Regexp(t, `ID\s+STATE\s+TARGET\s+STRATEGY\s+STEPS\s+CREATED\n`, out)
	require.Regexp(t, `t-0\s+done\s+2\.0\.0\s+by-id\s+2/2\s+\S+\n`, out)
	require.Regexp(t, `t-1\s+running\s+2\.0\.0\s+by-id\s+1/2\s+\S+\n`, out)

	code, out, errOut = runBaton(t, "upgrade", "list", "--json")
	require.Equal(t, 0, code, errOut)
	var got []api.Txn
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Len(t, got, 2)
}

func TestProgressDescription(t *testing.T) {
	txn := testTxn(api.TxnRunning, testStep("n1", 0, api.StepDone, 1), testStep("n2", 1, api.StepDone, 1),
		testStep("n3", 1, api.StepRunning, 1), testStep("n4", 2, api.StepPending, 0))
	require.Equal(t, "running · batch 2/3 · n3 (attempt 1)", progressDescription(txn))

	txn.State = api.TxnAborting
	txn.Steps[1].State, txn.Steps[1].Rollback, txn.Steps[1].Attempt = api.StepRunning, true, 2
	txn.Steps[2].State = api.StepRolledBack
	require.Equal(t, "aborting · batch 2/3 · n2 (rollback, attempt 2)", progressDescription(txn))

	require.Equal(t, "done", progressDescription(testTxn(api.TxnDone, testStep("n1", 0, api.StepDone, 1))))
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
