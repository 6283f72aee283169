package integration

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// TestMetricsPassPromtool: every agent's /v1/metrics, after a real upgrade,
// passes Debian's `promtool check metrics` (names, units, _total counters,
// help texts), serves baton_agent_leader on every agent (0 on followers),
// has no NaN, and keeps peer ids out of names.
func TestMetricsPassPromtool(t *testing.T) {
	promtool := procs.LookTool(t, "promtool", "prometheus")
	c, _ := upgradeCluster(t, 3)
	waitStatus(t, c.Agent("n1"), api.MemberAlive)
	id := startUpgrade(t, c.Agent("n1"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})
	c.WaitTxn(id, 3*time.Minute, api.TxnDone)
	leader := currentLeader(t, c)

	for _, a := range c.Agents {
		resp, err := http.Get("http://" + a.HTTPAddr + "/v1/metrics")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		text := string(body)

		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool check metrics on %s:\n%s", a.ID, out)

		want := "baton_agent_leader 0"
		if a.ID == leader.ID {
			want = "baton_agent_leader 1"
		}
		require.Contains(t, text, "\n"+want+"\n", a.ID)
		require.NotContains(t, text, "NaN", a.ID)
		for _, n := range []string{"n1", "n2", "n3"} {
			require.NotRegexp(t, regexp.MustCompile(`(?m)^baton_\S*_`+n+`[ {]`), text, "a peer id in a metric name on %s", a.ID)
		}
		for _, metric := range []string{
			"baton_members{status=\"alive\",voter=\"true\"} 3",
			"baton_transactions{state=\"done\"} 1",
			"baton_transaction_state{state=\"running\"} 0",
			"baton_step_duration_seconds_count 3",
			"baton_protocol_active 3",
		} {
			require.Contains(t, text, metric, a.ID)
		}
	}
}
