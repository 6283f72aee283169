package rpc

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/baton-upgrade/baton/rpc/nodeauth"
	"github.com/stretchr/testify/require"
)

// nodeServer is n2's API in newCluster: the node whose step runs, with
// the shared token "tok".
func nodeServer(t *testing.T, c *cluster) (*fakeBackend, *fakeSteps, string) {
	t.Helper()
	b := c.backendOf(t, "n2")
	steps := &fakeSteps{}
	srv := httptest.NewServer(NewServer(b, ServerOptions{Token: "tok", Steps: steps, Service: &fakeService{}, Speaks: 3}))
	t.Cleanup(srv.Close)
	return b, steps, srv.URL
}

var stepOfN2 = api.StepRequest{TxnID: "t-1", Node: "n2", Attempt: 1, TargetVersion: "2.0.0", FromVersion: "1.0.0", ProtocolVersion: 3}

// A node runs a step only when the Raft leader, as its own replica knows
// it, sends it: the token alone, or another member's signature, is
// refused, and no hook runs.
func TestAStepIsAcceptedOnlyFromTheLeader(t *testing.T) {
	c := newCluster(t)
	_, steps, url := nodeServer(t, c)
	ctx := context.Background()

	_, err := api.NewClient(url, "tok").RunStep(ctx, stepOfN2)
	require.ErrorIs(t, err, api.ErrForbidden, "the shared token alone is no node identity")
	_, err = api.NewClient(url, "tok").WithHook(signer("n3", c.keys["n3"])).RunStep(ctx, stepOfN2)
	require.ErrorIs(t, err, api.ErrForbidden)
	require.Contains(t, err.Error(), "only from the leader n1; this request is from n3")
	_, err = api.NewClient(url, "tok").WithHook(signer("n1", c.keys["n3"])).RunStep(ctx, stepOfN2)
	require.ErrorIs(t, err, api.ErrForbidden, "n3's key cannot sign as n1")
	_, err = api.NewClient(url, "tok").WithHook(signer("n1", c.keys["n1"])).CancelStep(ctx, "t-1", 1, "no")
	require.NoError(t, err, "the leader may cancel")
	_, err = api.NewClient(url, "tok").WithHook(signer("n3", c.keys["n3"])).CancelStep(ctx, "t-1", 1, "no")
	require.ErrorIs(t, err, api.ErrForbidden, "a cancel too comes only from the leader")
	_, err = api.NewClient(url, "tok").WithHook(signer("n3", c.keys["n3"])).ServiceAction(ctx, api.HookPromote,
		api.ServiceActionRequest{TxnID: "t-1", OldPrimary: "n1", NewPrimary: "n2"})
	require.ErrorIs(t, err, api.ErrForbidden, "so does a service action")
	require.Zero(t, steps.runs, "no step ran")

	st, err := api.NewClient(url, "tok").WithHook(signer("n1", c.keys["n1"])).RunStep(ctx, stepOfN2)
	require.NoError(t, err)
	require.Equal(t, api.StepRunning, st.State)
	require.Equal(t, 1, steps.runs)
}

// The step route checks the step against the node's own replica: a
// transaction or attempt that was never committed, or a step that differs
// from it, is refused, from the leader too; a transaction id that is not
// an id is refused before anything is looked up.
func TestAStepMustExistAsCommitted(t *testing.T) {
	c := newCluster(t)
	_, steps, url := nodeServer(t, c)
	leader := api.NewClient(url, "tok").WithHook(signer("n1", c.keys["n1"]))
	ctx := context.Background()
	cases := []struct {
		name string
		edit func(*api.StepRequest)
		want error
	}{
		{"no such transaction", func(r *api.StepRequest) { r.TxnID = "t-9" }, api.ErrNotFound},
		{"a path for an id", func(r *api.StepRequest) { r.TxnID = "../../evil" }, api.ErrInvalid},
		{"an attempt not begun", func(r *api.StepRequest) { r.Attempt = 2 }, api.ErrStale},
		{"another version", func(r *api.StepRequest) { r.TargetVersion = "6.6.6" }, api.ErrInvalid},
		{"an artifact not committed", func(r *api.StepRequest) {
			r.ArtifactURL, r.ArtifactSHA256 = "https://evil.example/x", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
		}, api.ErrInvalid},
		{"a rollback not begun", func(r *api.StepRequest) { r.Rollback = true }, api.ErrInvalid},
		{"a node without a step", func(r *api.StepRequest) { r.Node = "n1" }, nil},
	}
	for _, tc := range cases {
		req := stepOfN2
		tc.edit(&req)
		_, err := leader.RunStep(ctx, req)
		if tc.want == nil {
			require.Error(t, err, tc.name)
		} else {
			require.ErrorIs(t, err, tc.want, tc.name)
		}
	}
	require.Zero(t, steps.runs, "no hook ran")
	_, err := api.NewClient(url, "tok").WithHook(signer("n1", c.keys["n1"])).StepStatus(ctx, "../../evil", 1)
	require.ErrorIs(t, err, api.ErrInvalid)
}

