package coordinator

import (
	"context"
	"strings"
	"testing"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

var heldSHA = strings.Repeat("ab", 32)

// holding records heldSHA as held by holders, in that order.
func holding(holders ...string) func(c *fakeCluster) {
	return func(c *fakeCluster) {
		ctx := context.Background()
		_, err := c.Apply(ctx, fsm.CmdArtifactAdd, fsm.ArtifactAdd{SHA256: heldSHA, Size: 10, Name: "app.tgz", Holder: holders[0]})
		if err != nil {
			panic(err)
		}
		for _, h := range holders[1:] {
			if _, err := c.Apply(ctx, fsm.CmdArtifactHeld, fsm.ArtifactHeld{SHA256: heldSHA, Holder: h}); err != nil {
				panic(err)
			}
		}
	}
}

// TestAStoredArtifactIsFetchedFromItsHolders: a transaction that names an
// artifact held by the cluster records it as such, and each step tells
// its node where to fetch it: itself first when it holds a copy, then the
// other holders as recorded, those recorded unreachable last.
func TestAStoredArtifactIsFetchedFromItsHolders(t *testing.T) {
	h := newHarnessAt(t, 3, 3, api.StartRequest{TargetVersion: "2.0.0", Artifact: "sha256:" + heldSHA}, func(c *fakeCluster) {
		holding("n3", "n1", "n2")(c)
		_, err := c.Apply(context.Background(), fsm.CmdMemberLiveness, fsm.MemberLiveness{ID: "n1", Status: fsm.LivenessUnreachable})
		require.NoError(t, err)
	})
	txn := h.txn()
	require.True(t, txn.ArtifactStored)
	require.Equal(t, heldSHA, txn.ArtifactSHA256)
	require.Empty(t, txn.ArtifactURL)

	var sources map[string][]string
	h.c.FSM().View(func(s *fsm.State) {
		sources = map[string][]string{}
		for _, node := range []string{"n1", "n2", "n3"} {
			for _, src := range artifactSources(s, txn, node) {
				sources[node] = append(sources[node], src.ID)
			}
		}
	})
	require.Equal(t, map[string][]string{
		"n1": {"n1", "n3", "n2"}, // its own copy first, even recorded unreachable: it is the node itself
		"n2": {"n2", "n3", "n1"},
		"n3": {"n3", "n2", "n1"},
	}, sources)

	req, _ := h.co.stepRequest(txn, fsm.Step{Node: "n2", Attempt: 1, ToVersion: "2.0.0"})
	require.Equal(t, []api.ArtifactSource{{ID: "n2", Addr: "n2:80"}, {ID: "n3", Addr: "n3:80"}, {ID: "n1", Addr: "n1:80"}}, req.ArtifactSources)
	req, _ = h.co.stepRequest(txn, fsm.Step{Node: "n2", Attempt: 2, Rollback: true})
	require.Empty(t, req.ArtifactSources, "a rollback fetches nothing")
}

func TestStartRefusesABadStoredArtifact(t *testing.T) {
	c := newFakeClusterAt(t, 3, "n1", membersAt(3, 3)...)
	holding("n1")(c)
	co := New(c, newFakeNodes(), Options{Now: c.clock})
	for req, want := range map[api.StartRequest]string{
		{TargetVersion: "2.0.0", Artifact: "sha256:abc"}:                                        `artifact "sha256:abc": want sha256: and 64 lower-case hex digits`,
		{TargetVersion: "2.0.0", Artifact: heldSHA}:                                             "want sha256: and 64 lower-case hex digits",
		{TargetVersion: "2.0.0", Artifact: "sha256:" + strings.Repeat("cd", 32)}:                "is not held by the cluster: push it first (baton artifact push FILE)",
		{TargetVersion: "2.0.0", Artifact: "sha256:" + heldSHA, ArtifactSHA256: heldSHA}:        "give no URL and no --sha256 with it",
		{TargetVersion: "2.0.0", Artifact: "sha256:" + heldSHA, ArtifactURL: "https://x/a.tgz"}: "give no URL and no --sha256 with it",
	} {
		before := c.FSM().Read().Index
		_, err := co.Start(context.Background(), req)
		require.ErrorContains(t, err, want)
		require.Equal(t, before, c.FSM().Read().Index, "a refused start changes nothing")
	}

	old := newFakeClusterAt(t, 2, "n1", membersAt(3, 2)...)
	_, err := New(old, newFakeNodes(), Options{Now: old.clock}).Start(context.Background(), api.StartRequest{TargetVersion: "2.0.0", Artifact: "sha256:" + heldSHA})
	require.ErrorIs(t, err, fsm.ErrInvalid)
	require.ErrorContains(t, err, "an artifact held by the cluster needs protocol 3, and the cluster speaks 2")
}
