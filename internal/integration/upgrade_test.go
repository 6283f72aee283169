package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

func TestFiveNodeUpgradeByID(t *testing.T) {
	c, hooks := upgradeCluster(t, 5)
	id := startUpgrade(t, c.Agent("n3"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "by-id", MaxParallel: "1"})
	txn := c.WaitTxn(id, 2*time.Minute, api.TxnDone)

	require.Equal(t, []string{"n1", "n2", "n3", "n4", "n5"}, stepNodes(txn))
	for _, s := range txn.Steps {
		require.Equal(t, api.StepDone, s.State)
		require.Equal(t, uint64(1), s.Attempt)
		require.Equal(t, "1.0.0", s.FromVersion)
	}
	requireInstalledOnce(t, c, hooks, "2.0.0")
	requireNoOverlap(t, hooks, 1)
	requireNoLeaderInstall(t, c, hooks)
	for _, m := range membersJSON(t, c.Agent("n1")) {
		require.Equal(t, "2.0.0", m.Version, "member %s", m.ID)
	}

	// The event stream tells the same story, with Raft indexes, once n4
	// has applied everything (the transaction may be done elsewhere first).
	ctx := context.Background()
	var evs api.Events
	procs.Eventually(t, 30*time.Second, func() error {
		var err error
		evs, err = c.Agent("n4").Client().Events(ctx, 0, time.Second)
		if err != nil {
			return err
		}
		count := map[api.EventType]int{}
		var lastIndex uint64
		for _, e := range evs.Events {
			if e.Txn == id {
				count[e.Type]++
			}
			if e.Type != api.EventLeadershipGained && e.Type != api.EventLeadershipLost {
				if e.Index <= lastIndex {
					t.Fatalf("applied events out of index order: %d after %d", e.Index, lastIndex)
				}
				lastIndex = e.Index
			}
		}
		want := map[api.EventType]int{"txn.start": 1, "step.begin": 5, "step.complete": 5, "txn.finalize": 1}
		for typ, n := range want {
			if count[typ] != n {
				return fmt.Errorf("n4 has %d %s events, want %d", count[typ], typ, n)
			}
		}
		return nil
	})
	// A read at the cursor waits for the next event instead of returning at once.
	start := time.Now()
	more, err := c.Agent("n4").Client().Events(ctx, evs.Next, 300*time.Millisecond)
	require.NoError(t, err)
	require.Empty(t, more.Events)
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
}

func stepNodes(txn api.Txn) []string {
	var out []string
	for _, s := range txn.Steps {
		out = append(out, s.Node)
	}
	return out
}

// runningStep waits until some step of txn runs and returns it.
func runningStep(t *testing.T, c *procs.Cluster, id string) api.Step {
	t.Helper()
	var step api.Step
	procs.Eventually(t, time.Minute, func() error {
		txn := c.WaitTxn(id, 30*time.Second, api.TxnRunning)
		for _, s := range txn.Steps {
			if s.State == api.StepRunning {
				step = s
				return nil
			}
		}
		return errNoRunningStep
	})
	return step
}

var errNoRunningStep = errorString("no step running yet")

type errorString string

func (e errorString) Error() string { return string(e) }

func currentLeader(t *testing.T, c *procs.Cluster) *procs.Agent {
	t.Helper()
	var leader *procs.Agent
	procs.Eventually(t, 30*time.Second, func() error {
		for _, a := range c.Agents {
			if a.Exited() {
				continue
			}
			if id := leaderSeenBy(a); id != "" {
				leader = c.Agent(id)
				return nil
			}
		}
		return errorString("no leader")
	})
	return leader
}

func TestLeaderKilledMidStepResumesOnNewLeader(t *testing.T) {
	c, hooks := upgradeCluster(t, 5)
	require.NoError(t, hooks.Set("install-sleep", "1.5"))
	id := startUpgrade(t, c.Agent("n2"), api.StartRequest{TargetVersion: "2.0.0"})

	// Wait for a step to run on a node that is not the leader, then kill
	// the leader with SIGKILL.
	step := runningStep(t, c, id)
	leader := currentLeader(t, c)
	require.NotEqual(t, step.Node, leader.ID, "I4: the leader's own step must not run")
	leader.Kill()
	t.Logf("killed leader %s while %s's step ran", leader.ID, step.Node)

	// The survivors go on; the killed node comes back for its own step.
	time.Sleep(500 * time.Millisecond)
	leader.Restart()
	c.WaitTxn(id, 3*time.Minute, api.TxnDone)
	requireInstalledOnce(t, c, hooks, "2.0.0")
	requireNoOverlap(t, hooks, 1)
	requireNoLeaderInstall(t, c, hooks)
}

