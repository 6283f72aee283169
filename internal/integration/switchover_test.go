package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// serviceCluster starts n agents whose hooks keep a fake service's roles in
// files (procs.Hooks.Service), with primary as the service's primary, and
// waits until the leader has recorded it.
func serviceCluster(t *testing.T, n int, primary string) (*procs.Cluster, *procs.Hooks) {
	t.Helper()
	c := procs.NewCluster(t, batonBin)
	c.RaftMultiplier = 0.3
	hooks, err := procs.NewHooks(filepath.Join(c.Root, "hooks"), "1.0.0")
	require.NoError(t, err)
	hooks.Service = true
	require.NoError(t, hooks.SetRole(primary, "primary"))
	c.ConfigFor = hooks.ConfigFor
	c.Start(n)
	waitRecordedPrimary(t, c, primary)
	return c, hooks
}

// waitRecordedPrimary waits until a live agent's catalogue names primary as
// the service's primary and every other member a replica.
func waitRecordedPrimary(t *testing.T, c *procs.Cluster, primary string) []api.Member {
	t.Helper()
	var members []api.Member
	procs.Eventually(t, time.Minute, func() error {
		for _, a := range c.Agents {
			if a.Exited() {
				continue
			}
			ms, _, err := a.Client().Members(context.Background(), api.Wait{})
			if err != nil {
				continue
			}
			for _, m := range ms {
				want := api.RoleReplica
				if m.ID == primary {
					want = api.RolePrimary
				}
				if m.Role != want {
					return fmt.Errorf("%s sees %s as %q, want %q", a.ID, m.ID, m.Role, want)
				}
			}
			members = ms
			return nil
		}
		return errorString("no agent answered")
	})
	return members
}

// roleHistory replays the fake service's role changes from the hook
// journal, in the order they were made, starting from initial as the only
// primary, and fails the test if two nodes were ever primary at once. It
// returns the primary at the end and the journal position at which each
// node last became primary.
func roleHistory(t *testing.T, hooks *procs.Hooks, initial string) (string, []procs.HookEvent) {
	t.Helper()
	events, err := hooks.Journal()
	require.NoError(t, err)
	roles := map[string]string{initial: api.RolePrimary}
	for _, e := range events {
		if e.Kind != "role" {
			continue
		}
		roles[e.Node] = e.Target
		var primaries []string
		for n, r := range roles {
			if r == api.RolePrimary {
				primaries = append(primaries, n)
			}
		}
		require.LessOrEqual(t, len(primaries), 1, "I10: two primaries at once at %s: %v", e.At.Format(time.RFC3339Nano), primaries)
	}
	var primary []string
	for n, r := range roles {
		if r == api.RolePrimary {
			primary = append(primary, n)
		}
	}
	require.Len(t, primary, 1, "exactly one primary at the end")
	return primary[0], events
}

// requireUpgradedAfterSwitch checks that old's install began only after
// the new primary took over and old stopped being primary, in the
// journal's order.
func requireUpgradedAfterSwitch(t *testing.T, events []procs.HookEvent, old, primary string) {
	t.Helper()
	newAt, oldAt, installAt := -1, -1, -1
	for i, e := range events {
		switch {
		case e.Kind == "role" && e.Node == primary && e.Target == api.RolePrimary:
			newAt = i
		case e.Kind == "role" && e.Node == old && e.Target == api.RoleReplica:
			oldAt = i
		case e.Kind == "begin" && e.Hook == "install" && e.Node == old && installAt < 0:
			installAt = i
		}
	}
	require.GreaterOrEqual(t, newAt, 0, "%s never became primary", primary)
	require.GreaterOrEqual(t, oldAt, 0, "%s never stopped being primary", old)
	require.Greater(t, installAt, newAt, "%s's install began before %s was primary", old, primary)
	require.Greater(t, installAt, oldAt, "%s's install began while it was primary", old)
}

// requireNoPromoteOverLag checks that every promote the journal shows ran
// with the node's lag within maxLag.
func requireNoPromoteOverLag(t *testing.T, events []procs.HookEvent, maxLag uint64) {
	t.Helper()
	for _, e := range events {
		if e.Kind == "lag" && e.Hook == "promote" {
			var lag uint64
			_, err := fmt.Sscan(e.Target, &lag)
			require.NoError(t, err)
			require.LessOrEqual(t, lag, maxLag, "I10: %s promoted with lag %d over %d", e.Node, lag, maxLag)
		}
	}
}

