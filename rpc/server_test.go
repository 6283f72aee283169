package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// fakeBackend is an agent with an in-process state machine; leader says
// which fake leads, and httpAddr of the leader is looked up in addrs.
type fakeBackend struct {
	id     string
	f      *fsm.FSM
	mu     sync.Mutex
	leader string
	addrs  map[string]string
	joins  []fsm.Member
	index  uint64
	// joinErr, when set, is what Join fails with, before anything is
	// applied.
	joinErr error
	// versionErrors are the member.version_error commands "committed".
	versionErrors []fsm.MemberVersionError
	// removals records each RemoveMember call as "ID" or "ID forced".
	removals []string
	moves    []fsm.MemberMove
}

func (b *fakeBackend) ID() string         { return b.id }
func (b *fakeBackend) FSM() *fsm.FSM      { return b.f }
func (b *fakeBackend) IsLeader() bool     { b.mu.Lock(); defer b.mu.Unlock(); return b.leader == b.id }
func (b *fakeBackend) Health() api.Health { return api.Health{ID: b.id} }
func (b *fakeBackend) Barrier(context.Context) error {
	if !b.IsLeader() {
		return errors.New("not leader")
	}
	return nil
}
func (b *fakeBackend) Leader() (string, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.leader, b.addrs[b.leader]
}
func (b *fakeBackend) Join(_ context.Context, m fsm.Member) (fsm.Member, error) {
	if b.joinErr != nil {
		return fsm.Member{}, b.joinErr
	}
	b.mu.Lock()
	b.joins = append(b.joins, m)
	b.index++
	idx := b.index
	b.mu.Unlock()
	data, _ := fsm.Encode(fsm.CmdMemberJoin, 1, time.Unix(0, 0), fsm.MemberJoin{Member: m})
	res := b.f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: data}).(*fsm.Result)
	return m, res.Err
}
func (b *fakeBackend) MoveMember(_ context.Context, mv fsm.MemberMove) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.moves = append(b.moves, mv)
	return nil
}
func (b *fakeBackend) RemoveMember(_ context.Context, id string, force bool) (api.RemoveResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	call := id
	if force {
		call += " forced"
	}
	b.removals = append(b.removals, call)
	return api.RemoveResponse{Removed: id, Forced: force}, nil
}
func (b *fakeBackend) TransferLeadership(context.Context, string) (string, error) {
	return "", fmt.Errorf("%w: transfer failed", api.ErrNoLeader)
}
func (b *fakeBackend) ReportStatus(context.Context, fsm.MemberStatus) error { return nil }
func (b *fakeBackend) SetNodeKey(_ context.Context, k fsm.MemberKey) error {
	b.mu.Lock()
	b.index++
	idx := b.index
	b.mu.Unlock()
	data, _ := fsm.Encode(fsm.CmdMemberKey, 3, time.Unix(0, 0), k)
	return b.f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: data}).(*fsm.Result).Err
}
func (b *fakeBackend) ReportVersionError(_ context.Context, c fsm.MemberVersionError) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.versionErrors = append(b.versionErrors, c)
	return nil
}
func (b *fakeBackend) RaftReport(context.Context) api.RaftReport {
	return api.RaftReport{Observer: b.id, Leader: b.leader}
}

func member(id string, port int) fsm.Member {
	return fsm.Member{ID: id, RaftAddr: fmt.Sprintf("127.0.0.1:%d", port), HTTPAddr: fmt.Sprintf("127.0.0.1:%d", port+1),
		Version: "1.0.0", Protocol: fsm.ProtocolRange{Min: 1, Max: 1}}
}

// pair starts a leader and a follower API on loopback.
func pair(t *testing.T, token string) (leader, follower *fakeBackend, lsrv, fsrv *httptest.Server) {
	t.Helper()
	addrs := map[string]string{}
	leader = &fakeBackend{id: "n1", f: fsm.New(1), leader: "n1", addrs: addrs}
	follower = &fakeBackend{id: "n2", f: fsm.New(1), leader: "n1", addrs: addrs}
	lsrv = httptest.NewServer(NewServer(leader, ServerOptions{Token: token}))
	fsrv = httptest.NewServer(NewServer(follower, ServerOptions{Token: token, LeaderWait: 300 * time.Millisecond}))
	t.Cleanup(lsrv.Close)
	t.Cleanup(fsrv.Close)
	addrs["n1"] = strings.TrimPrefix(lsrv.URL, "http://")
	return
}

