package ring

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// batonBin is the baton binary built once for the package: version 1.0.0,
// speaking the newest protocol of the source and the one before.
var batonBin string

func TestMain(m *testing.M) {
	procs.RunTests(m, "baton-ring-", func(dir string) (err error) {
		batonBin, err = procs.Build(dir, procs.BuildOptions{Version: "1.0.0", ProtocolMin: fsm.LatestProtocol - 1, ProtocolMax: fsm.LatestProtocol})
		return err
	})
}

// serviceAddr is the made-up service address of node id in these tests.
func serviceAddr(id string) string {
	return fmt.Sprintf("127.0.0.1:%d", 19000+len(id)*100+int(id[len(id)-1]))
}

// ringCluster starts n agents n1..n with the test hooks at 1.0.0, each
// naming its service_addr in its config file, with extra agent flags.
func ringCluster(t *testing.T, n int, extra ...string) (*procs.Cluster, *procs.Hooks) {
	t.Helper()
	c := procs.NewCluster(t, batonBin)
	c.RaftMultiplier = 0.3
	c.AgentArgs = append(c.AgentArgs, extra...)
	hooks, err := procs.NewHooks(filepath.Join(c.Root, "hooks"), "1.0.0")
	require.NoError(t, err)
	c.ConfigFor = func(id string) string { return withServiceAddr(t, hooks.ConfigFor(id), id) }
	c.Start(n)
	return c, hooks
}

// withServiceAddr writes beside path a copy of the config file that also
// names id's service_addr, and returns its path.
func withServiceAddr(t *testing.T, path, id string) string {
	out := path + ".ring.json"
	if _, err := os.Stat(out); err == nil {
		return out
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	cfg := map[string]any{}
	require.NoError(t, json.Unmarshal(b, &cfg))
	cfg["service_addr"] = serviceAddr(id)
	b, err = json.Marshal(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(out, b, 0o644))
	return out
}

// call runs fn with a bounded context.
func call[T any](t *testing.T, fn func(ctx context.Context) (T, error)) (T, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return fn(ctx)
}

// readRing reads the ring from a.
func readRing(t *testing.T, a *procs.Agent) api.Ring {
	t.Helper()
	r, err := call(t, func(ctx context.Context) (api.Ring, error) {
		r, _, err := a.Client().Ring(ctx, api.Wait{})
		return r, err
	})
	require.NoError(t, err)
	return r
}
