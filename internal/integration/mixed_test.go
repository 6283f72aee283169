package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/node"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/baton-upgrade/baton/rpc/embed"
	"github.com/stretchr/testify/require"
)

// oldBuild is Baton 1.0.0 speaking protocol 1 only: the mixed-version tests
// upgrade it to newBuild, through the first protocol change Baton made.
func oldBuild(t *testing.T) string {
	t.Helper()
	bin, err := procs.Build(buildDir, procs.BuildOptions{Version: "1.0.0", ProtocolMin: 1, ProtocolMax: 1})
	require.NoError(t, err)
	return bin
}

// newBuild is Baton 2.0.0, which speaks protocols 1 and 2.
func newBuild(t *testing.T) string {
	t.Helper()
	bin, err := procs.Build(buildDir, procs.BuildOptions{Version: "2.0.0", ProtocolMin: 1, ProtocolMax: 2})
	require.NoError(t, err)
	return bin
}

func digest(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// serveFile serves the file at path over loopback http for the test's
// length and returns its URL: agents fetch artifacts only from http(s).
func serveFile(t *testing.T, path string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, path) }))
	t.Cleanup(srv.Close)
	return srv.URL + "/" + filepath.Base(path)
}

// selfUpgradeCluster starts n agents of the 1.0.0 build, each on its own
// copy of the binary, whose install replaces that copy with the artifact and
// whose restart is "self". Rollback puts the 1.0.0 build back. A file
// fail-install-ID in the cluster root makes that node's install fail.
func selfUpgradeCluster(t *testing.T, n int) *procs.Cluster {
	t.Helper()
	c := procs.NewCluster(t, oldBuild(t))
	c.RaftMultiplier = 0.3
	c.OwnBinary = true
	c.AgentArgs = append(c.AgentArgs, "--allow-http-artifacts") // serveFile's loopback http
	c.ConfigFor = func(id string) string {
		bin := filepath.Join(c.Root, id+"-bin", "baton")
		old := bin + "-1.0.0"
		if _, err := os.Stat(old); err != nil {
			b, err := os.ReadFile(oldBuild(t))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(old, b, 0o755))
		}
		replace := func(from string) string {
			return fmt.Sprintf(`cp %q %q.new && chmod 755 %q.new && mv %q.new %q`, from, bin, bin, bin, bin)
		}
		cfg := map[string]any{"upgrade": map[string]any{
			"install":  fmt.Sprintf(`test ! -e %q && %s`, filepath.Join(c.Root, "fail-install-"+id), replace("$BATON_ARTIFACT_PATH")),
			"restart":  "self",
			"rollback": replace(old),
			"timeout":  "60s",
		}}
		path := filepath.Join(c.Root, "agent-"+id+".json")
		b, _ := json.Marshal(cfg)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		return path
	}
	c.Start(n)
	return c
}

func protocolOf(t *testing.T, a *procs.Agent) api.ProtocolInfo {
	t.Helper()
	p, _, err := a.Client().Protocol(context.Background(), api.Wait{})
	require.NoError(t, err)
	return p
}

// requireNoDecodeErrors checks that no agent ever met an entry it could not
// apply, nor skipped one: the lines node logs for both (proved to be
// written by node's TestFollowerStopsOnAnEntryItCannotApply).
func requireNoDecodeErrors(t *testing.T, c *procs.Cluster) {
	t.Helper()
	for _, a := range c.Agents {
		b, err := os.ReadFile(a.LogPath)
		require.NoError(t, err)
		for _, bad := range []string{node.LogCannotApply, node.LogSkippedEntry} {
			require.NotContains(t, string(b), bad, "agent %s logged %q", a.ID, bad)
		}
	}
}