// A step sent with the leader's index waits until the node's replica has
// applied it: the step's begin arriving a moment after the step is found.
func TestAStepWaitsForTheLeadersIndex(t *testing.T) {
	c := newCluster(t)
	b := c.membersOf(t, "n2")
	steps := &fakeSteps{}
	srv := httptest.NewServer(NewServer(b, ServerOptions{Token: "tok", Steps: steps, Speaks: 3}))
	defer srv.Close()
	url := srv.URL
	req := stepOfN2
	b.mu.Lock()
	want := b.index + 2
	b.mu.Unlock()
	client := api.NewClient(url, "tok").WithHook(func(r *http.Request, body []byte) {
		r.Header.Set(api.CommitIndexHeader, strconv.FormatUint(want, 10))
		signer("n1", c.keys["n1"])(r, body)
	})
	var (
		wg  sync.WaitGroup
		err error
	)
	wg.Add(1)
	go func() { defer wg.Done(); _, err = client.RunStep(context.Background(), req) }()
	// The node's replica learns of t-1 and its step only now.
	startTxn(t, b)
	wg.Wait()
	require.NoError(t, err)
	require.Equal(t, 1, steps.runs)
}

// recordingUpgrades records the notices committed.
type recordingUpgrades struct {
	fakeUpgrades
	mu      sync.Mutex
	notices []api.Notice
}

func (u *recordingUpgrades) Notice(_ context.Context, n api.Notice) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.notices = append(u.notices, n)
	return nil
}

// A completion notice is accepted only from the node it is about; one
// forged with another node's identity (or the token alone) is refused and
// never reaches the coordinator.
func TestANoticeIsAcceptedOnlyFromItsNode(t *testing.T) {
	c := newCluster(t)
	b := c.backendOf(t, "n1")
	u := &recordingUpgrades{fakeUpgrades: fakeUpgrades{b: b}}
	srv := httptest.NewServer(NewServer(b, ServerOptions{Token: "tok", Upgrades: u, Speaks: 3}))
	defer srv.Close()
	ctx := context.Background()
	n := api.Notice{TxnID: "t-1", Node: "n2", Attempt: 1, State: api.StepDone, Version: "2.0.0"}

	require.ErrorIs(t, api.NewClient(srv.URL, "tok").Notice(ctx, n), api.ErrForbidden)
	require.ErrorIs(t, api.NewClient(srv.URL, "tok").WithHook(signer("n3", c.keys["n3"])).Notice(ctx, n), api.ErrForbidden)
	require.ErrorIs(t, api.NewClient(srv.URL, "tok").WithHook(signer("n2", c.keys["n3"])).Notice(ctx, n), api.ErrForbidden)
	bad := n
	bad.TxnID = "../../evil"
	require.ErrorIs(t, api.NewClient(srv.URL, "tok").WithHook(signer("n2", c.keys["n2"])).Notice(ctx, bad), api.ErrInvalid)
	require.Empty(t, u.notices)

	require.NoError(t, api.NewClient(srv.URL, "tok").WithHook(signer("n2", c.keys["n2"])).Notice(ctx, n))
	require.Equal(t, []api.Notice{n}, u.notices)
}

// A node key is registered only by a request signed with it, and a
// member keeps the first key on record; while a member has none, its
// requests are judged as before node identities (the token alone).
func TestNodeKeyRegistration(t *testing.T) {
	c := newCluster(t)
	b := &fakeBackend{id: "n1", f: fsm.NewFor(3, 3), leader: "n1", addrs: map[string]string{}}
	m := member("n2", 7010)
	m.Protocol = fsm.ProtocolRange{Min: 1, Max: 3}
	b.apply(t, fsm.CmdMemberJoin, fsm.MemberJoin{Member: m})
	srv := httptest.NewServer(NewServer(b, ServerOptions{Token: "tok", Upgrades: &recordingUpgrades{}, Speaks: 3}))
	defer srv.Close()
	ctx := context.Background()
	k2, other := c.keys["n2"], c.keys["n3"]

	err := api.NewClient(srv.URL, "tok").RegisterNodeKey(ctx, "n2", k2.Public())
	require.ErrorIs(t, err, api.ErrForbidden, "unsigned")
	err = api.NewClient(srv.URL, "tok").WithHook(signer("n2", other)).RegisterNodeKey(ctx, "n2", k2.Public())
	require.ErrorIs(t, err, api.ErrForbidden, "signed with another key than the one it registers")
	err = api.NewClient(srv.URL, "tok").WithHook(signer("n2", k2)).RegisterNodeKey(ctx, "n9", k2.Public())
	require.Error(t, err, "signed as another member")
	require.Empty(t, b.f.Read().Members["n2"].NodeKey)

	require.NoError(t, api.NewClient(srv.URL, "tok").WithHook(signer("n2", k2)).RegisterNodeKey(ctx, "n2", k2.Public()))
	require.Equal(t, k2.Public(), b.f.Read().Members["n2"].NodeKey)
	require.NoError(t, api.NewClient(srv.URL, "tok").WithHook(signer("n2", k2)).RegisterNodeKey(ctx, "n2", k2.Public()), "again: no change")

	err = api.NewClient(srv.URL, "tok").WithHook(signer("n2", other)).RegisterNodeKey(ctx, "n2", other.Public())
	require.ErrorIs(t, err, api.ErrForbidden, "a second key for n2 (signed as n2 with a key not on record)")
	require.Equal(t, k2.Public(), b.f.Read().Members["n2"].NodeKey)

	// n2's join now needs n2's signature.
	req := JoinRequestOut(m)
	_, err = api.NewClient(srv.URL, "tok").Join(ctx, req)
	require.ErrorIs(t, err, api.ErrForbidden)
	_, err = api.NewClient(srv.URL, "tok").WithHook(signer("n2", k2)).Join(ctx, req)
	require.NoError(t, err)
	require.Equal(t, k2.Public(), b.f.Read().Members["n2"].NodeKey, "a join keeps the key on record")
}

func TestNodeKeyFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), nodeauth.KeyFile)
	k, created, err := nodeauth.LoadOrCreate(path)
	require.NoError(t, err)
	require.True(t, created)
	again, created, err := nodeauth.LoadOrCreate(path)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, k.Public(), again.Public())
}

// With TLS, a verified certificate naming a member is that node's
// identity for a request it sent itself; a certificate of another name,
// or a forwarded request, proves nothing by its connection.
func TestAVerifiedCertificateNamesTheNode(t *testing.T) {
	c := newCluster(t)
	b := c.backendOf(t, "n2")
	steps := &fakeSteps{}
	peer := "n1"
	srv := httptest.NewServer(NewServer(b, ServerOptions{Token: "tok", Steps: steps, Speaks: 3,
		PeerName: func(*http.Request) string { return peer }}))
	defer srv.Close()
	ctx := context.Background()
	_, err := api.NewClient(srv.URL, "tok").RunStep(ctx, stepOfN2)
	require.NoError(t, err, "the leader's certificate")
	require.Equal(t, 1, steps.runs)

	peer = "n3"
	_, err = api.NewClient(srv.URL, "tok").RunStep(ctx, stepOfN2)
	require.ErrorIs(t, err, api.ErrForbidden, "another member's certificate")
	peer = "alice"
	_, err = api.NewClient(srv.URL, "").Diagnostic(ctx, false)
	require.ErrorIs(t, err, api.ErrUnauthorized, "a certificate that names no member holds no scope")
	peer = "n1"
	forwarded := api.NewClient(srv.URL, "tok").WithHook(func(r *http.Request, _ []byte) { r.Header.Set(api.ForwardedHeader, "n3") })
	_, err = forwarded.RunStep(ctx, stepOfN2)
	require.ErrorIs(t, err, api.ErrForbidden, "a forwarded request is not judged by its connection")
	require.Equal(t, 1, steps.runs)
}

// A replica that is replaying its log (an agent just restarted) may apply
// a member's key between the guard, which then finds no key and no node
// identity, and the route's own check, which finds the key on record. The
// check resolves the signature again rather than refuse the member its own
// request; a signature by another key is still refused.
func TestANodeCheckSeesAKeyAppliedAfterTheGuard(t *testing.T) {
	c := newCluster(t)
	b := &fakeBackend{id: "n1", f: fsm.NewFor(3, 3), leader: "n1", addrs: map[string]string{}}
	m := member("n2", 7010)
	m.Protocol = fsm.ProtocolRange{Min: 1, Max: 3}
	b.apply(t, fsm.CmdMemberJoin, fsm.MemberJoin{Member: m})
	s := NewServer(b, ServerOptions{Token: "tok", Speaks: 3})

	guarded := func(k nodeauth.Key) *http.Request {
		body := []byte(`{"version":"1.0.0"}`)
		r := httptest.NewRequest(http.MethodPost, "/v1/members/n2/status", bytes.NewReader(body))
		signer("n2", k)(r, body)
		caller, err := s.identify(r, body)
		require.NoError(t, err)
		require.Empty(t, caller.Node, "no key on record yet: the signature proves nothing")
		return r.WithContext(context.WithValue(r.Context(), callerKey{}, &auditEntry{caller: caller, body: body}))
	}
	own, forged := guarded(c.keys["n2"]), guarded(c.keys["n3"])

	b.apply(t, fsm.CmdMemberKey, fsm.MemberKey{ID: "n2", Key: c.keys["n2"].Public()})
	require.NoError(t, s.requireNode(own, "n2", "the build report"), "n2's own signature, now verifiable")
	err := s.requireNode(forged, "n2", "the build report")
	require.ErrorIs(t, err, api.ErrForbidden, "another key's signature as n2")
}
