package integration

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// TestSIGHUPReloadsTheHooks: SIGHUP gives the agent the hooks of its config
// file as it is now, instead of killing it; a file that does not load
// leaves the hooks as they were.
func TestSIGHUPReloadsTheHooks(t *testing.T) {
	c, hooks := upgradeCluster(t, 1)
	a := c.Agent("n1")
	path := hooks.ConfigFor("n1")
	diagnostic := func() api.Diagnostic {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		d, err := a.Client().Diagnostic(ctx, true)
		require.NoError(t, err)
		return d
	}
	require.True(t, diagnostic().Healthy)

	// A health hook that fails, by a reload.
	rewrite := func(edit func(map[string]any)) {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		var cfg map[string]any
		require.NoError(t, json.Unmarshal(b, &cfg))
		edit(cfg["upgrade"].(map[string]any))
		b, err = json.Marshal(cfg)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, b, 0o644))
	}
	rewrite(func(u map[string]any) { u["health"] = "echo reloaded-health-fails >&2; exit 1" })
	require.NoError(t, a.Signal(syscall.SIGHUP))
	procs.Eventually(t, 20*time.Second, func() error {
		if d := diagnostic(); d.Healthy {
			return errorString("the old health hook still runs")
		}
		return nil
	})
	require.Contains(t, diagnostic().HealthError, "reloaded-health-fails")
	require.False(t, a.Exited(), "SIGHUP must not stop the agent")

	// A file that does not load: the agent says so and keeps its hooks.
	require.NoError(t, os.WriteFile(path, []byte(`{"upgrade": `), 0o644))
	require.NoError(t, a.Signal(syscall.SIGHUP))
	procs.Eventually(t, 20*time.Second, func() error {
		if !strings.Contains(procs.Tail(a.LogPath, 50), "config not reloaded") {
			return errorString("no word of the bad file in the log")
		}
		return nil
	})
	require.False(t, a.Exited())
	require.Contains(t, diagnostic().HealthError, "reloaded-health-fails", "the hooks stay as they were")
}
