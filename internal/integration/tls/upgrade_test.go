package tls

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// A cluster whose Raft speaks mutual TLS and whose API speaks HTTPS runs a
// whole upgrade, started with the CLI through a follower (its write is
// forwarded to the leader over HTTPS), and finishes it on a new leader
// after its leader is killed with SIGKILL mid-run: every node installs
// exactly once.
func TestMutualTLSClusterUpgradesThroughALeaderKill(t *testing.T) {
	c, hooks := tlsCluster(t, 3)
	require.NoError(t, hooks.Set("install-sleep", "1.5"))
	leader := c.Leader()
	var follower *procs.Agent
	for _, a := range c.Agents {
		if a != leader {
			follower = a
			break
		}
	}

	res := follower.CLI("upgrade", "start", "--version", "2.0.0", "--json")
	require.Zero(t, res.Code, "stdout %s\nstderr %s", res.Stdout, res.Stderr)
	var txn api.Txn
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &txn))

	// Kill the leader while a step runs on another node.
	procs.Eventually(t, time.Minute, func() error {
		got := c.WaitTxn(txn.ID, 30*time.Second, api.TxnRunning)
		for _, s := range got.Steps {
			if s.State == api.StepRunning && s.Node != c.Leader().ID {
				return nil
			}
		}
		return errors.New("no step running off the leader yet")
	})
	killed := c.Leader()
	killed.Kill()
	t.Logf("killed leader %s with SIGKILL", killed.ID)
	procs.Eventually(t, 30*time.Second, func() error {
		if l := c.Leader(); l == killed {
			return errors.New("the survivors still name the killed leader")
		}
		return nil
	})
	t.Logf("new leader %s", c.Leader().ID)
	killed.Restart()

	done := c.WaitTxn(txn.ID, 3*time.Minute, api.TxnDone)
	require.Len(t, done.Steps, 3)
	ins := installsPerNode(t, hooks)
	for _, a := range c.Agents {
		require.Equal(t, 1, ins[a.ID], "installs on %s", a.ID)
		require.Equal(t, "2.0.0", hooks.Version(a.ID))
	}
	for _, a := range c.Agents {
		require.NotContains(t, procs.Tail(a.LogPath, 100000), "raft connection refused",
			"%s refused a Raft peer of its own cluster", a.ID)
	}
}
