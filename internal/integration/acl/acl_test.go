package acl

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// A cluster whose agents hold only the agent scope runs a whole upgrade
// started by an operator token, while anonymous callers read nothing and
// the read token writes nothing; every write is in an agent's audit log
// under the caller's name.
func TestUpgradeUnderAnACL(t *testing.T) {
	dir := t.TempDir()
	c, hooks := cluster(t, 3, agentSecret, "--acl-file", writeACL(t, dir))
	n1, n2 := c.Agent("n1"), c.Agent("n2")

	res := cli(t, n1, nil, "members")
	require.Equal(t, 1, res.Code, res.Stderr)
	require.Contains(t, res.Stderr, "requires a token")

	viewer := []string{"BATON_TOKEN_FILE=" + tokenFile(t, dir, "viewer.token", readSecret, 0o600)}
	res = cli(t, n1, viewer, "members", "--json")
	require.Equal(t, 0, res.Code, res.Stderr)
	var members []api.Member
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &members))
	require.Len(t, members, 3)
	for _, m := range members {
		require.True(t, strings.HasPrefix(m.NodeKey, "ed25519:"), "%s has its node key on record: %+v", m.ID, m)
	}
	res = cli(t, n2, viewer, "upgrade", "start", "--version", "2.0.0")
	require.Equal(t, 1, res.Code, res.Stderr)
	require.Contains(t, res.Stderr, "operator scope")
	res = cli(t, n2, []string{"BATON_TOKEN=" + agentSecret}, "upgrade", "start", "--version", "2.0.0")
	require.Equal(t, 1, res.Code, "the agent token cannot start an upgrade: %s", res.Stderr)
	_, _, err := n1.Client().Upgrade(t.Context(), "latest", api.Wait{})
	require.ErrorIs(t, err, api.ErrNotFound, "no transaction was started")

	ops := tokenFile(t, dir, "ops.token", operatorSecret, 0o600)
	res = cli(t, n2, nil, "upgrade", "start", "--version", "2.0.0", "--token-file", ops)
	require.Equal(t, 0, res.Code, res.Stderr)
	id := strings.TrimSpace(res.Stdout)
	waitState(t, n1, id, 2*time.Minute, api.TxnDone)
	for _, a := range c.Agents {
		require.Equal(t, "2.0.0", hooks.Version(a.ID))
		require.Len(t, installsOn(t, hooks, a.ID), 2, "%s: one drain and one install", a.ID)
	}

	var started, refused, notices int
	for _, a := range c.Agents {
		for _, l := range auditLines(t, a) {
			switch {
			case l["route"] == "POST /v1/upgrades" && l["caller"] == "ops" && l["status"] == float64(200) && l["txn"] == id:
				started++
			case l["route"] == "POST /v1/upgrades" && l["caller"] == "viewer" && l["status"] == float64(403):
				refused++
			case l["route"] == "POST /v1/internal/notices" && l["txn"] == id && l["caller"] == l["node"] && l["status"] == float64(200):
				notices++
			}
		}
	}
	require.GreaterOrEqual(t, started, 1, "the start is audited under the operator token's name")
	require.Equal(t, 1, refused, "the viewer's refused start is audited where it landed")
	require.GreaterOrEqual(t, notices, 3, "each node's notice, audited under the node's own name")
}

// A bad ACL file stops the agent with exit 1 and names the entry.
func TestABadACLFileStopsTheAgent(t *testing.T) {
	dir := t.TempDir()
	c, _ := cluster(t, 1, "")
	a := c.Add("n2")
	bad := tokenFile(t, dir, "acl.json", `{"tokens": [{"name": "ops", "secret": "short", "scope": "operator"}]}`, 0o600)
	a.Start("--acl-file", bad, "--join", c.Agent("n1").HTTPAddr)
	code, err := a.WaitExit(30 * time.Second)
	require.NoError(t, err)
	require.Equal(t, 1, code)
}
