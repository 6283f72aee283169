package rpc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/baton-upgrade/baton/rpc/nodeauth"
	"github.com/stretchr/testify/require"
)

// fakeClients commits registrations into the fake backend's state and
// answers every poll with what it was told to.
type fakeClients struct {
	t     *testing.T
	b     *fakeBackend
	polls []string
}

func (f *fakeClients) RegisterClient(_ context.Context, m fsm.Member) (fsm.Member, error) {
	var err error
	f.b.f.View(func(s *fsm.State) { err = s.CheckClientRegister(fsm.ClientRegister{Member: m}) })
	if err != nil {
		return fsm.Member{}, err
	}
	f.b.apply(f.t, fsm.CmdClientRegister, fsm.ClientRegister{Member: m})
	return f.b.f.Read().Members[m.ID], nil
}

func (f *fakeClients) PollClient(_ context.Context, id string, _ api.PollRequest) (api.PollResponse, error) {
	f.polls = append(f.polls, id)
	return api.PollResponse{Steps: []api.StepRequest{}, Cancels: []api.CancelOrder{}}, nil
}

// A client registers only with a request signed with the key it
// registers; later it must sign with the key on record. Only the client
// itself may poll for its work.
func TestClientRegistrationAndPollIdentity(t *testing.T) {
	c := newCluster(t)
	b := c.membersOf(t, "n1")
	fc := &fakeClients{t: t, b: b}
	srv := httptest.NewServer(NewServer(b, ServerOptions{Token: "tok", Clients: fc, Speaks: 3}))
	defer srv.Close()
	ctx := context.Background()
	kc, _, err := nodeauth.LoadOrCreate(filepath.Join(t.TempDir(), "c1.key"))
	require.NoError(t, err)
	other := c.keys["n3"]
	reg := api.ClientRegistration{ID: "c1", Version: "1.0.0", Protocol: api.ProtocolRange{Min: 1, Max: 3}, NodeKey: kc.Public()}

	_, err = api.NewClient(srv.URL, "tok").RegisterClient(ctx, reg)
	require.ErrorIs(t, err, api.ErrForbidden, "unsigned")
	_, err = api.NewClient(srv.URL, "tok").WithHook(signer("c1", other)).RegisterClient(ctx, reg)
	require.ErrorIs(t, err, api.ErrForbidden, "signed with another key")
	_, err = api.NewClient(srv.URL, "tok").WithHook(signer("c2", kc)).RegisterClient(ctx, reg)
	require.ErrorIs(t, err, api.ErrForbidden, "signed as another id")
	bad := reg
	bad.NodeKey = "nonsense"
	_, err = api.NewClient(srv.URL, "tok").WithHook(signer("c1", kc)).RegisterClient(ctx, bad)
	require.ErrorIs(t, err, api.ErrInvalid)
	taken := reg
	taken.ID = "n2"
	_, err = api.NewClient(srv.URL, "tok").WithHook(signer("n2", kc)).RegisterClient(ctx, taken)
	require.Error(t, err, "a server's id")
	_, ok := b.f.Read().Members["c1"]
	require.False(t, ok, "a refused registration commits nothing")
	require.False(t, b.f.Read().Members["n2"].Client)

	m, err := api.NewClient(srv.URL, "tok").WithHook(signer("c1", kc)).RegisterClient(ctx, reg)
	require.NoError(t, err)
	require.True(t, m.Client)
	require.Empty(t, m.RaftAddr)
	require.Empty(t, m.HTTPAddr)
	require.False(t, m.Voter)
	require.Equal(t, kc.Public(), b.f.Read().Members["c1"].NodeKey)

	// The key on record now decides: another key may not take c1 over.
	takeover := reg
	takeover.NodeKey = other.Public()
	_, err = api.NewClient(srv.URL, "tok").WithHook(signer("c1", other)).RegisterClient(ctx, takeover)
	require.ErrorIs(t, err, api.ErrForbidden)
	require.Equal(t, kc.Public(), b.f.Read().Members["c1"].NodeKey)

	// Polls: only c1, signed with its key, for itself.
	_, err = api.NewClient(srv.URL, "tok").PollClient(ctx, "c1", api.PollRequest{})
	require.ErrorIs(t, err, api.ErrForbidden, "unsigned")
	_, err = api.NewClient(srv.URL, "tok").WithHook(signer("n3", other)).PollClient(ctx, "c1", api.PollRequest{})
	require.ErrorIs(t, err, api.ErrForbidden, "another node")
	_, err = api.NewClient(srv.URL, "tok").WithHook(signer("c1", kc)).PollClient(ctx, "c9", api.PollRequest{})
	require.ErrorIs(t, err, api.ErrNotFound, "no such client")
	_, err = api.NewClient(srv.URL, "tok").WithHook(signer("c1", kc)).PollClient(ctx, "c1",
		api.PollRequest{Steps: []api.StepStatus{{TxnID: "t-1", Node: "n2", Attempt: 1, State: api.StepRunning}}})
	require.ErrorIs(t, err, api.ErrInvalid, "a report about another node")
	require.Empty(t, fc.polls)
	_, err = api.NewClient(srv.URL, "tok").WithHook(signer("c1", kc)).PollClient(ctx, "c1", api.PollRequest{})
	require.NoError(t, err)
	require.Equal(t, []string{"c1"}, fc.polls)

	// A server may not poll as a client.
	_, err = api.NewClient(srv.URL, "tok").WithHook(signer("n2", c.keys["n2"])).PollClient(ctx, "n2", api.PollRequest{})
	require.Error(t, err)
}

var _ http.Handler = (*Server)(nil)
