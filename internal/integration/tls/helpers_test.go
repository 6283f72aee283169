package tls

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// tlsCluster starts n agents with TLS and the test hooks, all at 1.0.0;
// n2 and later join through n1's bare HOST:PORT, which means HTTPS on an
// agent with TLS.
func tlsCluster(t *testing.T, n int) (*procs.Cluster, *procs.Hooks) {
	t.Helper()
	c := procs.NewCluster(t, batonBin)
	c.RaftMultiplier = 0.3
	require.NoError(t, c.UseTLS())
	hooks, err := procs.NewHooks(filepath.Join(c.Root, "hooks"), "1.0.0")
	require.NoError(t, err)
	c.ConfigFor = hooks.ConfigFor
	c.Start(n)
	return c, hooks
}

// installsPerNode counts the install hooks that began on each node.
func installsPerNode(t *testing.T, hooks *procs.Hooks) map[string]int {
	t.Helper()
	events, err := hooks.Journal()
	require.NoError(t, err)
	out := map[string]int{}
	for _, e := range events {
		if e.Hook == "install" && e.Kind == "begin" {
			out[e.Node]++
		}
	}
	return out
}

// members is the catalogue as agent a serves it.
func members(t *testing.T, a *procs.Agent) []api.Member {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ms, _, err := a.Client().Members(ctx, api.Wait{})
	require.NoError(t, err)
	return ms
}