func lastSwitchover(t *testing.T, txn api.Txn) api.Switchover {
	t.Helper()
	require.NotEmpty(t, txn.Switchovers, "no switch-over")
	return txn.Switchovers[len(txn.Switchovers)-1]
}

// TestSecondariesFirstUpgradesTheServicesPrimaryLast: the service's primary
// n2 is not Baton's leader n1. secondaries-first orders by the service's
// primary, switches the service over before n2's step, and still hands
// Baton's own leadership off before its leader's node upgrades.
func TestSecondariesFirstUpgradesTheServicesPrimaryLast(t *testing.T) {
	c, hooks := serviceCluster(t, 3, "n2")
	if leader := currentLeader(t, c); leader.ID != "n1" {
		// An election on a loaded machine: put Baton's leadership back
		// where the test wants it, away from the service's primary.
		res := c.Agent("n1").CLI("leader", "transfer", "--to", "n1")
		require.Zero(t, res.Code, res.Stderr)
	}
	require.Equal(t, "n1", currentLeader(t, c).ID)

	plan := c.Agent("n1").CLI("upgrade", "plan", "--version", "2.0.0", "--strategy", "secondaries-first")
	require.Zero(t, plan.Code, plan.Stderr)
	require.Contains(t, plan.Stdout, "primary = the service's primary n2 (from the role hooks), upgraded last")
	members := c.Agent("n3").CLI("members")
	require.Zero(t, members.Code, members.Stderr)
	require.Regexp(t, `(?m)^n2\s.*\sno\s+primary\s+\S+$`, members.Stdout, "the ROLE column, before STATUS")

	id := startUpgrade(t, c.Agent("n1"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})
	txn := c.WaitTxn(id, 3*time.Minute, api.TxnDone)
	require.Equal(t, []string{"n1", "n3", "n2"}, stepNodes(txn))

	sw := lastSwitchover(t, txn)
	require.Equal(t, api.SwitchDone, sw.Phase)
	require.Equal(t, "n2", sw.OldPrimary)
	require.Contains(t, []string{"n1", "n3"}, sw.Candidate)
	require.Equal(t, "healthy", sw.Diagnostic)

	primary, events := roleHistory(t, hooks, "n2")
	require.Equal(t, sw.Candidate, primary)
	requireUpgradedAfterSwitch(t, events, "n2", primary)
	var order []string
	for _, e := range events {
		if e.Kind == "begin" && e.Hook == "install" {
			order = append(order, e.Node)
		}
	}
	require.Equal(t, "n2", order[len(order)-1], "the service's primary upgrades last")
	requireInstalledOnce(t, c, hooks, "2.0.0")
	requireNoLeaderInstall(t, c, hooks) // Baton's handoff before its leader's node upgrades
	waitRecordedPrimary(t, c, primary)

	// The change is published on the event stream (S5's broadcast).
	evs, err := c.Agent("n3").Client().Events(context.Background(), 0, time.Second)
	require.NoError(t, err)
	var committed bool
	for _, e := range evs.Events {
		committed = committed || (e.Type == api.EventSwitchoverPhase && e.Phase == api.SwitchCommitted && e.Primary == primary)
	}
	require.True(t, committed, "no switchover.phase event naming the new primary")
}

