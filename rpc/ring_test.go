package rpc

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// fakeRing records what the ring routes ask of the leader.
type fakeRing struct {
	mu       sync.Mutex
	set      [][]string
	seen     map[string]uint64
	services []fsm.MemberService
}

func (f *fakeRing) Ring() api.Ring { return api.Ring{Order: []string{"n1", "n2"}} }
func (f *fakeRing) SetRing(_ context.Context, order []string) (api.Ring, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.set = append(f.set, order)
	return api.Ring{Order: order, Explicit: true}, nil
}
func (f *fakeRing) RegisterGateway(_ context.Context, name string) (api.Gateway, error) {
	return api.Gateway{Name: name}, nil
}
func (f *fakeRing) GatewaySeen(_ context.Context, name string, index uint64) (api.Gateway, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if name != "gw1" {
		return api.Gateway{}, fsm.ErrNotFound
	}
	f.seen[name] = index
	return api.Gateway{Name: name, SeenIndex: index}, nil
}
func (f *fakeRing) DeregisterGateway(context.Context, string) error { return nil }
func (f *fakeRing) Gateways() []api.Gateway {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []api.Gateway{}
	for n, i := range f.seen {
		out = append(out, api.Gateway{Name: n, SeenIndex: i})
	}
	return out
}
func (f *fakeRing) RecordServiceAddr(_ context.Context, c fsm.MemberService) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.services = append(f.services, c)
	return nil
}

func ringServer(t *testing.T, speaks int) (*fakeRing, *api.Client, *api.Client) {
	t.Helper()
	b := &fakeBackend{id: "n1", f: fsm.New(1), leader: "n1", addrs: map[string]string{}}
	r := &fakeRing{seen: map[string]uint64{}}
	srv := httptest.NewServer(NewServer(b, ServerOptions{Token: "tok", Ring: r, Speaks: speaks}))
	t.Cleanup(srv.Close)
	return r, api.NewClient(srv.URL, "tok"), api.NewClient(srv.URL, "")
}

func TestRingRoutes(t *testing.T) {
	r, cl, anon := ringServer(t, 3)
	ctx := context.Background()
	ring, _, err := anon.Ring(ctx, api.Wait{})
	require.NoError(t, err, "reading the ring needs no token")
	require.Equal(t, []string{"n1", "n2"}, ring.Order)

	_, err = anon.SetRing(ctx, []string{"n2", "n1"})
	require.ErrorIs(t, err, api.ErrUnauthorized, "setting it is a write")
	got, err := cl.SetRing(ctx, []string{"n2", "n1"})
	require.NoError(t, err)
	require.Equal(t, api.Ring{Order: []string{"n2", "n1"}, Explicit: true}, got)
	_, err = cl.SetRing(ctx, []string{"n2", "bad id"})
	require.ErrorIs(t, err, api.ErrInvalid)
	r.mu.Lock()
	require.Equal(t, [][]string{{"n2", "n1"}}, r.set, "a malformed id never reaches the leader")
	r.mu.Unlock()

	_, err = cl.RegisterGateway(ctx, "GW")
	require.ErrorIs(t, err, api.ErrInvalid)
	require.NoError(t, cl.GatewaySeen(ctx, "gw1", 42))
	require.ErrorIs(t, cl.GatewaySeen(ctx, "gw2", 42), api.ErrNotFound)
	require.ErrorIs(t, anon.GatewaySeen(ctx, "gw1", 43), api.ErrUnauthorized)
	list, _, err := cl.Gateways(ctx, api.Wait{})
	require.NoError(t, err)
	require.Equal(t, []api.Gateway{{Name: "gw1", SeenIndex: 42}}, list)

	require.NoError(t, cl.ReportServiceAddr(ctx, "n2", "10.0.0.2:80"))
	require.ErrorIs(t, cl.ReportServiceAddr(ctx, "n2", "10.0.0.2"), api.ErrInvalid)
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Equal(t, []fsm.MemberService{{ID: "n2", ServiceAddr: "10.0.0.2:80"}}, r.services)
}

// A build that speaks only protocol 2 has none of the routes.
func TestRingRoutesAreProtocol3(t *testing.T) {
	_, cl, _ := ringServer(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := cl.Ring(ctx, api.Wait{})
	require.ErrorIs(t, err, api.ErrNotFound)
	_, err = cl.RegisterGateway(ctx, "gw1")
	require.ErrorIs(t, err, api.ErrNotFound)
}

func TestRingAndGatewayJSONKeepTheirShape(t *testing.T) {
	requireJSON(t, api.Ring{Order: []string{"n1"}, Explicit: true}, `{"order":["n1"],"explicit":true}`)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	requireJSON(t, api.Gateway{Name: "gw1", RegisteredAt: at, SeenIndex: 7, LastSeen: at},
		`{"name":"gw1","registered_at":"2026-03-01T12:00:00Z","seen_index":7,"last_seen":"2026-03-01T12:00:00Z"}`)
	requireJSON(t, api.Gateway{Name: "gw1", RegisteredAt: at}, `{"name":"gw1","registered_at":"2026-03-01T12:00:00Z","seen_index":0}`)
	requireJSON(t, memberOut(fsm.Member{ID: "n5", ServiceAddr: "10.0.0.5:8080"}, false),
		`{"id":"n5","raft_addr":"","http_addr":"","version":"","voter":false,"protocol":{"min":0,"max":0},"leader":false,`+
			`"status":"unknown","service_addr":"10.0.0.5:8080"}`)
	requireJSON(t, txnOut(&fsm.State{Members: map[string]fsm.Member{}}, &fsm.Txn{ID: "t", Strategy: "ring", Ring: []string{"n1", "n2", "n3"}}).Ring,
		`["n1","n2","n3"]`)
}
