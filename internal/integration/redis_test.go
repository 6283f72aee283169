package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/stretchr/testify/require"
)

// TestRedisDemoLosesNoAcknowledgedWrite runs `make demo-redis`'s script on
// the test build: a Redis primary and two replicas rolled secondaries-first
// under a writing client, Baton's leader killed once. The script fails when
// the upgrade does not end done or the client lost an acknowledged write.
// It needs redis-server, redis-cli and jq (.ci/run installs them); without
// them it skips, saying so.
func TestRedisDemoLosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("the Redis demo takes about a minute; -short skips it")
	}
	procs.LookTool(t, "redis-server", "redis-server")
	procs.LookTool(t, "redis-cli", "redis-server")
	procs.LookTool(t, "jq", "jq")
	bin := t.TempDir()
	require.NoError(t, os.Symlink(batonBin, filepath.Join(bin, "baton")))
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "redis-demo-client"), "../../examples/redis/client")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build the demo client: %s", out)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	demo := exec.CommandContext(ctx, "../../examples/redis/demo.sh", bin)
	demo.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	demo.WaitDelay = 10 * time.Second
	out, err = demo.CombinedOutput()
	require.NoError(t, err, "demo-redis failed:\n%s", out)
	for _, want := range []string{
		"reason           primary = the service's primary n2 (from the role hooks), upgraded last",
		"SIGKILL of Baton's leader",
		"switch-over n2 -> ",
		"committed (",
		" 0 lost acknowledged writes",
		"demo-redis: the upgrade is done and no acknowledged write was lost",
	} {
		require.Contains(t, string(out), want)
	}
	require.Regexp(t, `switch-over n2 -> n[13]: done`, string(out))
}
