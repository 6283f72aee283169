package diskfaults

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/stretchr/testify/require"
)

// TestAgentRefusesToJoinAnotherCluster: n1 and n2 form a cluster; n1's
// machine is reinstalled and bootstraps a new cluster at the same
// addresses. n2, restarted with its old state, must not join it: it stops
// and says its data dir belongs to another cluster.
func TestAgentRefusesToJoinAnotherCluster(t *testing.T) {
	c := procs.NewCluster(t, batonBin)
	c.Start(2)
	n1, n2 := c.Agent("n1"), c.Agent("n2")
	old := clusterIDOf(t, n1.DataDir)
	require.NotEmpty(t, old, "the bootstrapping member makes a cluster id")
	require.Eventually(t, func() bool { return clusterIDOf(t, n2.DataDir) == old }, 30*time.Second, 100*time.Millisecond,
		"the joiner learns it")
	h, err := n2.Client().Health(context.Background())
	require.NoError(t, err)
	require.Equal(t, old, h.ClusterID, "and reports it")

	n2.Stop()
	n1.Stop()
	require.NoError(t, os.RemoveAll(n1.DataDir))
	n1.Start("--bootstrap")
	c.WaitMembers(n1, 1, 30*time.Second)
	require.NotEqual(t, old, clusterIDOf(t, n1.DataDir))

	n2.Restart()
	code, err := n2.WaitExit(60 * time.Second)
	require.NoError(t, err, "n2 stops: %s", procs.Tail(n2.LogPath, 10))
	require.Equal(t, 1, code)
	require.Contains(t, procs.Tail(n2.LogPath, 5), "data dir of another cluster")
	require.Contains(t, procs.Tail(n2.LogPath, 5), old)
}

func clusterIDOf(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "baton-identity.json"))
	if err != nil {
		return ""
	}
	var id struct {
		ClusterID string `json:"cluster_id"`
	}
	require.NoError(t, json.Unmarshal(b, &id))
	return id.ClusterID
}
