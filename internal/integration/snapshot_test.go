package integration

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// A member that joins after the leader compacted its log cannot be sent
// the log from its start: it catches up by InstallSnapshot, and its
// catalogue and transactions are then the leader's, including the
// commands it never applied itself.
func TestMemberJoiningAfterCompactionCatchesUpBySnapshot(t *testing.T) {
	c, _ := snapshotCluster(t, 3)
	// Some history worth restoring: a finished upgrade of every node.
	id := startUpgrade(t, c.Agent("n2"), api.StartRequest{TargetVersion: "2.0.0"})
	c.WaitTxn(id, 2*time.Minute, api.TxnDone)
	leader := currentLeader(t, c)
	moveLogPastCompaction(t, c.Agent("n2"), leader, 2)

	n4 := c.Add("n4")
	n4.Start("--join", leader.HTTPAddr)
	c.WaitMembers(n4, 4, time.Minute)
	require.GreaterOrEqual(t, snapshotsOf(t, n4).Installed, 1, "n4 joined a compacted log: it must have installed a snapshot")

	state := requireSameState(t, leader, n4)
	require.Len(t, state.Members, 4)
	require.Len(t, state.Upgrades, 1)
	require.Equal(t, api.TxnDone, state.Upgrades[0].State)
	// n4 holds the transaction without having applied any of its commands:
	// it came in the snapshot.
	for _, e := range eventsOf(t, n4) {
		require.NotEqual(t, id, e.Txn, "n4 applied %s of %s at index %d: it replayed the log instead of restoring the snapshot", e.Type, id, e.Index)
	}
}

// A node killed while its own step ran, and kept down until the log moved
// past it, comes back to a compacted log: it catches up by snapshot, its
// journal and the restored state machine agree on the attempt, and the
// step completes once, in that attempt, with its install run once.
func TestNodeBehindCompactionResumesItsOwnStepOnce(t *testing.T) {
	c, hooks := snapshotCluster(t, 3)
	require.NoError(t, hooks.Set("install-sleep", "2"))
	id := startUpgrade(t, c.Agent("n1"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first",
		StepTimeout: "5m"})
	step := runningStep(t, c, id)
	victim := c.Agent(step.Node)
	procs.Eventually(t, 30*time.Second, func() error {
		if len(installs(t, hooks)[victim.ID]) == 0 {
			return errorString("install not begun yet")
		}
		return nil
	})
	// Its install hook runs on, and ends, while the agent is down.
	victim.Kill()
	installedBefore := snapshotsOf(t, victim).Installed
	leader := currentLeader(t, c)
	require.NotEqual(t, victim.ID, leader.ID)
	moveLogPastCompaction(t, leader, leader, 2)
	procs.Eventually(t, 30*time.Second, func() error {
		if !installEnded(t, hooks, victim.ID) {
			return errorString("the install has not ended yet")
		}
		return nil
	})
	victim.Restart()

	txn := c.WaitTxn(id, 3*time.Minute, api.TxnDone)
	require.Greater(t, snapshotsOf(t, victim).Installed, installedBefore,
		"%s came back behind the leader's compacted log: it must have installed a snapshot", victim.ID)
	require.Equal(t, uint64(1), txn.Step(victim.ID).Attempt, "the step resumed within its attempt")
	requireInstalledOnce(t, c, hooks, "2.0.0")

	// The journal and the restored state machine tell the same story.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	journal, err := victim.Client().StepStatus(ctx, id, 1)
	require.NoError(t, err)
	require.Equal(t, api.StepDone, journal.State)
	require.Equal(t, "2.0.0", journal.Version)
	var local api.Txn
	procs.Eventually(t, 30*time.Second, func() error {
		var err error
		local, _, err = victim.Client().Upgrade(ctx, id, api.Wait{})
		if err == nil && local.State != api.TxnDone {
			err = fmt.Errorf("%s sees %s %s", victim.ID, id, local.State)
		}
		return err
	})
	mine := local.Step(victim.ID)
	require.Equal(t, api.StepDone, mine.State)
	require.Equal(t, journal.Attempt, mine.Attempt)
	require.Equal(t, journal.Version, mine.ToVersion)

	// One completion of the victim's step was ever committed (the leader
	// applied every command of the run).
	completions := 0
	for _, e := range eventsOf(t, leader) {
		if e.Txn == id && e.Node == victim.ID && e.Type == api.EventStepComplete {
			completions++
		}
	}
	require.Equal(t, 1, completions, "the step of %s completed %d times", victim.ID, completions)
	requireSameState(t, leader, victim)
}

