package artifacts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// writeConfigs returns the agents' config files: labels, and hooks whose
// directory holds, per node, what its install hook saw: the digest of the
// file at BATON_ARTIFACT_PATH (seen-ID) and the version installed
// (version-ID).
func writeConfigs(t *testing.T, dir string, labels map[string]map[string]string) func(id string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return func(id string) string {
		path := filepath.Join(dir, "agent-"+id+".json")
		install := fmt.Sprintf(`sha256sum "$BATON_ARTIFACT_PATH" | cut -d' ' -f1 > %[1]s/seen-$BATON_NODE_ID && echo "$BATON_TARGET_VERSION" > %[1]s/version-$BATON_NODE_ID`, dir)
		version := fmt.Sprintf(`cat %s/version-$BATON_NODE_ID 2>/dev/null || echo 1.0.0`, dir)
		cfg := map[string]any{"upgrade": map[string]any{"install": install, "version": version, "timeout": "60s"}}
		if l, ok := labels[id]; ok {
			cfg["labels"] = l
		}
		b, _ := json.Marshal(cfg)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		return path
	}
}

func cluster(t *testing.T, n int) (*procs.Cluster, string) {
	t.Helper()
	c := procs.NewCluster(t, batonBin)
	c.RaftMultiplier = 0.3
	c.Token = "s3cret"
	dir := filepath.Join(c.Root, "hooks")
	c.ConfigFor = writeConfigs(t, dir, nil)
	c.Start(n)
	return c, dir
}

// program writes a file of size bytes and returns its path and digest.
func program(t *testing.T, size int) (string, string) {
	t.Helper()
	b := []byte(strings.Repeat("baton program 2.0.0\n", size/20+1))[:size]
	path := filepath.Join(t.TempDir(), "app-2.0.0.tgz")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	sum := sha256.Sum256(b)
	return path, hex.EncodeToString(sum[:])
}

func heldPath(a *procs.Agent, sha string) string {
	return filepath.Join(a.DataDir, "held-artifacts", sha)
}

// TestPushListAndUpgradeFromTheCluster: a push to a follower is held by
// every server; the list shows it; an upgrade with --artifact sha256:HEX
// has every node fetch it, and each install hook sees exactly the pushed
// bytes.
func TestPushListAndUpgradeFromTheCluster(t *testing.T) {
	c, hooks := cluster(t, 3)
	path, sha := program(t, 300<<10)
	ref := "sha256:" + sha

	res := c.Agents[2].CLI("artifact", "push", path)
	require.Zero(t, res.Code, "stdout %s\nstderr %s", res.Stdout, res.Stderr)
	require.Equal(t, ref+"\n", res.Stdout)
	for _, a := range c.Agents {
		b, err := os.ReadFile(heldPath(a, sha))
		require.NoError(t, err, "%s holds a copy", a.ID)
		sum := sha256.Sum256(b)
		require.Equal(t, sha, hex.EncodeToString(sum[:]))
	}

	var list []api.Artifact
	procs.Eventually(t, 30*time.Second, func() error {
		res = c.Agents[0].CLI("artifact", "list", "--json")
		if res.Code != 0 {
			return fmt.Errorf("list: %s", res.Stderr)
		}
		if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
			return err
		}
		if len(list) != 1 || len(list[0].Holders) != 3 {
			return fmt.Errorf("list: %s", res.Stdout)
		}
		return nil
	})
	require.Equal(t, ref, list[0].Ref)
	require.Equal(t, int64(300<<10), list[0].Size)
	require.Equal(t, "app-2.0.0.tgz", list[0].Name)
	require.ElementsMatch(t, []string{"n1", "n2", "n3"}, list[0].Holders)

	res = c.Agents[0].CLI("upgrade", "start", "--version", "2.0.0", "--artifact", ref, "--json")
	require.Zero(t, res.Code, "stdout %s\nstderr %s", res.Stdout, res.Stderr)
	var txn api.Txn
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &txn))
	require.True(t, txn.ArtifactStored)
	require.Equal(t, sha, txn.ArtifactSHA256)
	c.WaitTxn(txn.ID, 3*time.Minute, api.TxnDone)
	for _, a := range c.Agents {
		seen, err := os.ReadFile(filepath.Join(hooks, "seen-"+a.ID))
		require.NoError(t, err, "%s's install hook ran with the artifact", a.ID)
		require.Equal(t, sha, strings.TrimSpace(string(seen)), "%s's install hook saw the pushed bytes", a.ID)
	}
}