func TestAgentKilledDuringItsStepResumes(t *testing.T) {
	c, hooks := upgradeCluster(t, 3)
	require.NoError(t, hooks.Set("install-sleep", "2"))
	id := startUpgrade(t, c.Agent("n1"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})

	step := runningStep(t, c, id)
	victim := c.Agent(step.Node)
	// Let the install begin, then kill the agent (its hook keeps running).
	procs.Eventually(t, 30*time.Second, func() error {
		if len(installs(t, hooks)[victim.ID]) == 0 {
			return errorString("install not begun yet")
		}
		return nil
	})
	victim.Kill()
	time.Sleep(300 * time.Millisecond)
	victim.Restart()

	txn := c.WaitTxn(id, 3*time.Minute, api.TxnDone)
	require.Equal(t, uint64(1), txn.Step(victim.ID).Attempt, "the step resumed within its attempt")
	requireInstalledOnce(t, c, hooks, "2.0.0")
	requireNoLeaderInstall(t, c, hooks)

	// The restarted agent registers again once its step is over; the
	// catalogue must still say what the node runs.
	procs.Eventually(t, time.Minute, func() error {
		if n := strings.Count(procs.Tail(victim.LogPath, 10000), "registered in the catalogue"); n < 2 {
			return fmt.Errorf("%s registered %d times, want a registration after its restart", victim.ID, n)
		}
		return nil
	})
	for _, m := range membersJSON(t, c.Agent("n1")) {
		require.Equal(t, "2.0.0", m.Version, "member %s", m.ID)
	}
}