// A snapshot taken in the middle of a transaction, with steps running and
// a completion notice pending (n2's install has ended, but its agent is
// stopped before it could say so), restored on a member that joins then,
// gives that member the leader's state; the notice, sent when n2 goes on,
// completes the step once on every replica.
func TestSnapshotMidTransactionRestoresTheLeadersState(t *testing.T) {
	c, hooks := snapshotCluster(t, 5)
	require.NoError(t, hooks.Set("install-sleep", "3"))
	leader := currentLeader(t, c)
	id := startUpgrade(t, leader, api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first",
		MaxParallel: "2", StepTimeout: "5m"})
	step := runningStep(t, c, id)
	pending := c.Agent(step.Node)
	procs.Eventually(t, 30*time.Second, func() error {
		if len(installs(t, hooks)[pending.ID]) == 0 {
			return errorString("install not begun yet")
		}
		return nil
	})
	require.NoError(t, pending.Signal(syscall.SIGSTOP))
	stopped := true
	defer func() {
		if stopped {
			_ = pending.Signal(syscall.SIGCONT)
		}
	}()
	procs.Eventually(t, 30*time.Second, func() error {
		if !installEnded(t, hooks, pending.ID) {
			return errorString("the install has not ended yet")
		}
		return nil
	})
	// Let the transaction go on without n2's notice: another step runs.
	procs.Eventually(t, time.Minute, func() error {
		txn, _, err := leader.Client().Upgrade(context.Background(), id, api.Wait{})
		if err != nil {
			return err
		}
		for _, s := range txn.Steps {
			if s.State == api.StepRunning && s.Node != pending.ID {
				return nil
			}
		}
		return errorString("no other step runs yet")
	})
	moveLogPastCompaction(t, leader, leader, 2)

	joiner := c.Add("n6")
	joiner.Start("--join", leader.HTTPAddr)
	c.WaitMembers(joiner, 6, time.Minute)
	require.GreaterOrEqual(t, snapshotsOf(t, joiner).Installed, 1, "n6 joined a compacted log: it must have installed a snapshot")
	mid := requireSameState(t, leader, joiner)
	require.Len(t, mid.Upgrades, 1)
	require.Equal(t, api.StepRunning, mid.Upgrades[0].Step(pending.ID).State,
		"%s's install ended but its notice is pending: its step still runs", pending.ID)
	for _, e := range eventsOf(t, joiner) {
		require.NotEqual(t, api.EventTxnStart, e.Type, "n6 applied txn.start at index %d: it replayed the log instead of restoring the snapshot", e.Index)
	}

	require.NoError(t, pending.Signal(syscall.SIGCONT))
	stopped = false
	txn := c.WaitTxn(id, 3*time.Minute, api.TxnDone)
	require.Equal(t, uint64(1), txn.Step(pending.ID).Attempt)
	ins := installs(t, hooks)
	for _, s := range txn.Steps {
		require.Len(t, ins[s.Node], 1, "installs on %s: %v", s.Node, ins[s.Node])
	}
	end := requireSameState(t, currentLeader(t, c), joiner)
	require.Equal(t, api.TxnDone, end.Upgrades[0].State)
	completions := 0
	for _, e := range eventsOf(t, joiner) {
		if e.Txn == id && e.Node == pending.ID && e.Type == api.EventStepComplete {
			completions++
		}
	}
	require.Equal(t, 1, completions, "n6 applied the completion of %s's step %d times", pending.ID, completions)
}

// installEnded reports whether node's install hook has journalled its end.
func installEnded(t *testing.T, hooks *procs.Hooks, node string) bool {
	t.Helper()
	events, err := hooks.Journal()
	require.NoError(t, err)
	for _, e := range events {
		if e.Hook == "install" && e.Kind == "end" && e.Node == node {
			return true
		}
	}
	return false
}
