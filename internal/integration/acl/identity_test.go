package acl

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

const sharedToken = "s3cret-shared-token"

// runningStep waits until a step of transaction id runs and returns its
// node.
func runningStep(t *testing.T, a *procs.Agent, id string) api.Step {
	t.Helper()
	var step api.Step
	procs.Eventually(t, time.Minute, func() error {
		txn, _, err := a.Client().Upgrade(context.Background(), id, api.Wait{})
		if err != nil {
			return err
		}
		for _, s := range txn.Steps {
			if s.State == api.StepRunning {
				step = s
				return nil
			}
		}
		return fmt.Errorf("no step of %s runs yet", id)
	})
	return step
}

// A completion notice forged with another node's identity (its key, as an
// attacker holding that node would have it), or with the shared token
// alone, is refused; the step goes on and the transaction ends with every
// node really upgraded.
func TestAForgedCompletionNoticeIsRefused(t *testing.T) {
	c, hooks := cluster(t, 3, sharedToken)
	require.NoError(t, hooks.Set("install-sleep", "6"))
	res := c.Agent("n1").CLI("upgrade", "start", "--version", "2.0.0")
	require.Equal(t, 0, res.Code, res.Stderr)
	id := strings.TrimSpace(res.Stdout)

	step := runningStep(t, c.Agent("n1"), id)
	victim := c.Agent(step.Node)
	var forger = c.Agents[0]
	for _, a := range c.Agents {
		if a.ID != victim.ID {
			forger = a
		}
	}
	key := nodeKey(t, forger)
	leader := c.Leader()
	forged := api.Notice{TxnID: id, Node: victim.ID, Attempt: step.Attempt, State: api.StepDone, Version: "2.0.0"}
	for _, tc := range []struct {
		name, as string
		signed   bool
	}{
		{"signed by " + forger.ID + " as itself", forger.ID, true},
		{"signed with " + forger.ID + "'s key as " + victim.ID, victim.ID, true},
		{"the shared token alone", "", false},
	} {
		k := &key
		if !tc.signed {
			k = nil
		}
		status, msg := signed(t, leader.HTTPAddr, sharedToken, tc.as, k, "POST", "/v1/internal/notices", forged)
		require.Equal(t, 403, status, "%s: %s", tc.name, msg)
	}
	// Through a follower, which forwards it, too.
	status, msg := signed(t, forger.HTTPAddr, sharedToken, forger.ID, &key, "POST", "/v1/internal/notices", forged)
	require.Equal(t, 403, status, msg)

	txn, _, err := c.Agent("n1").Client().Upgrade(context.Background(), id, api.Wait{})
	require.NoError(t, err)
	for _, s := range txn.Steps {
		if s.Node == victim.ID {
			require.Equal(t, api.StepRunning, s.State, "the forged notice changed nothing")
			require.Equal(t, step.Attempt, s.Attempt)
		}
	}
	require.Equal(t, "1.0.0", hooks.Version(victim.ID), "the install has not finished")

	waitState(t, c.Agent("n1"), id, 3*time.Minute, api.TxnDone)
	for _, a := range c.Agents {
		require.Equal(t, "2.0.0", hooks.Version(a.ID), "%s really runs the target", a.ID)
	}
}

// A step delivered by a node that is not the leader is refused, as is one
// the node's replica does not hold as committed (a transaction that does
// not exist, an attempt never begun, an id that is a path), whoever signs
// it; none runs a hook. The leader's own re-delivery of a committed
// attempt is answered from the node's journal, running nothing again.
func TestAStepFromANonLeaderOrNotCommittedIsRefused(t *testing.T) {
	c, hooks := cluster(t, 3, sharedToken)
	res := c.Agent("n1").CLI("upgrade", "start", "--version", "2.0.0")
	require.Equal(t, 0, res.Code, res.Stderr)
	id := strings.TrimSpace(res.Stdout)
	waitState(t, c.Agent("n1"), id, 2*time.Minute, api.TxnDone)
	before, err := hooks.Journal()
	require.NoError(t, err)

	leader := c.Leader()
	var target, other *procs.Agent
	for _, a := range c.Agents {
		switch {
		case a == leader:
		case target == nil:
			target = a
		default:
			other = a
		}
	}
	leaderKey, otherKey := nodeKey(t, leader), nodeKey(t, other)
	step := func(txn string, attempt uint64) api.StepRequest {
		return api.StepRequest{TxnID: txn, Node: target.ID, Attempt: attempt, TargetVersion: "2.0.0", FromVersion: "1.0.0", ProtocolVersion: 3}
	}
	cases := []struct {
		name   string
		as     string
		key    bool
		leader bool
		req    api.StepRequest
		want   int
	}{
		{"from a follower, a committed attempt", other.ID, true, false, step(id, 1), 403},
		{"from a follower, a new attempt", other.ID, true, false, step(id, 2), 403},
		{"with the token alone", "", false, false, step(id, 2), 403},
		{"as the leader, with another's key", leader.ID, true, false, step(id, 2), 403},
		{"from the leader, an attempt never begun", leader.ID, true, true, step(id, 2), 409},
		{"from the leader, no such transaction", leader.ID, true, true, step("t-forged", 1), 404},
		{"from the leader, a path for an id", leader.ID, true, true, step("../../evil", 1), 400},
	}
	for _, tc := range cases {
		var k = &otherKey
		switch {
		case !tc.key:
			k = nil
		case tc.leader:
			k = &leaderKey
		}
		status, msg := signed(t, target.HTTPAddr, sharedToken, tc.as, k, "POST", "/v1/internal/steps", tc.req)
		require.Equal(t, tc.want, status, "%s: %s", tc.name, msg)
	}
	status, msg := signed(t, target.HTTPAddr, sharedToken, leader.ID, &leaderKey, "POST", "/v1/internal/steps", step(id, 1))
	require.Equal(t, 200, status, "the leader re-sends a committed attempt: %s", msg)

	after, err := hooks.Journal()
	require.NoError(t, err)
	require.Equal(t, before, after, "no hook ran")
	require.NoDirExists(t, target.DataDir+"/artifacts/../../evil")
}
