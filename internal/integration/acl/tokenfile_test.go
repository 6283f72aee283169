package acl

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// --token-file gives the agent and the CLI their token without putting it
// on a command line; a file open to other users is used with a warning.
func TestTokenFileForTheAgentAndTheCLI(t *testing.T) {
	dir := t.TempDir()
	private := tokenFile(t, dir, "token", sharedToken, 0o600)
	c, _ := cluster(t, 1, "", "--token-file", private)
	n1 := c.Agent("n1")
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(n1.Pid()) + "/cmdline")
	require.NoError(t, err)
	require.NotContains(t, string(cmdline), sharedToken, "the secret is not on the agent's command line")

	res := cli(t, n1, nil, "members", "remove", "n9")
	require.Equal(t, 1, res.Code)
	require.Contains(t, res.Stderr, "requires a token")
	res = cli(t, n1, nil, "members", "remove", "n9", "--token-file", private)
	require.Equal(t, 1, res.Code)
	require.Contains(t, res.Stderr, `member "n9"`, "past the token check: %s", res.Stderr)
	require.NotContains(t, res.Stderr, "warning")
	res = cli(t, n1, []string{"BATON_TOKEN_FILE=" + private}, "upgrade", "start", "--version", "2.0.0", "--allow-leader-upgrade")
	require.Equal(t, 0, res.Code, res.Stderr)

	open := tokenFile(t, dir, "open-token", sharedToken, 0o644)
	res = cli(t, n1, []string{"BATON_TOKEN_FILE=" + open}, "members")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Contains(t, res.Stderr, "warning: token file "+open+" is open to other users (mode 0644)")

	res = cli(t, n1, []string{"BATON_TOKEN=" + sharedToken}, "members", "--token-file", private)
	require.Equal(t, 2, res.Code, "--token and --token-file together: %s", res.Stderr)
	res = cli(t, n1, nil, "members", "--token-file", dir+"/missing")
	require.Equal(t, 1, res.Code)
	require.Contains(t, res.Stderr, "no such file")
	empty := tokenFile(t, dir, "empty", "", 0o600)
	res = cli(t, n1, nil, "members", "--token-file", empty)
	require.Equal(t, 1, res.Code)
	require.Contains(t, res.Stderr, "empty")

	// An agent with a token file open to others starts, and says so.
	a := c.Add("n2")
	a.Start("--token-file", open, "--join", n1.HTTPAddr)
	c.WaitMembers(n1, 2, 30*time.Second)
	log, err := os.ReadFile(a.LogPath)
	require.NoError(t, err)
	require.True(t, strings.Contains(string(log), "is open to other users"), "the agent warns of the open token file")
}
