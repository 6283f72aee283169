package integration

import (
	"context"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// upgradeCluster starts n agents with the test hooks, all at version 1.0.0.
func upgradeCluster(t *testing.T, n int) (*procs.Cluster, *procs.Hooks) {
	t.Helper()
	return upgradeClusterPrepared(t, n, nil)
}

// upgradeClusterPrepared starts n agents with the test hooks, all at
// version 1.0.0 unless prepare (when not nil) sets a node's version file
// or other control files first.
func upgradeClusterPrepared(t *testing.T, n int, prepare func(*procs.Hooks)) (*procs.Cluster, *procs.Hooks) {
	t.Helper()
	c := procs.NewCluster(t, batonBin)
	c.RaftMultiplier = 0.3
	c.AgentArgs = append(c.AgentArgs, "--allow-http-artifacts") // serveFile's loopback http
	hooks, err := procs.NewHooks(filepath.Join(c.Root, "hooks"), "1.0.0")
	require.NoError(t, err)
	if prepare != nil {
		prepare(hooks)
	}
	c.ConfigFor = hooks.ConfigFor
	c.Start(n)
	return c, hooks
}

// installs returns the install begin events per node.
func installs(t *testing.T, hooks *procs.Hooks) map[string][]procs.HookEvent {
	t.Helper()
	events, err := hooks.Journal()
	require.NoError(t, err)
	out := map[string][]procs.HookEvent{}
	for _, e := range events {
		if e.Hook == "install" && e.Kind == "begin" {
			out[e.Node] = append(out[e.Node], e)
		}
	}
	return out
}

// requireNoOverlap checks that at most max installs ran at once (I3), from
// the journal's wall times.
func requireNoOverlap(t *testing.T, hooks *procs.Hooks, max int) {
	t.Helper()
	events, err := hooks.Journal()
	require.NoError(t, err)
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, e := range events {
		if e.Hook != "install" {
			continue
		}
		if e.Kind == "begin" {
			edges = append(edges, edge{e.At, +1})
		} else {
			edges = append(edges, edge{e.At, -1})
		}
	}
	sort.SliceStable(edges, func(i, j int) bool {
		if edges[i].at.Equal(edges[j].at) {
			return edges[i].delta < edges[j].delta
		}
		return edges[i].at.Before(edges[j].at)
	})
	running := 0
	for _, e := range edges {
		running += e.delta
		require.LessOrEqual(t, running, max, "more than %d installs overlapped at %s", max, e.at.Format(time.RFC3339Nano))
	}
}

// requireNoLeaderInstall checks I4: no install began on the node that was
// leader at that moment, from the agents' leadership log.
func requireNoLeaderInstall(t *testing.T, c *procs.Cluster, hooks *procs.Hooks) {
	t.Helper()
	tenures, err := c.Tenures()
	require.NoError(t, err)
	require.NotEmpty(t, tenures, "the agents logged no leadership")
	for node, evs := range installs(t, hooks) {
		for _, e := range evs {
			require.False(t, procs.LeaderAt(tenures, node, e.At),
				"install began on %s at %s while it was the leader", node, e.At.Format(time.RFC3339Nano))
		}
	}
}

// startUpgrade starts a transaction through a's API and returns its id.
func startUpgrade(t *testing.T, a *procs.Agent, req api.StartRequest) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	txn, err := a.Client().StartUpgrade(ctx, req)
	require.NoError(t, err)
	require.Regexp(t, `^t-`, txn.ID)
	return txn.ID
}

// requireInstalledOnce checks that every node ran install exactly once and
// ended at version.
func requireInstalledOnce(t *testing.T, c *procs.Cluster, hooks *procs.Hooks, version string) {
	t.Helper()
	ins := installs(t, hooks)
	for _, a := range c.Agents {
		require.Len(t, ins[a.ID], 1, "installs on %s: %v", a.ID, ins[a.ID])
		require.Equal(t, version, hooks.Version(a.ID))
	}
}