// TestPushHeldByTooFewServersFails: a push that fewer than a quorum of
// the voters can hold fails, naming who holds it and why the others do
// not: once with one follower stopped and the other unable to store it,
// once with both followers stopped (the leader cannot even record it).
func TestPushHeldByTooFewServersFails(t *testing.T) {
	c, _ := cluster(t, 3)
	leader := c.Leader()
	var others []*procs.Agent
	for _, a := range c.Agents {
		if a != leader {
			others = append(others, a)
		}
	}
	// One follower stopped: a push still reaches a quorum, two of three.
	others[0].Stop()
	path, _ := program(t, 10<<10)
	res := leader.CLI("artifact", "push", path)
	require.Zero(t, res.Code, "stdout %s\nstderr %s", res.Stdout, res.Stderr)

	// The other follower cannot store artifacts (its store's directory is
	// a file): the next push is held by the leader alone.
	store := filepath.Join(others[1].DataDir, "held-artifacts")
	require.NoError(t, os.RemoveAll(store))
	require.NoError(t, os.WriteFile(store, []byte("not a directory"), 0o644))
	path2, sha2 := program(t, 11<<10)
	res = leader.CLI("artifact", "push", path2)
	require.Equal(t, 1, res.Code, "stdout %s\nstderr %s", res.Stdout, res.Stderr)
	require.Empty(t, res.Stdout, "no reference is printed for a failed push")
	require.Contains(t, res.Stderr, fmt.Sprintf("artifact sha256:%s is held by %s only: 2 of the 3 voters must hold it, 1 do (",
		sha2, leader.ID))
	require.Contains(t, res.Stderr, others[0].ID+": agent at", "the stopped follower is named")
	require.Contains(t, res.Stderr, others[1].ID+": fetch artifact", "the follower that could not store it is named")

	// Both followers stopped: the leader steps down, and the push fails.
	others[1].Stop()
	path3, sha3 := program(t, 12<<10)
	res = leader.CLI("artifact", "push", path3, "--timeout", "30s")
	require.Equal(t, 1, res.Code, "stdout %s\nstderr %s", res.Stdout, res.Stderr)
	require.Empty(t, res.Stdout)
	require.Contains(t, res.Stderr, fmt.Sprintf("artifact sha256:%s is held by %s only", sha3, leader.ID))
}

// TestADamagedCopyIsRefusedAndFetchedFromAnother: a server whose copy was
// damaged on disk serves bytes that do not hash to the digest; the node
// refuses them and fetches the artifact from another holder, and the
// upgrade completes with the right bytes everywhere.
func TestADamagedCopyIsRefusedAndFetchedFromAnother(t *testing.T) {
	c, hooks := cluster(t, 3)
	path, sha := program(t, 64<<10)
	res := c.Agents[0].CLI("artifact", "push", path)
	require.Zero(t, res.Code, "stdout %s\nstderr %s", res.Stdout, res.Stderr)

	// Flip bytes in n2's and n3's own copies: each node fetches from
	// itself first, then from the others.
	for _, a := range c.Agents[1:] {
		p := heldPath(a, sha)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		b[1000] ^= 0xff
		require.NoError(t, os.WriteFile(p, b, 0o644))
	}
	res = c.Agents[0].CLI("upgrade", "start", "--version", "2.0.0", "--artifact", "sha256:"+sha, "--json")
	require.Zero(t, res.Code, "stdout %s\nstderr %s", res.Stdout, res.Stderr)
	var txn api.Txn
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &txn))
	c.WaitTxn(txn.ID, 3*time.Minute, api.TxnDone)
	for _, a := range c.Agents {
		seen, err := os.ReadFile(filepath.Join(hooks, "seen-"+a.ID))
		require.NoError(t, err)
		require.Equal(t, sha, strings.TrimSpace(string(seen)), "%s's install hook saw the right bytes", a.ID)
	}
}

// TestBadInputIsRefused: a reference that is not a digest, an unknown
// digest and a push over the size limit get clear errors and change
// nothing.
func TestBadInputIsRefused(t *testing.T) {
	c := procs.NewCluster(t, batonBin)
	c.RaftMultiplier = 0.3
	c.AgentArgs = []string{"--artifact-max-size", "1000"}
	c.ConfigFor = writeConfigs(t, filepath.Join(c.Root, "hooks"), nil)
	c.Start(1)
	a := c.Agents[0]

	res := a.CLI("upgrade", "start", "--version", "2.0.0", "--artifact", "sha256:abc")
	require.Equal(t, 2, res.Code)
	require.Contains(t, res.Stderr, `artifact "sha256:abc": want sha256: and 64 lower-case hex digits`)

	unknown := "sha256:" + strings.Repeat("ab", 32)
	res = a.CLI("upgrade", "start", "--version", "2.0.0", "--artifact", unknown, "--allow-leader-upgrade")
	require.Equal(t, 1, res.Code)
	require.Contains(t, res.Stderr, "artifact "+unknown+" is not held by the cluster: push it first")

	big, _ := program(t, 1001)
	res = a.CLI("artifact", "push", big)
	require.Equal(t, 1, res.Code)
	require.Contains(t, res.Stderr, "over this agent's limit of 1000 bytes (--artifact-max-size)")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := a.Client().Artifacts(ctx)
	require.NoError(t, err)
	require.Empty(t, list, "nothing refused is recorded")

	fits, sha := program(t, 1000)
	res = a.CLI("artifact", "push", fits)
	require.Zero(t, res.Code, "a push of exactly the limit: %s", res.Stderr)
	require.Equal(t, "sha256:"+sha+"\n", res.Stdout)
}
