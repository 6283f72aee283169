package rpc

import (
	"context"
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

// fakeSteps counts the steps it was asked to run.
type fakeSteps struct{ runs int }

func (f *fakeSteps) RunStep(_ context.Context, req api.StepRequest) (api.StepStatus, error) {
	f.runs++
	return api.StepStatus{TxnID: req.TxnID, Attempt: req.Attempt, State: api.StepRunning}, nil
}
func (f *fakeSteps) StepStatus(string, uint64) (api.StepStatus, bool) { return api.StepStatus{}, false }
func (f *fakeSteps) Diagnostic(context.Context, bool) api.Diagnostic  { return api.Diagnostic{} }

func TestStepsAreServedLocallyAndNeedTheToken(t *testing.T) {
	b := &fakeBackend{id: "n2", f: fsm.New(1), leader: "n1", addrs: map[string]string{}}
	steps := &fakeSteps{}
	srv := httptest.NewServer(NewServer(b, ServerOptions{Token: "tok", Steps: steps}))
	defer srv.Close()
	req := api.StepRequest{TxnID: "t-1", Node: "n2", Attempt: 1, TargetVersion: "2.0.0"}

	_, err := api.NewClient(srv.URL, "").RunStep(context.Background(), req)
	require.ErrorIs(t, err, api.ErrUnauthorized)
	require.Zero(t, steps.runs)

	// A follower runs its own step; it is never forwarded to the leader
	// (whose address is unknown here, so forwarding would fail).
	st, err := api.NewClient(srv.URL, "tok").RunStep(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, api.StepRunning, st.State)
	require.Equal(t, 1, steps.runs)
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
