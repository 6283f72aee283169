package rpc

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

type fakeService struct{ actions []string }

func (f *fakeService) ServiceProbe(_ context.Context, lag bool) api.ServiceProbe {
	p := api.ServiceProbe{ID: "n1", Hooks: []string{api.HookRole, api.HookLag}, Role: api.RoleReplica}
	if lag {
		l := uint64(3)
		p.Lag = &l
	}
	return p
}

func (f *fakeService) ServiceAction(_ context.Context, action string, req api.ServiceActionRequest) (api.ServiceActionResult, error) {
	f.actions = append(f.actions, action+" "+req.NewPrimary)
	return api.ServiceActionResult{ID: "n1", Action: action, Ran: true}, nil
}

// The service routes run hooks, so they need the token, and they are
// protocol 3: a build that speaks only older ones does not have them.
func TestServiceRoutes(t *testing.T) {
	b := &fakeBackend{id: "n1", f: fsm.New(3), leader: "n1", addrs: map[string]string{}}
	svc := &fakeService{}
	srv := httptest.NewServer(NewServer(b, ServerOptions{Token: "s3cret", Service: svc, Speaks: 3}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := api.NewClient(srv.URL, "s3cret")

	p, err := c.ServiceProbe(ctx, true)
	require.NoError(t, err)
	require.Equal(t, api.RoleReplica, p.Role)
	require.Equal(t, uint64(3), *p.Lag)
	require.True(t, p.Has(api.HookLag))

	req := api.ServiceActionRequest{TxnID: "t-1", OldPrimary: "n2", NewPrimary: "n1", Phase: api.SwitchDemoted, Index: 7}
	res, err := c.ServiceAction(ctx, api.HookPromote, req)
	require.NoError(t, err)
	require.True(t, res.Ran)
	require.Equal(t, []string{"promote n1"}, svc.actions)

	_, err = api.NewClient(srv.URL, "").ServiceProbe(ctx, false)
	require.ErrorIs(t, err, api.ErrUnauthorized)
	_, err = api.NewClient(srv.URL, "").ServiceAction(ctx, api.HookPromote, req)
	require.ErrorIs(t, err, api.ErrUnauthorized)
	_, err = c.ServiceAction(ctx, "reboot", req)
	require.ErrorIs(t, err, api.ErrNotFound)
	bad := req
	bad.NewPrimary = "no such/id"
	_, err = c.ServiceAction(ctx, api.HookPromote, bad)
	require.ErrorIs(t, err, api.ErrInvalid)
	require.Len(t, svc.actions, 1, "refused requests run nothing")

	old := httptest.NewServer(NewServer(b, ServerOptions{Token: "s3cret", Service: svc, Speaks: 2}))
	defer old.Close()
	_, err = api.NewClient(old.URL, "s3cret").ServiceProbe(ctx, false)
	require.ErrorIs(t, err, api.ErrNotFound, "a protocol-2 build has no service routes")
}

func TestMemberAndTxnCarryTheServiceFields(t *testing.T) {
	requireJSON(t, memberOut(fsm.Member{ID: "n2", Role: fsm.RolePrimary}, false),
		`{"id":"n2","raft_addr":"","http_addr":"","version":"","voter":false,"protocol":{"min":0,"max":0},"leader":false,"status":"unknown","role":"primary"}`)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	txn := &fsm.Txn{ID: "t-1", State: fsm.TxnRunning, MaxLag: 10, Switchovers: []fsm.Switchover{{OldPrimary: "n2", Candidate: "n3",
		Phase: fsm.SwitchCommitted, Diagnostic: "healthy", CandidateLag: 4, MaxLag: 10, StartedAt: at, UpdatedAt: at}}}
	out := txnOut(&fsm.State{Members: map[string]fsm.Member{}}, txn)
	require.Equal(t, uint64(10), out.MaxLag)
	require.Equal(t, []api.Switchover{{OldPrimary: "n2", Candidate: "n3", Phase: api.SwitchCommitted, Diagnostic: "healthy",
		CandidateLag: 4, MaxLag: 10, StartedAt: at, UpdatedAt: at}}, out.Switchovers)
	for _, p := range []fsm.SwitchPhase{fsm.SwitchChosen, fsm.SwitchDemoted, fsm.SwitchPromoted, fsm.SwitchCommitted, fsm.SwitchDone, fsm.SwitchFailed} {
		require.Contains(t, []string{api.SwitchChosen, api.SwitchDemoted, api.SwitchPromoted, api.SwitchCommitted, api.SwitchDone, api.SwitchFailed},
			switchoverOut(fsm.Switchover{Phase: p}).Phase, "every phase has its wire name")
	}
	require.Equal(t, fsm.RolePrimary, api.RolePrimary)
	require.Equal(t, fsm.RoleReplica, api.RoleReplica)
}