func TestFailingInstallHaltsThenRetrySucceeds(t *testing.T) {
	c, hooks := upgradeCluster(t, 3)
	require.NoError(t, hooks.Set("fail-install-n2", ""))
	id := startUpgrade(t, c.Agent("n1"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", OnFailure: "halt"})

	txn := c.WaitTxn(id, time.Minute, api.TxnFailed)
	require.Equal(t, api.StepFailed, txn.Step("n2").State)
	require.Contains(t, txn.Step("n2").Error, "install exited 3")
	require.Contains(t, txn.Reason, "n2")
	require.Equal(t, api.StepPending, txn.Step("n3").State, "halt: nothing after the failure began")

	require.NoError(t, hooks.Clear("fail-install-n2"))
	res := c.Agent("n3").CLI("upgrade", "retry", id)
	require.Equal(t, 0, res.Code, res.Stderr)
	txn = c.WaitTxn(id, 2*time.Minute, api.TxnDone)
	require.Equal(t, uint64(2), txn.Step("n2").Attempt)
	ins := installs(t, hooks)
	require.Len(t, ins["n2"], 2, "one install per attempt")
	require.Equal(t, []uint64{1, 2}, []uint64{ins["n2"][0].Attempt, ins["n2"][1].Attempt})
	require.Len(t, ins["n1"], 1)
	require.Len(t, ins["n3"], 1)
}

func TestFailingInstallRollsBack(t *testing.T) {
	c, hooks := upgradeCluster(t, 3)
	require.NoError(t, hooks.Set("fail-install-n3", ""))
	id := startUpgrade(t, c.Agent("n1"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "by-id", OnFailure: "rollback"})

	txn := c.WaitTxn(id, 2*time.Minute, api.TxnAborted)
	require.Contains(t, txn.Reason, "n3")
	events, err := hooks.Journal()
	require.NoError(t, err)
	var rollbacks []string
	for _, e := range events {
		if e.Hook == "rollback" && e.Kind == "begin" {
			rollbacks = append(rollbacks, e.Node)
			require.Equal(t, "1.0.0", e.Target)
		}
	}
	require.Equal(t, []string{"n3", "n2", "n1"}, rollbacks, "roll back the failed step, then the upgraded ones, newest first")
	for _, a := range c.Agents {
		require.Equal(t, "1.0.0", hooks.Version(a.ID))
		require.Equal(t, api.StepRolledBack, txn.Step(a.ID).State)
	}
	requireNoLeaderInstall(t, c, hooks)
}

func TestAbortStopsNewSteps(t *testing.T) {
	c, hooks := upgradeCluster(t, 3)
	require.NoError(t, hooks.Set("install-sleep", "1.5"))
	id := startUpgrade(t, c.Agent("n1"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})
	step := runningStep(t, c, id)

	res := c.Agent("n2").CLI("upgrade", "abort")
	require.Equal(t, 0, res.Code, res.Stderr)
	abortedAt := time.Now()
	txn := c.WaitTxn(id, time.Minute, api.TxnAborted)
	// The leader asks the running step's node to stop it; a node that can
	// (its cancel route) ends it failed, one that cannot lets it finish.
	if nodeHasRoute(t, func(ctx context.Context) error {
		_, err := c.Agent(step.Node).Client().CancelStep(ctx, "t-probe", 1, "probe")
		return err
	}) {
		require.Equal(t, api.StepFailed, txn.Step(step.Node).State, "the running step was stopped; nothing else began")
	} else {
		require.Equal(t, api.StepDone, txn.Step(step.Node).State, "the running step finished; nothing else began")
	}
	require.Equal(t, 2, txn.Count(api.StepPending))
	// I8: no step began after the abort was committed, so no install of
	// another attempt ran, whenever it was. (The running attempt, begun
	// before the abort, may reach its install after it.)
	for node, evs := range installs(t, hooks) {
		for _, e := range evs {
			if node == step.Node && e.Attempt == step.Attempt {
				continue
			}
			require.True(t, e.At.Before(abortedAt), "install on %s (attempt %d) began after the abort", node, e.Attempt)
		}
	}
	require.LessOrEqual(t, len(installs(t, hooks)[step.Node]), 1)
	for _, a := range c.Agents {
		if a.ID != step.Node {
			require.Empty(t, installs(t, hooks)[a.ID], "an install on %s, whose step never began", a.ID)
		}
	}
	res = c.Agent("n2").CLI("upgrade", "abort", id)
	require.Equal(t, 1, res.Code)
	require.Contains(t, res.Stderr, "already aborted")
}

func TestUpgradeBadInputChangesNothing(t *testing.T) {
	c, hooks := upgradeCluster(t, 3)
	a := c.Agent("n2")
	ctx := context.Background()
	before, _, err := a.Client().Members(ctx, api.Wait{})
	require.NoError(t, err)

	for _, tc := range []struct {
		req api.StartRequest
		msg string
	}{
		{api.StartRequest{TargetVersion: "2.0.0", Strategy: "zigzag"}, `unknown strategy "zigzag"`},
		{api.StartRequest{TargetVersion: "two"}, `version "two"`},
		{api.StartRequest{TargetVersion: "2.0.0", MaxParallel: "0"}, `max-parallel "0"`},
		{api.StartRequest{TargetVersion: "2.0.0", OnFailure: "pray"}, `on-failure "pray"`},
		{api.StartRequest{TargetVersion: "2.0.0", ArtifactURL: "file:///nowhere"}, "go together"},
		{api.StartRequest{TargetVersion: "2.0.0", ArtifactURL: "file:///x", ArtifactSHA256: "abc"}, `sha256 "abc"`},
		{api.StartRequest{TargetVersion: "2.0.0", StepTimeout: "soon"}, `step-timeout "soon"`},
	} {
		_, err := a.Client().StartUpgrade(ctx, tc.req)
		require.ErrorIs(t, err, api.ErrInvalid, tc.msg)
		require.Contains(t, err.Error(), tc.msg)
	}
	list, err := a.Client().Upgrades(ctx)
	require.NoError(t, err)
	require.Empty(t, list, "no transaction was created")

	// A second start while one is active is a conflict (409).
	require.NoError(t, hooks.Set("install-sleep", "1"))
	id := startUpgrade(t, a, api.StartRequest{TargetVersion: "2.0.0"})
	// The transaction hands leadership off at once (n1 leads and is
	// first): a start that lands during the election is told no_leader,
	// which proposed nothing and is to be retried.
	procs.Eventually(t, 30*time.Second, func() error {
		_, err = a.Client().StartUpgrade(ctx, api.StartRequest{TargetVersion: "3.0.0"})
		if errors.Is(err, api.ErrNoLeader) {
			return err
		}
		return nil
	})
	var apiErr *api.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 409, apiErr.Status)
	require.Contains(t, err.Error(), "already running")
	list, err = a.Client().Upgrades(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	c.WaitTxn(id, 2*time.Minute, api.TxnDone)

	after, _, err := a.Client().Members(ctx, api.Wait{})
	require.NoError(t, err)
	require.Len(t, after, len(before))
}

// A file: artifact (the attack read /etc/shadow and told its digest) is
// refused at start by the leader, before anything reaches the log.
func TestFileArtifactIsRefusedAtStart(t *testing.T) {
	c, hooks := upgradeCluster(t, 3)
	ctx := context.Background()
	before, err := c.Agent("n1").Client().Upgrades(ctx)
	require.NoError(t, err)
	for _, url := range []string{"file:///etc/shadow", "/etc/shadow", "../etc/shadow"} {
		_, err := c.Agent("n2").Client().StartUpgrade(ctx, api.StartRequest{TargetVersion: "2.0.0",
			ArtifactURL: url, ArtifactSHA256: strings.Repeat("0", 64)})
		require.ErrorIs(t, err, api.ErrInvalid, url)
		require.ErrorContains(t, err, "artifact URL", url)
	}
	after, err := c.Agent("n1").Client().Upgrades(ctx)
	require.NoError(t, err)
	require.Equal(t, before, after)
	require.Empty(t, installs(t, hooks))
}

func TestArtifactDigestMismatchNeverInstalls(t *testing.T) {
	c, hooks := upgradeCluster(t, 3)
	artifact := c.Root + "/artifact.tar"
	require.NoError(t, writeFile(artifact, "the new build"))
	wrong := "0000000000000000000000000000000000000000000000000000000000000000"
	id := startUpgrade(t, c.Agent("n1"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first",
		ArtifactURL: serveFile(t, artifact), ArtifactSHA256: wrong})
	txn := c.WaitTxn(id, time.Minute, api.TxnFailed)
	failed := txn.Steps[0]
	require.Equal(t, api.StepFailed, failed.State)
	require.Contains(t, failed.Error, wrong)
	require.NotContains(t, failed.Error, digest(t, artifact), "the computed digest is never told")
	require.NotContains(t, txn.Reason, digest(t, artifact))
	require.Empty(t, installs(t, hooks), "install never ran with a bad artifact")
	for _, a := range c.Agents {
		require.Equal(t, "1.0.0", hooks.Version(a.ID))
	}
}