func TestWritesAreForwardedToTheLeader(t *testing.T) {
	leader, follower, _, fsrv := pair(t, "tok")
	_, err := api.NewClient(fsrv.URL, "tok").Join(context.Background(), JoinRequestOut(member("n3", 7000)))
	require.NoError(t, err)
	require.Len(t, leader.joins, 1, "the leader applied the join")
	require.Empty(t, follower.joins, "the follower did not")
}

func TestWriteWithoutLeaderIs503(t *testing.T) {
	_, follower, _, fsrv := pair(t, "")
	follower.mu.Lock()
	follower.leader = ""
	follower.mu.Unlock()
	_, err := api.NewClient(fsrv.URL, "").Join(context.Background(), JoinRequestOut(member("n3", 7000)))
	var apiErr *api.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusServiceUnavailable, apiErr.Status)
	require.Contains(t, err.Error(), "no leader elected")
}

func TestTokenIsCheckedBeforeForwarding(t *testing.T) {
	leader, _, _, fsrv := pair(t, "tok")
	for token, status := range map[string]int{"": 401, "wrong": 403} {
		_, err := api.NewClient(fsrv.URL, token).Join(context.Background(), JoinRequestOut(member("n3", 7000)))
		var apiErr *api.APIError
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, status, apiErr.Status)
	}
	require.Empty(t, leader.joins)
}

func TestLongPollWaitsForTheNextChange(t *testing.T) {
	leader, _, lsrv, _ := pair(t, "")
	c := api.NewClient(lsrv.URL, "")
	_, idx, err := c.Members(context.Background(), api.Wait{})
	require.NoError(t, err)
	done := make(chan []api.Member, 1)
	go func() {
		ms, _, _ := c.Members(context.Background(), api.Wait{Index: idx, Wait: time.Minute})
		done <- ms
	}()
	select {
	case <-done:
		t.Fatal("the read returned before anything changed")
	case <-time.After(200 * time.Millisecond):
	}
	_, err = leader.Join(context.Background(), member("n3", 7000))
	require.NoError(t, err)
	select {
	case ms := <-done:
		require.Len(t, ms, 1)
	case <-time.After(10 * time.Second):
		t.Fatal("the read did not wake on the change")
	}
}

// fakeSteps counts the steps it was asked to run and records the cancels.
type fakeSteps struct {
	runs    int
	cancels []string
	// healthChecks counts the diagnostics asked to run the health hook.
	healthChecks int
}

func (f *fakeSteps) RunStep(_ context.Context, req api.StepRequest) (api.StepStatus, error) {
	f.runs++
	return api.StepStatus{TxnID: req.TxnID, Attempt: req.Attempt, State: api.StepRunning}, nil
}
func (f *fakeSteps) StepStatus(string, uint64) (api.StepStatus, bool) { return api.StepStatus{}, false }
func (f *fakeSteps) Diagnostic(_ context.Context, health bool) api.Diagnostic {
	if health {
		f.healthChecks++
	}
	return api.Diagnostic{ID: "n2", Healthy: true}
}
func (f *fakeSteps) CancelStep(_ context.Context, txnID string, attempt uint64, reason string) (api.StepStatus, error) {
	if txnID != "t-1" {
		return api.StepStatus{}, fmt.Errorf("%w: this node has no attempt %d of transaction %s", fsm.ErrNotFound, attempt, txnID)
	}
	f.cancels = append(f.cancels, fmt.Sprintf("%s/%d: %s", txnID, attempt, reason))
	return api.StepStatus{TxnID: txnID, Node: "n2", Attempt: attempt, State: api.StepRunning, Hook: "install"}, nil
}
func (f *fakeSteps) StepLogs(_ context.Context, txnID string) ([]api.StepLogs, error) {
	if txnID != "t-1" {
		return []api.StepLogs{}, nil
	}
	return []api.StepLogs{{TxnID: txnID, Node: "n2", Attempt: 1,
		Hooks: []api.HookOutput{{Hook: "install", ExitCode: 3, Output: "disk full\n", Began: time.Unix(10, 0).UTC(), Ended: time.Unix(12, 0).UTC()}}}}, nil
}

