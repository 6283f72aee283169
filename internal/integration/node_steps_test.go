package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/baton-upgrade/baton/rpc/nodeauth"
	"github.com/stretchr/testify/require"
)

// nodeStatus asks node a for its account of attempt of transaction id.
func nodeStatus(t *testing.T, a *procs.Agent, id string, attempt uint64) (api.StepStatus, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return a.Client().StepStatus(ctx, id, attempt)
}

// TestCancelledStepIsStoppedOnItsNode: a step cancelled on its node (as the
// leader does at the step's deadline) stops there: its install's process
// group is terminated before the install completes, the node reports the
// attempt failed, the transaction halts with the node's reason, and the
// node takes the next attempt at once.
func TestCancelledStepIsStoppedOnItsNode(t *testing.T) {
	c, hooks := upgradeCluster(t, 3)
	require.NoError(t, hooks.Set("install-sleep", "4"))
	id := startUpgrade(t, c.Agent("n1"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", OnFailure: "halt"})
	step := runningStep(t, c, id)
	node := c.Agent(step.Node)
	procs.Eventually(t, time.Minute, func() error {
		for _, e := range installs(t, hooks)[node.ID] {
			if e.Txn == id && e.Attempt == step.Attempt {
				return nil
			}
		}
		return fmt.Errorf("the install of attempt %d has not begun on %s", step.Attempt, node.ID)
	})
	st, err := nodeStatus(t, node, id, step.Attempt)
	require.NoError(t, err)
	require.Equal(t, "install", st.Hook)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = node.Client().CancelStep(ctx, id, step.Attempt, "step timed out after 4s")
	require.ErrorIs(t, err, api.ErrForbidden, "a node takes a cancel only from the leader")
	_, err = asLeader(t, c, node).CancelStep(ctx, id, step.Attempt, "step timed out after 4s")
	require.NoError(t, err)
	cancelledAt := time.Now()

	txn := c.WaitTxn(id, time.Minute, api.TxnFailed)
	want := "cancelled: step timed out after 4s; install was stopped while it ran, so the node may be partly installed"
	require.Equal(t, want, txn.Step(node.ID).Error)
	st, err = nodeStatus(t, node, id, step.Attempt)
	require.NoError(t, err)
	require.Equal(t, api.StepFailed, st.State)
	require.Equal(t, want, st.Error)

	// The install would have ended 4 s after it began: it never does.
	time.Sleep(time.Until(cancelledAt.Add(6 * time.Second)))
	events, err := hooks.Journal()
	require.NoError(t, err)
	for _, e := range events {
		require.False(t, e.Hook == "install" && e.Node == node.ID && e.Kind == "end", "the cancelled install ran to its end on %s", node.ID)
	}
	require.Equal(t, "1.0.0", hooks.Version(node.ID), "the install did not complete")

	// The node is free for the next attempt.
	require.NoError(t, hooks.Set("install-sleep", "0.2"))
	res := c.Agent("n1").CLI("upgrade", "retry", id)
	require.Equal(t, 0, res.Code, res.Stderr)
	txn = c.WaitTxn(id, 2*time.Minute, api.TxnDone)
	require.Equal(t, step.Attempt+1, txn.Step(node.ID).Attempt)
	ins := installs(t, hooks)
	require.Len(t, ins[node.ID], 2, "one install per attempt: the cut one and the next")
}

// TestNodeServesItsHooksOutput: a failing install's stderr is kept by its
// node, served on the node's logs route, and quoted in the step's error.
func TestNodeServesItsHooksOutput(t *testing.T) {
	c, hooks := upgradeCluster(t, 3)
	require.NoError(t, hooks.Set("fail-install-n2", ""))
	id := startUpgrade(t, c.Agent("n1"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", OnFailure: "halt"})
	txn := c.WaitTxn(id, time.Minute, api.TxnFailed)
	require.Equal(t, "hook install exited 3: disk full on n2", txn.Step("n2").Error)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	logs, err := c.Agent("n2").Client().NodeStepLogs(ctx, id)
	require.NoError(t, err)
	require.Len(t, logs, 1)
	require.Equal(t, "n2", logs[0].Node)
	require.Equal(t, uint64(1), logs[0].Attempt)
	var hooksRun []string
	var install api.HookOutput
	for _, h := range logs[0].Hooks {
		hooksRun = append(hooksRun, h.Hook)
		if h.Hook == "install" {
			install = h
		}
	}
	require.Equal(t, []string{"drain", "install"}, hooksRun)
	require.Equal(t, "disk full on n2\n", install.Output)
	require.Equal(t, 3, install.ExitCode)
	require.False(t, install.Ended.Before(install.Began))

	none, err := c.Agent("n3").Client().NodeStepLogs(ctx, "t-never-ran")
	require.NoError(t, err)
	require.Empty(t, none)
}

// TestRollbackRunsTheForwardPhases: during a rollback, each node drains,
// rolls back, restarts and passes its health check before its version is
// read, as in a forward step, with the version rolled back to as target.
func TestRollbackRunsTheForwardPhases(t *testing.T) {
	c, hooks := upgradeCluster(t, 3)
	require.NoError(t, hooks.Set("fail-install-n3", ""))
	id := startUpgrade(t, c.Agent("n1"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "by-id", OnFailure: "rollback"})
	txn := c.WaitTxn(id, 2*time.Minute, api.TxnAborted)

	events, err := hooks.Journal()
	require.NoError(t, err)
	for _, a := range c.Agents {
		s := txn.Step(a.ID)
		require.Equal(t, api.StepRolledBack, s.State)
		var seen []string
		for _, e := range events {
			if e.Node == a.ID && e.Txn == id && e.Attempt == s.Attempt {
				seen = append(seen, e.Kind+" "+e.Hook)
				require.Equal(t, "1.0.0", e.Target, "%s %s of the rollback aims at the version rolled back to", e.Kind, e.Hook)
			}
		}
		require.Equal(t, []string{"begin drain", "end drain", "begin rollback", "end rollback", "begin restart", "end restart"}, seen,
			"the rollback attempt %d on %s", s.Attempt, a.ID)
		require.Equal(t, "1.0.0", hooks.Version(a.ID))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	logs, err := c.Agent("n2").Client().NodeStepLogs(ctx, id)
	require.NoError(t, err)
	last := logs[len(logs)-1]
	var ran []string
	for _, h := range last.Hooks {
		ran = append(ran, h.Hook)
	}
	require.Equal(t, []string{"drain", "rollback", "restart", "health", "version"}, ran)
	require.Equal(t, "1.0.0\n", last.Hooks[4].Output)
}

// TestFailingVersionHookShowsTheVersionUnknown: an agent whose version hook
// fails when it starts registers no version rather than its own build's,
// and `baton members` says why.
func TestFailingVersionHookShowsTheVersionUnknown(t *testing.T) {
	c := procs.NewCluster(t, batonBin)
	c.RaftMultiplier = 0.3
	hooks, err := procs.NewHooks(filepath.Join(c.Root, "hooks"), "1.0.0")
	require.NoError(t, err)
	c.ConfigFor = func(id string) string {
		if id != "n3" {
			return hooks.ConfigFor(id)
		}
		path := filepath.Join(c.Root, "agent-n3.json")
		cfg := map[string]any{"upgrade": map[string]any{"install": "true",
			"version": "echo 'cannot read /opt/app/VERSION: permission denied' >&2; exit 4"}}
		b, err := json.Marshal(cfg)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		return path
	}
	c.Start(3)

	var n3 api.Member
	procs.Eventually(t, time.Minute, func() error {
		for _, m := range membersJSON(t, c.Agent("n1")) {
			if m.ID == "n3" {
				n3 = m
			}
		}
		if n3.VersionError == "" {
			return fmt.Errorf("n3 shows no version error yet: %+v", n3)
		}
		return nil
	})
	require.Empty(t, n3.Version, "not the agent's build version (1.0.0 here, by chance the service's too)")
	require.Equal(t, "version hook failed: exited 4: cannot read /opt/app/VERSION: permission denied", n3.VersionError)

	res := c.Agent("n2").CLI("members")
	require.Equal(t, 0, res.Code, res.Stderr)
	var line string
	for _, l := range strings.Split(res.Stdout, "\n") {
		if strings.HasPrefix(l, "n3 ") {
			line = l
		}
	}
	require.Contains(t, line, "unknown (version hook failed: exited 4: cannot read /opt/app/VERSION: permission denied)")
	require.NotContains(t, line, "1.0.0")
	for _, m := range membersJSON(t, c.Agent("n2")) {
		if m.ID != "n3" {
			require.Equal(t, "1.0.0", m.Version)
			require.Empty(t, m.VersionError)
		}
	}
}

// asLeader is a client of a that signs as the cluster's leader, with the
// node key in the leader's data dir: the test plays the leader's
// coordinator, which a node alone takes steps and cancels from.
func asLeader(t *testing.T, c *procs.Cluster, a *procs.Agent) *api.Client {
	t.Helper()
	leader := currentLeader(t, c)
	key, _, err := nodeauth.LoadOrCreate(filepath.Join(leader.DataDir, nodeauth.KeyFile))
	require.NoError(t, err)
	return a.Client().WithHook(func(r *http.Request, body []byte) {
		r.Header.Set(nodeauth.Header, key.Sign(leader.ID, time.Now(), r.Method, r.URL.RequestURI(), body))
	})
}
