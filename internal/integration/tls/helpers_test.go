package tls

import (
	"context"
	"errors"
	"fmt"
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

// leaderOf is the agent every running agent names as the leader.
func leaderOf(t *testing.T, c *procs.Cluster) *procs.Agent {
	t.Helper()
	var leader *procs.Agent
	procs.Eventually(t, 30*time.Second, func() error {
		for _, a := range c.Agents {
			if a.Exited() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			h, err := a.Client().Health(ctx)
			cancel()
			if err == nil && h.Leader != "" {
				leader = c.Agent(h.Leader)
				return nil
			}
		}
		return errors.New("no agent names a leader")
	})
	return leader
}

// waitTxn waits until transaction id is in state, asking any running
// agent.
func waitTxn(t *testing.T, c *procs.Cluster, id string, timeout time.Duration, state api.TxnState) api.Txn {
	t.Helper()
	var txn api.Txn
	procs.Eventually(t, timeout, func() error {
		var lastErr error
		for _, a := range c.Agents {
			if a.Exited() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			got, _, err := a.Client().Upgrade(ctx, id, api.Wait{})
			cancel()
			if err != nil {
				lastErr = err
				continue
			}
			if got.State == state {
				txn = got
				return nil
			}
			if got.State.Terminal() || got.State == api.TxnFailed {
				t.Fatalf("transaction %s ended %s (%s), want %s", got.ID, got.State, got.Reason, state)
			}
			return fmt.Errorf("transaction %s is %s, want %s", id, got.State, state)
		}
		return fmt.Errorf("no agent answered: %v", lastErr)
	})
	return txn
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