func TestStepsAreServedLocallyAndNeedTheToken(t *testing.T) {
	c := newCluster(t)
	b := c.backendOf(t, "n2")
	steps := &fakeSteps{}
	srv := httptest.NewServer(NewServer(b, ServerOptions{Token: "tok", Steps: steps}))
	defer srv.Close()
	req := stepOfN2

	_, err := api.NewClient(srv.URL, "").RunStep(context.Background(), req)
	require.ErrorIs(t, err, api.ErrUnauthorized)
	require.Zero(t, steps.runs)

	// A follower runs its own step; it is never forwarded to the leader
	// (whose address is unknown here, so forwarding would fail).
	st, err := api.NewClient(srv.URL, "tok").WithHook(signer("n1", c.keys["n1"])).RunStep(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, api.StepRunning, st.State)
	require.Equal(t, 1, steps.runs)
}

// The diagnostic needs the agent scope (the token) and runs nothing
// without it, whether or not it would run the health hook. It is never
// forwarded, even when asked for a consistent read.
func TestDiagnosticWithHealthNeedsTheToken(t *testing.T) {
	b := &fakeBackend{id: "n2", f: fsm.New(1), leader: "n1", addrs: map[string]string{}}
	steps := &fakeSteps{}
	srv := httptest.NewServer(NewServer(b, ServerOptions{Token: "tok", Steps: steps}))
	defer srv.Close()
	ctx := context.Background()

	_, err := api.NewClient(srv.URL, "").Diagnostic(ctx, true)
	require.ErrorIs(t, err, api.ErrUnauthorized)
	_, err = api.NewClient(srv.URL, "wrong").Diagnostic(ctx, true)
	require.ErrorIs(t, err, api.ErrForbidden)
	require.Zero(t, steps.healthChecks, "no hook ran for a call without the token")

	_, err = api.NewClient(srv.URL, "").Diagnostic(ctx, false)
	require.ErrorIs(t, err, api.ErrUnauthorized, "an internal route, even without the hook")
	d, err := api.NewClient(srv.URL, "tok").Diagnostic(ctx, false)
	require.NoError(t, err)
	require.Equal(t, "n2", d.ID)
	require.Zero(t, steps.healthChecks)

	d, err = api.NewClient(srv.URL, "tok").Diagnostic(ctx, true)
	require.NoError(t, err)
	require.True(t, d.Healthy)
	require.Equal(t, 1, steps.healthChecks)

	req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/internal/diagnostic?health=false&consistent=true", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "served here, not forwarded to the (unknown) leader")
}

func TestCancelStepIsServedLocallyAndNeedsTheToken(t *testing.T) {
	b := &fakeBackend{id: "n2", f: fsm.New(1), leader: "n1", addrs: map[string]string{}}
	steps := &fakeSteps{}
	srv := httptest.NewServer(NewServer(b, ServerOptions{Token: "tok", Steps: steps, Speaks: StepControlProtocol}))
	defer srv.Close()

	_, err := api.NewClient(srv.URL, "").CancelStep(context.Background(), "t-1", 1, "step timed out after 4s")
	require.ErrorIs(t, err, api.ErrUnauthorized)
	_, err = api.NewClient(srv.URL, "wrong").CancelStep(context.Background(), "t-1", 1, "step timed out after 4s")
	require.ErrorIs(t, err, api.ErrForbidden)
	require.Empty(t, steps.cancels)

	st, err := api.NewClient(srv.URL, "tok").CancelStep(context.Background(), "t-1", 1, "step timed out after 4s")
	require.NoError(t, err)
	require.Equal(t, api.StepStatus{TxnID: "t-1", Node: "n2", Attempt: 1, State: api.StepRunning, Hook: "install"}, st)
	require.Equal(t, []string{"t-1/1: step timed out after 4s"}, steps.cancels, "served by this node, never forwarded")

	_, err = api.NewClient(srv.URL, "tok").CancelStep(context.Background(), "t-9", 1, "x")
	require.ErrorIs(t, err, api.ErrNotFound)
}

