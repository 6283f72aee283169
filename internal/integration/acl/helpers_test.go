package acl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/baton-upgrade/baton/rpc/nodeauth"
	"github.com/stretchr/testify/require"
)

// The tokens of the test ACL file.
const (
	readSecret     = "read-0123456789abcdef"
	operatorSecret = "operator-0123456789abcdef"
	agentSecret    = "agent-0123456789abcdef"
)

// writeACL writes an ACL file with a read, an operator and an agent token
// and anonymous callers closed out.
func writeACL(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "acl.hcl")
	src := `anonymous = "none"
tokens {
  name   = "viewer"
  secret = "` + readSecret + `"
  scope  = "read"
}
tokens {
  name   = "ops"
  secret = "` + operatorSecret + `"
  scope  = "operator"
}
tokens {
  name   = "agents"
  secret = "` + agentSecret + `"
  scope  = "agent"
}
`
	require.NoError(t, os.WriteFile(path, []byte(src), 0o600))
	return path
}

// tokenFile writes secret to a file of mode perm and returns its path.
func tokenFile(t *testing.T, dir, name, secret string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(secret+"\n"), perm))
	require.NoError(t, os.Chmod(path, perm))
	return path
}

// cluster starts n agents with the test hooks at 1.0.0; args are given to
// every agent.
func cluster(t *testing.T, n int, token string, args ...string) (*procs.Cluster, *procs.Hooks) {
	t.Helper()
	c := procs.NewCluster(t, batonBin)
	c.RaftMultiplier = 0.3
	c.Token = token
	c.AgentArgs = args
	hooks, err := procs.NewHooks(filepath.Join(c.Root, "hooks"), "1.0.0")
	require.NoError(t, err)
	c.ConfigFor = hooks.ConfigFor
	c.Start(n)
	return c, hooks
}

// cli runs the baton CLI against a with only the environment given (no
// token unless env or args carry one).
func cli(t *testing.T, a *procs.Agent, env []string, args ...string) procs.CLIResult {
	t.Helper()
	return procs.RunCLI(t, batonBin, append([]string{"BATON_ADDR=" + a.HTTPAddr}, env...), args...)
}

// waitState waits until transaction id is in state, asking a.
func waitState(t *testing.T, a *procs.Agent, id string, timeout time.Duration, state api.TxnState) api.Txn {
	t.Helper()
	var txn api.Txn
	procs.Eventually(t, timeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		got, _, err := a.Client().Upgrade(ctx, id, api.Wait{})
		if err != nil {
			return err
		}
		if got.State != state {
			return fmt.Errorf("transaction %s is %s, want %s (%s)", id, got.State, state, got.Reason)
		}
		txn = got
		return nil
	})
	return txn
}

// nodeKey reads the node key an agent keeps in its data dir, as an
// attacker on that node could.
func nodeKey(t *testing.T, a *procs.Agent) nodeauth.Key {
	t.Helper()
	k, created, err := nodeauth.LoadOrCreate(filepath.Join(a.DataDir, nodeauth.KeyFile))
	require.NoError(t, err)
	require.False(t, created, "%s has a node key", a.ID)
	return k
}

// signed sends method path with body to addr with token, signed as member
// id with key k; it returns the status and the error text.
func signed(t *testing.T, addr, token, id string, k *nodeauth.Key, method, path string, body any) (int, string) {
	t.Helper()
	var raw []byte
	if body != nil {
		var err error
		raw, err = json.Marshal(body)
		require.NoError(t, err)
	}
	req, err := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(raw))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if k != nil {
		req.Header.Set(nodeauth.Header, k.Sign(id, time.Now(), method, req.URL.RequestURI(), raw))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var e api.ErrorBody
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Error
}

// installsOn returns the install hooks the journal shows began on node.
func installsOn(t *testing.T, h *procs.Hooks, node string) []procs.HookEvent {
	t.Helper()
	events, err := h.Journal()
	require.NoError(t, err)
	var out []procs.HookEvent
	for _, e := range events {
		if e.Node == node && e.Kind == "begin" && (e.Hook == "install" || e.Hook == "drain") {
			out = append(out, e)
		}
	}
	return out
}

// auditLines returns the audit lines of an agent's log.
func auditLines(t *testing.T, a *procs.Agent) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(a.LogPath)
	require.NoError(t, err)
	var out []map[string]any
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.Contains(line, `"baton.audit"`) {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}
