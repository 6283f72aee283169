package procs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
)

// Leader returns the agent that a running agent names as the leader,
// waiting up to 30 s for one to.
func (c *Cluster) Leader() *Agent {
	c.helper()
	var leader *Agent
	Eventually(c.t, 30*time.Second, func() error {
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

// WaitTxn waits until transaction id (or "latest") is in one of states,
// asking any running agent; a transaction that ends otherwise (or fails,
// unless failed is wanted) fails the test.
func (c *Cluster) WaitTxn(id string, timeout time.Duration, states ...api.TxnState) api.Txn {
	c.helper()
	var txn api.Txn
	Eventually(c.t, timeout, func() error {
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
			if slices.Contains(states, got.State) {
				txn = got
				return nil
			}
			if got.State.Terminal() || got.State == api.TxnFailed {
				c.fatalf("transaction %s ended %s (%s), want %v", got.ID, got.State, got.Reason, states)
			}
			return fmt.Errorf("transaction %s is %s (%s), want %v", got.ID, got.State, got.Reason, states)
		}
		return fmt.Errorf("no agent answered: %v", lastErr)
	})
	return txn
}