func TestCancelStepRefusesBadInput(t *testing.T) {
	b := &fakeBackend{id: "n2", f: fsm.New(1), leader: "n1", addrs: map[string]string{}}
	steps := &fakeSteps{}
	srv := httptest.NewServer(NewServer(b, ServerOptions{Steps: steps, Speaks: StepControlProtocol}))
	defer srv.Close()
	c := api.NewClient(srv.URL, "")
	for _, tc := range []struct {
		path, body string
	}{
		{"/v1/internal/steps/t-1/one/cancel", `{"reason": "x"}`},
		{"/v1/internal/steps/t-1/1/cancel", ``},
		{"/v1/internal/steps/t-1/1/cancel", `{"reason": "x", "force": true}`},
		{"/v1/internal/steps/t-1/1/cancel", `{"reason": "` + strings.Repeat("x", MaxCancelReason+1) + `"}`},
		{"/v1/internal/steps/bad%20id/1/cancel", `{"reason": "x"}`},
	} {
		var body any
		if tc.body != "" {
			body = json.RawMessage(tc.body)
		}
		_, err := c.Do(context.Background(), http.MethodPost, tc.path, nil, body, nil)
		require.ErrorIs(t, err, api.ErrBadRequest, "%s %s", tc.path, tc.body)
	}
	require.Empty(t, steps.cancels)
}

func TestNodeStepLogs(t *testing.T) {
	b := &fakeBackend{id: "n2", f: fsm.New(1), leader: "n1", addrs: map[string]string{}}
	srv := httptest.NewServer(NewServer(b, ServerOptions{Token: "tok", Steps: &fakeSteps{}, Speaks: StepControlProtocol}))
	defer srv.Close()
	_, err := api.NewClient(srv.URL, "").NodeStepLogs(context.Background(), "t-1")
	require.ErrorIs(t, err, api.ErrUnauthorized, "an internal route: the agent scope")
	logs, err := api.NewClient(srv.URL, "tok").NodeStepLogs(context.Background(), "t-1")
	require.NoError(t, err)
	require.Len(t, logs, 1)
	require.Equal(t, "n2", logs[0].Node)
	require.Equal(t, "disk full\n", logs[0].Hooks[0].Output)
	require.Equal(t, time.Unix(12, 0).UTC(), logs[0].Hooks[0].Ended)

	logs, err = api.NewClient(srv.URL, "tok").NodeStepLogs(context.Background(), "t-2")
	require.NoError(t, err)
	require.NotNil(t, logs)
	require.Empty(t, logs, "a transaction this node never ran a step of has no logs")
}

// TestStepControlRoutesNeedProtocol3: a build that speaks only older
// protocols has neither route, as an older build would not.
func TestStepControlRoutesNeedProtocol3(t *testing.T) {
	require.Equal(t, 3, StepControlProtocol)
	b := &fakeBackend{id: "n2", f: fsm.New(1), leader: "n1", addrs: map[string]string{}}
	steps := &fakeSteps{}
	srv := httptest.NewServer(NewServer(b, ServerOptions{Steps: steps, Speaks: StepControlProtocol - 1}))
	defer srv.Close()
	_, err := api.NewClient(srv.URL, "").CancelStep(context.Background(), "t-1", 1, "x")
	require.ErrorIs(t, err, api.ErrNotFound)
	require.Contains(t, err.Error(), "no route")
	// As an older build answers: it reads "logs" as an attempt number.
	_, err = api.NewClient(srv.URL, "").NodeStepLogs(context.Background(), "t-1")
	require.ErrorIs(t, err, api.ErrBadRequest)
	require.Contains(t, err.Error(), `attempt "logs"`)
	require.Empty(t, steps.cancels)
}

