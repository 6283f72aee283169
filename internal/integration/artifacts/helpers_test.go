package artifacts

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
)

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
// agent; a transaction that ends otherwise fails the test.
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