// TestSwitchoverSurvivesALeaderKilledInEachPhase kills Baton's leader while
// the switch-over is in each of its phases (the hook of the next part made
// slow so that the kill lands during it): the next leader goes on from the
// committed phase, the service ends with exactly one primary and never had
// two, and the old primary upgrades only after the new one took over.
//
// With the service's primary on n2, Baton's leadership has moved to n2 by
// then (n1 handed it off before its own step), so the leader killed is the
// old primary's agent; with it on n3, n2 has handed it back to n1, the
// first candidate, so the leader killed is the candidate's agent.
func TestSwitchoverSurvivesALeaderKilledInEachPhase(t *testing.T) {
	for _, tc := range []struct {
		phase, slow, primary string
	}{
		{api.SwitchChosen, "demote-sleep", "n2"},
		{api.SwitchDemoted, "promote-sleep", "n3"},
		{api.SwitchPromoted, "role-sleep", "n2"},
		{api.SwitchCommitted, "follow-sleep", "n3"},
	} {
		t.Run(tc.phase, func(t *testing.T) {
			c, hooks := serviceCluster(t, 3, tc.primary)
			require.NoError(t, hooks.Set(tc.slow, "2"))
			id := startUpgrade(t, c.Agent("n1"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})

			procs.Eventually(t, 2*time.Minute, func() error {
				txn := c.WaitTxn(id, 30*time.Second, api.TxnRunning)
				if n := len(txn.Switchovers); n > 0 && txn.Switchovers[n-1].Phase == tc.phase {
					return nil
				}
				return errorString("switch-over not yet " + tc.phase)
			})
			leader := currentLeader(t, c)
			leader.Kill()
			t.Logf("killed Baton's leader %s with the switch-over from %s %s", leader.ID, tc.primary, tc.phase)
			time.Sleep(time.Second)
			leader.Restart()

			txn := c.WaitTxn(id, 3*time.Minute, api.TxnDone)
			require.Len(t, txn.Switchovers, 1, "the same switch-over carried on")
			sw := lastSwitchover(t, txn)
			require.Equal(t, api.SwitchDone, sw.Phase)
			require.Equal(t, tc.primary, sw.OldPrimary)
			primary, events := roleHistory(t, hooks, tc.primary)
			require.Equal(t, sw.Candidate, primary)
			requireUpgradedAfterSwitch(t, events, tc.primary, primary)
			requireNoPromoteOverLag(t, events, 0)
			requireInstalledOnce(t, c, hooks, "2.0.0")
			requireNoLeaderInstall(t, c, hooks)
			waitRecordedPrimary(t, c, primary)
		})
	}
}

// TestSwitchoverNeverChoosesALaggingOrUnhealthyReplica: with n1 lagging
// over --max-lag and n3's service failing its health check, no replica
// qualifies and the transaction pauses naming both; once n1 catches up and
// the transaction resumes, n1 takes over, never n3.
func TestSwitchoverNeverChoosesALaggingOrUnhealthyReplica(t *testing.T) {
	c, hooks := serviceCluster(t, 3, "n2")
	require.NoError(t, hooks.Set("lag-n1", "100"))
	require.NoError(t, hooks.Set("unhealthy-probe-n3", ""))
	id := startUpgrade(t, c.Agent("n1"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", MaxLag: 10})

	txn := c.WaitTxn(id, 2*time.Minute, api.TxnPaused)
	require.Contains(t, txn.Reason, "no replica can take over as the service's primary before n2 upgrades")
	require.Contains(t, txn.Reason, "n1: lag 100 over --max-lag 10")
	require.Contains(t, txn.Reason, "n3: health check failing")
	require.Empty(t, txn.Switchovers)
	require.Equal(t, api.StepPending, txn.Step("n2").State)
	require.Equal(t, uint64(10), txn.MaxLag)

	require.NoError(t, hooks.Set("lag-n1", "4"))
	res := c.Agent("n3").CLI("upgrade", "resume")
	require.Zero(t, res.Code, res.Stderr)
	txn = c.WaitTxn(id, 2*time.Minute, api.TxnDone)
	sw := lastSwitchover(t, txn)
	require.Equal(t, "n1", sw.Candidate)
	require.Equal(t, uint64(4), sw.CandidateLag)

	primary, events := roleHistory(t, hooks, "n2")
	require.Equal(t, "n1", primary)
	requireNoPromoteOverLag(t, events, 10)
	for _, e := range events {
		require.False(t, e.Hook == "promote" && e.Node == "n3", "n3 was promoted")
	}
	status := c.Agent("n1").CLI("upgrade", "status", id)
	require.Zero(t, status.Code, status.Stderr)
	require.Contains(t, status.Stdout, "switch-over n2 -> n1: done")
	require.True(t, strings.Contains(status.Stdout, "max lag       10"), status.Stdout)
}