func TestVersionErrorIsForwardedToTheLeaderAndNeedsProtocol3(t *testing.T) {
	addrs := map[string]string{}
	leader := &fakeBackend{id: "n1", f: fsm.New(1), leader: "n1", addrs: addrs}
	follower := &fakeBackend{id: "n2", f: fsm.New(1), leader: "n1", addrs: addrs}
	speaks := fsm.CommandProtocol(fsm.CmdMemberVersionError)
	lsrv := httptest.NewServer(NewServer(leader, ServerOptions{Token: "tok", Speaks: speaks}))
	fsrv := httptest.NewServer(NewServer(follower, ServerOptions{Token: "tok", Speaks: speaks}))
	old := httptest.NewServer(NewServer(follower, ServerOptions{Token: "tok", Speaks: speaks - 1}))
	t.Cleanup(lsrv.Close)
	t.Cleanup(fsrv.Close)
	t.Cleanup(old.Close)
	addrs["n1"] = strings.TrimPrefix(lsrv.URL, "http://")
	ctx := context.Background()

	err := api.NewClient(fsrv.URL, "").ReportVersionError(ctx, "n2", "version hook failed: exited 4")
	require.ErrorIs(t, err, api.ErrUnauthorized)
	err = api.NewClient(fsrv.URL, "tok").ReportVersionError(ctx, "n2", strings.Repeat("x", fsm.MaxVersionError+1))
	require.ErrorIs(t, err, api.ErrInvalid)
	err = api.NewClient(fsrv.URL, "tok").ReportVersionError(ctx, "bad id", "x")
	require.ErrorIs(t, err, api.ErrInvalid)
	require.Empty(t, leader.versionErrors)

	require.NoError(t, api.NewClient(fsrv.URL, "tok").ReportVersionError(ctx, "n2", "version hook failed: exited 4"))
	require.Equal(t, []fsm.MemberVersionError{{ID: "n2", Error: "version hook failed: exited 4"}}, leader.versionErrors)
	require.Empty(t, follower.versionErrors)

	err = api.NewClient(old.URL, "tok").ReportVersionError(ctx, "n2", "x")
	require.ErrorIs(t, err, api.ErrNotFound, "a build of protocol 2 has no such route")
}

func TestRemovalIsForwardedWithItsForce(t *testing.T) {
	leader, follower, _, fsrv := pair(t, "tok")
	c := api.NewClient(fsrv.URL, "tok")
	out, err := c.RemoveMember(context.Background(), "n3", true)
	require.NoError(t, err)
	require.Equal(t, api.RemoveResponse{Removed: "n3", Forced: true}, out)
	_, err = c.RemoveMember(context.Background(), "n4", false)
	require.NoError(t, err)
	require.Equal(t, []string{"n3 forced", "n4"}, leader.removals)
	require.Empty(t, follower.removals)

	_, err = api.NewClient(fsrv.URL, "").RemoveMember(context.Background(), "n3", true)
	require.ErrorIs(t, err, api.ErrUnauthorized)
	_, err = c.Do(context.Background(), http.MethodDelete, "/v1/members/n3", map[string][]string{"force": {"yes"}}, nil, nil)
	require.ErrorIs(t, err, api.ErrBadRequest)
	require.Contains(t, err.Error(), `force="yes": want true or false`)
	require.Len(t, leader.removals, 2, "refused requests remove nothing")
}

func TestOperatorRaftIsAProtocol3Route(t *testing.T) {
	b := &fakeBackend{id: "n1", f: fsm.New(1), leader: "n1", addrs: map[string]string{}}
	for speaks, want := range map[int]error{2: api.ErrNotFound, 3: nil} {
		srv := httptest.NewServer(NewServer(b, ServerOptions{Speaks: speaks}))
		rep, err := api.NewClient(srv.URL, "").RaftReport(context.Background(), false)
		srv.Close()
		if want != nil {
			require.ErrorIs(t, err, want, "a build speaking protocol %d", speaks)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, api.RaftReport{Observer: "n1", Leader: "n1"}, rep)
	}
}

func TestJoinFromANewRaftAddressMovesTheMemberFirst(t *testing.T) {
	leader, _, _, fsrv := pair(t, "")
	req := JoinRequestOut(member("n3", 7000))
	req.PriorRaftAddr = "127.0.0.1:6000"
	_, err := api.NewClient(fsrv.URL, "").Join(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, []fsm.MemberMove{{ID: "n3", RaftAddr: "127.0.0.1:7000", PriorRaftAddr: "127.0.0.1:6000"}}, leader.moves)
	require.Len(t, leader.joins, 1)

	req.PriorRaftAddr = req.RaftAddr
	_, err = api.NewClient(fsrv.URL, "").Join(context.Background(), req)
	require.NoError(t, err)
	require.Len(t, leader.moves, 1, "a prior address equal to the current one moves nothing")
}