func TestMixedVersionClusterUpgradesItselfAndSwitchesProtocolAtFinalize(t *testing.T) {
	c := selfUpgradeCluster(t, 3)
	artifact := newBuild(t)
	require.Equal(t, 1, protocolOf(t, c.Agent("n1")).Active)

	// Every node's embedded follower must see the protocol change once.
	var mu sync.Mutex
	seen := map[string][]embed.Change{}
	for _, a := range c.Agents {
		f, err := embed.Follow(context.Background(), embed.Options{Addr: a.HTTPAddr, Wait: 2 * time.Second,
			OnChange: func(ch embed.Change) {
				if ch.Kind == embed.ProtocolChanged {
					mu.Lock()
					seen[a.ID] = append(seen[a.ID], ch)
					mu.Unlock()
				}
			}})
		require.NoError(t, err)
		t.Cleanup(f.Close)
	}

	id := startUpgrade(t, c.Agent("n2"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first",
		ArtifactURL: serveFile(t, artifact), ArtifactSHA256: digest(t, artifact)})
	txn := c.WaitTxn(id, 3*time.Minute, api.TxnDone)
	require.Equal(t, 2, txn.ProtocolVersion)

	for _, m := range membersJSON(t, c.Agent("n3")) {
		require.Equal(t, "2.0.0", m.Version, "%s reports the new build's version", m.ID)
		require.Equal(t, api.ProtocolRange{Min: 1, Max: 2}, m.Protocol)
	}
	require.Equal(t, 2, protocolOf(t, c.Agent("n1")).Active)

	// The protocol-2 command appears only after finalize, from every node.
	var finalizeAt uint64
	statusBy := map[string]uint64{}
	procs.Eventually(t, time.Minute, func() error {
		evs, err := c.Agent("n3").Client().Events(context.Background(), 0, 0)
		if err != nil {
			return err
		}
		for _, e := range evs.Events {
			switch e.Type {
			case api.EventTxnFinalize:
				finalizeAt = e.Index
			case api.EventMemberStatus:
				statusBy[e.Node] = e.Index
			}
		}
		if finalizeAt == 0 || len(statusBy) < 3 {
			return fmt.Errorf("finalize at %d, build reports from %v", finalizeAt, statusBy)
		}
		return nil
	})
	for node, idx := range statusBy {
		require.Greater(t, idx, finalizeAt, "%s reported with member.status before finalize", node)
	}
	requireNoDecodeErrors(t, c)

	// Each follower saw 1 -> 2, once.
	procs.Eventually(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range c.Agents {
			if len(seen[a.ID]) != 1 {
				return fmt.Errorf("%s saw %d protocol changes", a.ID, len(seen[a.ID]))
			}
		}
		return nil
	})
	time.Sleep(2 * time.Second) // a second notification would show by now
	mu.Lock()
	for _, a := range c.Agents {
		require.Len(t, seen[a.ID], 1, "%s: protocol change notified once", a.ID)
		require.Equal(t, 1, seen[a.ID][0].OldProtocol)
		require.Equal(t, 2, seen[a.ID][0].NewProtocol)
	}
	mu.Unlock()

	// Past finalize there is no way back to a protocol-1 build.
	_, err := c.Agent("n1").Client().StartUpgrade(context.Background(), api.StartRequest{TargetVersion: "1.0.0"})
	require.ErrorIs(t, err, api.ErrConflict)
	require.Contains(t, err.Error(), "below the cluster's active protocol 2")

	// And a 1.0.0 agent cannot join.
	old := c.Add("n4")
	old.Bin = oldBuild(t)
	old.Start("--join", c.Agent("n1").HTTPAddr)
	code, err := old.WaitExit(time.Minute)
	require.NoError(t, err)
	require.Equal(t, 1, code)
	logText, _ := os.ReadFile(old.LogPath)
	require.Contains(t, string(logText), "speaks protocol 1-1 but the cluster's active protocol is 2")
}

func TestRollbackBeforeFinalizeReturnsToTheOldBuild(t *testing.T) {
	c := selfUpgradeCluster(t, 3)
	artifact := newBuild(t)
	// n1 goes last with secondaries-first; its install fails after the
	// others run the new build.
	require.NoError(t, os.WriteFile(filepath.Join(c.Root, "fail-install-n1"), nil, 0o644))
	id := startUpgrade(t, c.Agent("n2"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first",
		OnFailure: "rollback", ArtifactURL: serveFile(t, artifact), ArtifactSHA256: digest(t, artifact)})
	txn := c.WaitTxn(id, 3*time.Minute, api.TxnAborted)
	require.Contains(t, txn.Reason, "n1")

	procs.Eventually(t, time.Minute, func() error {
		for _, m := range membersJSON(t, c.Agent("n3")) {
			if m.Version != "1.0.0" || m.Protocol.Max != 1 {
				return fmt.Errorf("%s runs %s (protocol %d-%d)", m.ID, m.Version, m.Protocol.Min, m.Protocol.Max)
			}
		}
		return nil
	})
	require.Equal(t, 1, protocolOf(t, c.Agent("n1")).Active)
	requireNoDecodeErrors(t, c)

	// The cluster keeps working: leadership moves, and a new plan is made.
	to := "n3"
	if leaderSeenBy(c.Agent("n1")) == "n3" {
		to = "n2"
	}
	res := c.Agent("n1").CLI("leader", "transfer", "--to", to)
	require.Equal(t, 0, res.Code, res.Stderr)
	res = c.Agent("n1").CLI("upgrade", "plan", "--version", "2.0.0")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.True(t, strings.Contains(res.Stdout, "batch 3"), res.Stdout)
}

func TestMemberDownAtFinalizeBlocksItUntilBack(t *testing.T) {
	c, hooks := upgradeCluster(t, 3)
	require.NoError(t, hooks.Set("install-sleep", "1.5"))
	id := startUpgrade(t, c.Agent("n1"), api.StartRequest{TargetVersion: "2.0.0", Strategy: "secondaries-first"})

	// When n2's step is done and n3's runs, n2 goes down.
	procs.Eventually(t, time.Minute, func() error {
		txn := c.WaitTxn(id, 30*time.Second, api.TxnRunning, api.TxnFinalizing)
		if txn.Step("n2").State != api.StepDone || txn.Step("n3").State != api.StepRunning {
			return fmt.Errorf("n2 %s, n3 %s", txn.Step("n2").State, txn.Step("n3").State)
		}
		return nil
	})
	c.Agent("n2").Kill()

	txn := c.WaitTxn(id, 2*time.Minute, api.TxnFinalizing)
	procs.Eventually(t, 30*time.Second, func() error {
		txn = c.WaitTxn(id, 30*time.Second, api.TxnFinalizing)
		if !strings.Contains(txn.Reason, "finalize blocked: n2 unreachable") {
			return fmt.Errorf("reason %q", txn.Reason)
		}
		return nil
	})
	c.Agent("n2").Restart()
	c.WaitTxn(id, time.Minute, api.TxnDone)
}
