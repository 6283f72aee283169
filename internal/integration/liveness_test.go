package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// TestDeadMemberIsShownAndItsStepSaysWhatItWaitsFor: while a node's agent
// was down, `upgrade status` showed its step as running with no reason for
// minutes, and only the leader's log said the step could not be delivered.
// Now `members` shows the node unreachable, with since when, and its step
// names what it waits for; both clear when the agent is back.
func TestDeadMemberIsShownAndItsStepSaysWhatItWaitsFor(t *testing.T) {
	c, hooks := upgradeCluster(t, 3)
	waitStatus(t, c.Agent("n1"), api.MemberAlive)
	leader := currentLeader(t, c)
	var victim *procs.Agent
	for _, a := range c.Agents {
		if a.ID != leader.ID {
			victim = a
			break
		}
	}
	victim.Kill()
	killedAt := time.Now()

	var down api.Member
	procs.Eventually(t, 60*time.Second, func() error {
		for _, m := range membersJSON(t, leader) {
			if m.ID == victim.ID {
				down = m
				if m.Status != api.MemberUnreachable {
					return fmt.Errorf("%s is %q", m.ID, m.Status)
				}
			}
		}
		return nil
	})
	require.True(t, down.StatusSince.After(killedAt), "unreachable since %s, killed at %s", down.StatusSince, killedAt)
	require.False(t, down.LastSeen.IsZero())
	res := leader.CLI("members")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Regexp(t, victim.ID+`\s.*unreachable since \d\d:\d\d:\d\dZ`, res.Stdout)

	id := startUpgrade(t, leader, api.StartRequest{TargetVersion: "2.0.0", Strategy: "by-id"})
	procs.Eventually(t, 2*time.Minute, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		txn, _, err := c.Agent(leader.ID).Client().Upgrade(ctx, id, api.Wait{})
		if err != nil {
			return err
		}
		s := txn.Step(victim.ID)
		if !strings.Contains(s.Waiting, "node "+victim.ID+" unreachable since") {
			return fmt.Errorf("%s's step is %s, waiting %q", victim.ID, s.State, s.Waiting)
		}
		return nil
	})
	res = leader.CLI("upgrade", "status", id)
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Contains(t, res.Stdout, victim.ID+" waits: node "+victim.ID+" unreachable since")

	victim.Restart()
	txn := c.WaitTxn(id, 3*time.Minute, api.TxnDone)
	for _, s := range txn.Steps {
		require.Empty(t, s.Waiting, "a finished transaction waits for nothing")
	}
	requireInstalledOnce(t, c, hooks, "2.0.0")
	waitStatus(t, leader, api.MemberAlive)
}
