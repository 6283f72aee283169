package rpc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// fakeUpgrades records what the routes asked of the transaction backend.
type fakeUpgrades struct {
	b        *fakeBackend
	mu       sync.Mutex
	controls []api.ControlRequest
	logsArgs [][3]string
	logs     []api.StepLogs
	hooks    map[string]string
	lives    int
}

func (u *fakeUpgrades) Plan(context.Context, api.StartRequest) (api.Plan, error) {
	return api.Plan{}, nil
}
func (u *fakeUpgrades) Start(context.Context, api.StartRequest) (*fsm.Txn, error) {
	return nil, fsm.ErrConflict
}
func (u *fakeUpgrades) Control(_ context.Context, id, _ string, req api.ControlRequest) (*fsm.Txn, error) {
	u.mu.Lock()
	u.controls = append(u.controls, req)
	u.mu.Unlock()
	return u.b.f.Read().Txn(id), nil
}
func (u *fakeUpgrades) Notice(context.Context, api.Notice) error { return nil }
func (u *fakeUpgrades) Logs(_ context.Context, id, node, hook string) ([]api.StepLogs, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.logsArgs = append(u.logsArgs, [3]string{id, node, hook})
	return u.logs, nil
}
func (u *fakeUpgrades) RunningHooks(context.Context, string) map[string]string {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.lives++
	return u.hooks
}

// upgradesServer serves a leader holding transaction t-1, whose step on n1
// runs, with the transaction routes of a build speaking protocol speaks.
func upgradesServer(t *testing.T, speaks int) (*fakeUpgrades, *api.Client) {
	t.Helper()
	b := &fakeBackend{id: "n1", f: fsm.New(1), leader: "n1", addrs: map[string]string{}}
	apply := func(typ fsm.CommandType, body any) {
		b.index++
		data, err := fsm.Encode(typ, 1, time.Unix(0, 0), body)
		require.NoError(t, err)
		require.NoError(t, b.f.Apply(&raft.Log{Index: b.index, Type: raft.LogCommand, Data: data}).(*fsm.Result).Err)
	}
	apply(fsm.CmdMemberJoin, fsm.MemberJoin{Member: member("n1", 7000)})
	apply(fsm.CmdMemberJoin, fsm.MemberJoin{Member: member("n2", 7010)})
	apply(fsm.CmdTxnStart, fsm.TxnStart{Txn: fsm.Txn{ID: "t-1", TargetVersion: "2.0.0", Strategy: "by-id", MaxParallel: 1,
		OnFailure: fsm.OnFailureHalt, StepTimeout: fsm.Duration(time.Minute), ProgressDeadline: fsm.Duration(time.Hour),
		Steps: []fsm.Step{{Node: "n1"}, {Node: "n2", Batch: 1}}}})
	apply(fsm.CmdStepBegin, fsm.StepBegin{TxnID: "t-1", Node: "n1", Attempt: 1})
	u := &fakeUpgrades{b: b}
	srv := httptest.NewServer(NewServer(b, ServerOptions{Upgrades: u, Speaks: speaks}))
	t.Cleanup(srv.Close)
	return u, api.NewClient(srv.URL, "")
}

func TestRetryTakesForwardAndAbortTakesRollback(t *testing.T) {
	u, c := upgradesServer(t, 3)
	ctx := context.Background()
	_, err := c.ControlUpgrade(ctx, "t-1", api.ActionRetry, api.ControlRequest{Forward: true})
	require.NoError(t, err)
	_, err = c.ControlUpgrade(ctx, "t-1", api.ActionRetry, api.ControlRequest{})
	require.NoError(t, err)
	_, err = c.ControlUpgrade(ctx, "t-1", api.ActionAbort, api.ControlRequest{Rollback: true})
	require.NoError(t, err)
	require.Equal(t, []api.ControlRequest{{Forward: true}, {}, {Rollback: true}}, u.controls)

	_, err = c.ControlUpgrade(ctx, "t-1", api.ActionRetry, api.ControlRequest{Rollback: true})
	require.ErrorIs(t, err, api.ErrInvalid)
	require.Contains(t, err.Error(), "retry takes no rollback")
	_, err = c.ControlUpgrade(ctx, "t-1", api.ActionAbort, api.ControlRequest{Forward: true})
	require.ErrorIs(t, err, api.ErrInvalid)
	require.Contains(t, err.Error(), "abort takes no forward")
	require.Len(t, u.controls, 3, "a refused request reaches nothing")
}

func TestLiveReadNamesTheRunningHooks(t *testing.T) {
	u, c := upgradesServer(t, 3)
	u.hooks = map[string]string{"n1": "install"}
	ctx := context.Background()
	txn, _, err := c.Upgrade(ctx, "t-1", api.Wait{})
	require.NoError(t, err)
	require.Empty(t, txn.Step("n1").Hook)
	require.Zero(t, u.lives, "a plain read asks no node")

	txn, idx, err := c.UpgradeLive(ctx, "latest", api.Wait{})
	require.NoError(t, err)
	require.Equal(t, "install", txn.Step("n1").Hook)
	require.Empty(t, txn.Step("n2").Hook)
	require.Equal(t, 1, u.lives)

	// A live read long-polls like any other, then asks.
	start := time.Now()
	_, _, err = c.UpgradeLive(ctx, "t-1", api.Wait{Index: idx, Wait: 200 * time.Millisecond})
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
	require.Equal(t, 2, u.lives)
}

func TestUpgradeLogsRoute(t *testing.T) {
	u, c := upgradesServer(t, 3)
	u.logs = []api.StepLogs{{TxnID: "t-1", Node: "n2", Error: "could not get the hook output of n2: connection refused"}}
	logs, err := c.UpgradeLogs(context.Background(), "t-1", "n2", "install")
	require.NoError(t, err)
	require.Equal(t, u.logs, logs)
	require.Equal(t, [][3]string{{"t-1", "n2", "install"}}, u.logsArgs)

	_, err = c.UpgradeLogs(context.Background(), "t-1", "bad id!", "")
	require.ErrorIs(t, err, api.ErrInvalid)
	require.Len(t, u.logsArgs, 1)

	// A build of an older protocol has no such route.
	_, old := upgradesServer(t, 2)
	_, err = old.UpgradeLogs(context.Background(), "t-1", "", "")
	var apiErr *api.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusNotFound, apiErr.Status)
}
