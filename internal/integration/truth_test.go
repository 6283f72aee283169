package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// These tests check that what a transaction says is what happened on its
// nodes: a timed-out step, a failed rollback, a node already at the target.

// logRecords returns the lines of a's log whose message is msg, decoded.
func logRecords(t *testing.T, a *procs.Agent, msg string) []map[string]any {
	t.Helper()
	f, err := os.Open(a.LogPath)
	require.NoError(t, err)
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["@message"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// nodeHasRoute reports whether an agent serves the node-side route that
// call reaches: an agent without it answers "no route" (the catch-all).
func nodeHasRoute(t *testing.T, call func(ctx context.Context) error) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := call(ctx)
	var apiErr *api.APIError
	if errors.As(err, &apiErr) && strings.Contains(apiErr.Message, "no route") {
		return false
	}
	return true
}

// TestTimedOutStepIsStoppedOnItsNode: a step with a 2 s step timeout whose
// install takes 8 s fails at its deadline, and the leader asks its node to
// stop the attempt. Once the node stops it (the node's cancel route), the
// install never ends and the node stays on 1.0.0; a node without the route
// finishes the install, and its late notice still brings 2.0.0 into the
// catalogue while the transaction stays failed.
func TestTimedOutStepIsStoppedOnItsNode(t *testing.T) {
	c, hooks := upgradeCluster(t, 3)
	require.NoError(t, hooks.Set("install-sleep", "8"))
	id := startUpgrade(t, c.Agent("n1"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", StepTimeout: "2s"})

	txn := c.WaitTxn(id, time.Minute, api.TxnFailed)
	failedAt := time.Now()
	step := txn.Step("n2")
	require.Equal(t, api.StepFailed, step.State)
	require.Equal(t, "no completion notice within the step timeout (2s)", step.Error, "the error names the deadline")
	require.Contains(t, txn.Reason, "step timeout (2s)")

	// The leader asked n2 to stop attempt 1.
	procs.Eventually(t, 30*time.Second, func() error {
		for _, a := range c.Agents {
			for _, msg := range []string{"asked the node to stop the attempt", "the node cannot stop the attempt"} {
				for _, rec := range logRecords(t, a, msg) {
					if rec["node"] == "n2" && rec["txn"] == id && rec["attempt"] == float64(1) {
						t.Logf("%s logged %q: %v", a.ID, msg, rec)
						return nil
					}
				}
			}
		}
		return errors.New("no agent logged a request to stop n2's attempt")
	})

	n2 := c.Agent("n2")
	if nodeHasRoute(t, func(ctx context.Context) error {
		_, err := n2.Client().CancelStep(ctx, "t-probe", 1, "probe")
		return err
	}) {
		// The node stops the attempt: the install is killed before its
		// end, and nothing says n2 runs 2.0.0.
		time.Sleep(time.Until(failedAt.Add(10 * time.Second)))
		for _, e := range mustJournal(t, hooks) {
			require.False(t, e.Node == "n2" && e.Hook == "install" && e.Kind == "end", "n2's install ran to its end at %s", e.At)
		}
		require.Equal(t, "1.0.0", hooks.Version("n2"))
		for _, m := range membersJSON(t, c.Agent("n1")) {
			require.Equal(t, "1.0.0", m.Version, "member %s", m.ID)
		}
	} else {
		t.Log("n2's build has no route to stop an attempt: its install runs on, and its late notice must reach the catalogue")
		procs.Eventually(t, 45*time.Second, func() error {
			for _, m := range membersJSON(t, c.Agent("n1")) {
				if m.ID == "n2" && m.Version != "2.0.0" {
					return fmt.Errorf("the catalogue says n2 runs %s (the hooks say %s)", m.Version, hooks.Version("n2"))
				}
			}
			return nil
		})
		require.Equal(t, "2.0.0", hooks.Version("n2"))
	}
	txn = c.WaitTxn(id, 10*time.Second, api.TxnFailed)
	require.Equal(t, api.StepFailed, txn.Step("n2").State, "the transaction's decision stands")
	require.Equal(t, api.StepPending, txn.Step("n3").State)
}

func mustJournal(t *testing.T, hooks *procs.Hooks) []procs.HookEvent {
	t.Helper()
	events, err := hooks.Journal()
	require.NoError(t, err)
	return events
}

// attemptStates lists a step's attempts as "N:kind:state".
func attemptStates(s *api.Step) []string {
	var out []string
	for _, a := range s.Attempts {
		kind := "upgrade"
		if a.Rollback {
			kind = "rollback"
		}
		out = append(out, fmt.Sprintf("%d:%s:%s", a.Attempt, kind, a.State))
	}
	return out
}

// TestFailedRollbackIsReportedAndRecovered: n3's install fails under the
// rollback policy, and the rollback hooks of n3 and n2 fail. The
// transaction says so (rollback-failed, naming n2 and n3) instead of ending
// "aborted … rollback finished". A retry retries the rollback (n2's now
// works, n3's does not), and retry --forward then upgrades every node;
// every attempt stays in the record.
func TestFailedRollbackIsReportedAndRecovered(t *testing.T) {
	c, hooks := upgradeCluster(t, 3)
	for _, f := range []string{"fail-install-n3", "fail-rollback-n2", "fail-rollback-n3"} {
		require.NoError(t, hooks.Set(f, ""))
	}
	id := startUpgrade(t, c.Agent("n1"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first", OnFailure: "rollback"})

	txn := c.WaitTxn(id, 2*time.Minute, api.TxnRollbackFailed)
	require.Regexp(t, `^rollback failed on n2, n3; step on n3 failed \(attempt 1\): `, txn.Reason)
	for _, n := range []string{"n2", "n3"} {
		require.Equal(t, api.StepFailed, txn.Step(n).State)
		require.True(t, txn.Step(n).Rollback)
	}
	require.Equal(t, api.StepPending, txn.Step("n1").State)
	require.Equal(t, "2.0.0", hooks.Version("n2"), "n2's rollback did not run to its end")
	res := c.Agent("n2").CLI("upgrade", "status", id)
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Regexp(t, `state\s+rollback-failed\n`, res.Stdout)
	require.Regexp(t, `result\s+2 rollback failed, 1 not upgraded\n`, res.Stdout)

	// Retry the rollback: n2's now works, n3's fails again.
	require.NoError(t, hooks.Clear("fail-rollback-n2"))
	res = c.Agent("n3").CLI("upgrade", "retry")
	require.Equal(t, 0, res.Code, res.Stderr)
	txn = c.WaitTxn(id, 2*time.Minute, api.TxnRollbackFailed)
	require.Regexp(t, `^rollback failed on n3; `, txn.Reason)
	require.Equal(t, api.StepRolledBack, txn.Step("n2").State)
	require.Equal(t, "1.0.0", hooks.Version("n2"))

	// Roll forward instead.
	require.NoError(t, hooks.Clear("fail-rollback-n3"))
	require.NoError(t, hooks.Clear("fail-install-n3"))
	res = c.Agent("n2").CLI("upgrade", "retry", id, "--forward")
	require.Equal(t, 0, res.Code, res.Stderr)
	txn = c.WaitTxn(id, 3*time.Minute, api.TxnDone)
	for _, a := range c.Agents {
		require.Equal(t, "2.0.0", hooks.Version(a.ID))
		require.Equal(t, api.StepDone, txn.Step(a.ID).State)
	}
	require.Equal(t, []string{"1:upgrade:failed", "2:rollback:failed", "3:rollback:failed", "4:upgrade:done"}, attemptStates(txn.Step("n3")))
	require.Equal(t, []string{"1:upgrade:done", "2:rollback:failed", "3:rollback:rolled-back", "4:upgrade:done"}, attemptStates(txn.Step("n2")))
	require.Contains(t, txn.Step("n3").Attempts[0].Error, "install exited 3")
	requireNoLeaderInstall(t, c, hooks)

	res = c.Agent("n1").CLI("upgrade", "status", id)
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Contains(t, res.Stdout, "earlier attempts:")
	require.Regexp(t, `n3\s+1\s+upgrade\s+failed\s+\S+\s+hook install exited 3: disk full on n3\n`, res.Stdout, "attempt 1's error is still shown")
	res = c.Agent("n1").CLI("upgrade", "list")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Regexp(t, id+`\s+done\s+2\.0\.0\s+secondaries-first\s+\S+\s+\S+\s+3/3 upgraded\s`, res.Stdout)

	// The failing install's stderr, from the node's journal.
	res = c.Agent("n1").CLI("upgrade", "logs", id, "--node", "n3", "--hook", "install")
	require.Equal(t, 0, res.Code, "a node that cannot be asked does not fail the command: %s", res.Stderr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Agent("n3").Client().NodeStepLogs(ctx, id); err == nil {
		require.Regexp(t, `==> n3 · attempt 1 · install · exit 3 · `, res.Stdout)
		require.Contains(t, res.Stdout, "disk full on n3")
	} else {
		t.Logf("n3's build serves no hook output (%v): the logs name it instead", err)
		require.Contains(t, res.Stdout, "==> n3: could not get the hook output of n3")
	}
}

// TestPlanAndExecutionAgree: n1, the leader, already runs 2.0.0. The plan
// says its step is skipped and needs no handoff; the transaction then runs
// no hook on n1 and does not move leadership for it.
func TestPlanAndExecutionAgree(t *testing.T) {
	c, hooks := upgradeClusterPrepared(t, 3, func(h *procs.Hooks) { require.NoError(t, h.Set("version-n1", "2.0.0\n")) })
	procs.Eventually(t, 30*time.Second, func() error {
		for _, m := range membersJSON(t, c.Agent("n1")) {
			if m.ID == "n1" && m.Version != "2.0.0" {
				return fmt.Errorf("n1 registered %s", m.Version)
			}
		}
		return nil
	})
	require.Equal(t, "n1", currentLeader(t, c).ID)

	res := c.Agent("n2").CLI("upgrade", "plan", "--version", "2.0.0", "--strategy", "by-id")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Contains(t, res.Stdout, "batch 1: n1\n  skip n1: already at 2.0.0, no hook runs\nbatch 2: n2\nbatch 3: n3\n")
	require.NotContains(t, res.Stdout, "hand leadership off")
	require.Contains(t, res.Stdout, "warning: n1 already runs 2.0.0: its step is skipped (no hook runs, and no handoff for it)")

	id := startUpgrade(t, c.Agent("n1"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "by-id"})
	txn := c.WaitTxn(id, 2*time.Minute, api.TxnDone)
	n1 := txn.Step("n1")
	require.True(t, n1.Skipped)
	require.Equal(t, api.StepDone, n1.State)
	require.Zero(t, n1.Attempt, "nothing was begun on n1")
	require.Empty(t, n1.Attempts)
	for _, n := range []string{"n2", "n3"} {
		require.False(t, txn.Step(n).Skipped)
		require.Equal(t, uint64(1), txn.Step(n).Attempt)
	}
	for _, e := range mustJournal(t, hooks) {
		require.NotEqual(t, "n1", e.Node, "a hook ran on n1: %+v", e)
	}
	ins := installs(t, hooks)
	for _, n := range []string{"n2", "n3"} {
		require.Len(t, ins[n], 1, "installs on %s", n)
	}
	for _, a := range c.Agents {
		require.Equal(t, "2.0.0", hooks.Version(a.ID))
	}
	requireNoLeaderInstall(t, c, hooks)

	// No handoff for n1's step: n1 led throughout, unless an election
	// moved leadership on its own.
	tenures, err := c.Tenures()
	require.NoError(t, err)
	if len(tenures) == 1 && tenures[0].Node == "n1" {
		for _, a := range c.Agents {
			require.Empty(t, logRecords(t, a, "handing leadership off"), "%s handed leadership off", a.ID)
		}
	} else {
		t.Logf("leadership changed during the run (%d tenures): not checking for handoffs", len(tenures))
	}
	res = c.Agent("n3").CLI("upgrade", "status", id)
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Regexp(t, `n1\s+1\s+skipped\s+0\s`, res.Stdout)
	require.Regexp(t, `result\s+3/3 upgraded \(1 already was\)\n`, res.Stdout)
}
