package artifacts

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// TestGroupedUpgradeFromTheCluster: four agents in two racks upgrade
// grouped by label with an artifact held by the cluster. Each group's
// leader (n2 named by its label, n3 the lowest of rack b) upgrades after
// its members; before its step begins, a member is recorded acting for the
// group; every install hook sees the pushed bytes.
func TestGroupedUpgradeFromTheCluster(t *testing.T) {
	c := procs.NewCluster(t, batonBin)
	c.RaftMultiplier = 0.3
	c.Token = "s3cret"
	hooks := filepath.Join(c.Root, "hooks")
	c.ConfigFor = writeConfigs(t, hooks, map[string]map[string]string{
		"n1": {"rack": "a"}, "n2": {"rack": "a", "baton.group-leader": "true"},
		"n3": {"rack": "b"}, "n4": {"rack": "b"},
	})
	c.Start(4)
	path, sha := program(t, 20<<10)
	res := c.Agents[0].CLI("artifact", "push", path)
	require.Zero(t, res.Code, "stdout %s\nstderr %s", res.Stdout, res.Stderr)

	res = c.Agents[0].CLI("upgrade", "plan", "--version", "2.0.0", "--strategy", "grouped", "--group-by", "label:rack", "--json")
	require.Zero(t, res.Code, "stdout %s\nstderr %s", res.Stdout, res.Stderr)
	var plan api.Plan
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &plan))
	require.Equal(t, []api.Group{{Name: "a", Leader: "n2", Members: []string{"n1", "n2"}}, {Name: "b", Leader: "n3", Members: []string{"n4", "n3"}}}, plan.Groups)

	res = c.Agents[0].CLI("upgrade", "start", "--version", "2.0.0", "--strategy", "grouped", "--group-by", "label:rack",
		"--artifact", "sha256:"+sha, "--json")
	require.Zero(t, res.Code, "stdout %s\nstderr %s", res.Stdout, res.Stderr)
	var txn api.Txn
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &txn))
	done := c.WaitTxn(txn.ID, 3*time.Minute, api.TxnDone)
	require.Equal(t, plan.Groups, stripActing(done.Groups))

	began := map[string]time.Time{}
	for _, s := range done.Steps {
		began[s.Node] = s.StartedAt
	}
	require.True(t, began["n1"].Before(began["n2"]), "n2, group a's leader, after n1")
	require.True(t, began["n2"].Before(began["n4"]), "group b after group a")
	require.True(t, began["n4"].Before(began["n3"]), "n3, group b's leader, after n4")

	// The record of who acts for each group precedes its leader's step.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evs, err := c.Leader().Client().Events(ctx, 0, 0)
	require.NoError(t, err)
	acting := map[string]uint64{}
	begin := map[string]uint64{}
	for _, e := range evs.Events {
		switch {
		case e.Type == api.EventGroupActing && e.Txn == txn.ID && e.Node != "":
			if _, seen := acting[e.Node]; !seen {
				acting[e.Node] = e.Index
			}
		case e.Type == api.EventStepBegin && e.Txn == txn.ID:
			begin[e.Node] = e.Index
		}
	}
	require.Contains(t, acting, "n1", "n1 acts for group a while n2 upgrades")
	require.Contains(t, acting, "n4", "n4 acts for group b while n3 upgrades")
	require.Less(t, acting["n1"], begin["n2"])
	require.Less(t, acting["n4"], begin["n3"])

	for _, a := range c.Agents {
		seen, err := os.ReadFile(filepath.Join(hooks, "seen-"+a.ID))
		require.NoError(t, err)
		require.Equal(t, sha, strings.TrimSpace(string(seen)), "%s's install hook saw the pushed bytes", a.ID)
	}
}

func stripActing(groups []api.Group) []api.Group {
	out := make([]api.Group, len(groups))
	for i, g := range groups {
		out[i] = api.Group{Name: g.Name, Leader: g.Leader, Members: g.Members}
	}
	return out
}
