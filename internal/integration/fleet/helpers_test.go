package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// fleet is a cluster of server agents and client agent processes.
type fleet struct {
	t       *testing.T
	servers *procs.Cluster
	hooks   *procs.Hooks
	clients map[string]*client
}

// client is one `baton agent --client` process.
type client struct {
	f       *fleet
	id      string
	dataDir string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// newFleet starts n servers (n1..n) with the test hooks at 1.0.0, and
// the clients c1..cm, and waits until every client is registered.
func newFleet(t *testing.T, servers, clients int) *fleet {
	t.Helper()
	return newFleetWith(t, servers, clients, false)
}

// newFleetWith is newFleet, with TLS when withTLS: a throwaway CA issues
// every server's and client's node certificate.
func newFleetWith(t *testing.T, servers, clients int, withTLS bool) *fleet {
	t.Helper()
	c := procs.NewCluster(t, batonBin)
	if withTLS {
		require.NoError(t, c.UseTLS())
	}
	c.RaftMultiplier = 0.3
	hooks, err := procs.NewHooks(filepath.Join(c.Root, "hooks"), "1.0.0")
	require.NoError(t, err)
	c.ConfigFor = hooks.ConfigFor
	c.Start(servers)
	f := &fleet{t: t, servers: c, hooks: hooks, clients: map[string]*client{}}
	t.Cleanup(func() {
		for _, cl := range f.clients {
			cl.killGroup()
		}
		if t.Failed() {
			for _, cl := range f.clients {
				t.Logf("---- log of client %s, last lines:\n%s", cl.id, procs.Tail(cl.logPath, 30))
			}
		}
	})
	for i := 1; i <= clients; i++ {
		f.addClient(fmt.Sprintf("c%d", i)).start()
	}
	f.waitMembers(servers+clients, api.MemberAlive)
	return f
}

func (f *fleet) addClient(id string) *client {
	cl := &client{f: f, id: id, dataDir: filepath.Join(f.servers.Root, id), logPath: filepath.Join(f.servers.Root, id+".log")}
	f.clients[id] = cl
	return cl
}

// joins are the servers' API addresses, for --join.
func (f *fleet) joins() string {
	var addrs []string
	for _, a := range f.servers.Agents {
		addrs = append(addrs, a.HTTPAddr)
	}
	return strings.Join(addrs, ",")
}

// start launches the client process; its hooks run in its process group.
func (cl *client) start() {
	t := cl.f.t
	t.Helper()
	logf, err := os.OpenFile(cl.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	args := []string{"agent", "--client", "--id", cl.id, "--data-dir", cl.dataDir, "--join", cl.f.joins(),
		"--config", cl.f.hooks.ConfigFor(cl.id), "--log-level", "debug", "--log-format", "json"}
	if ca := cl.f.servers.CA; ca != nil {
		leaf, err := ca.Node(cl.id)
		require.NoError(t, err)
		args = append(args, "--tls-cert", leaf.CertFile, "--tls-key", leaf.KeyFile, "--tls-ca", ca.CertFile)
	}
	cmd := exec.Command(batonBin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	cl.cmd, cl.exited = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(cl.exited)
	}()
}

// kill sends SIGKILL to the client's agent process alone: a hook it runs
// lives on, as after a crash of the agent.
func (cl *client) kill() {
	_ = cl.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-cl.exited:
	case <-time.After(10 * time.Second):
		cl.f.t.Fatalf("client %s did not die", cl.id)
	}
}

// killGroup kills the client with every process of its group.
func (cl *client) killGroup() {
	if cl.cmd == nil || cl.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cl.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-cl.exited:
	case <-time.After(10 * time.Second):
	}
}

// members is `baton members --json` as any live server answers it.
func (f *fleet) members() ([]api.Member, error) {
	var lastErr error
	for _, a := range f.servers.Agents {
		if a.Exited() {
			continue
		}
		res := a.CLI("members", "--json")
		if res.Code != 0 {
			lastErr = fmt.Errorf("baton members: %s", res.Stderr)
			continue
		}
		var ms []api.Member
		if err := json.Unmarshal([]byte(res.Stdout), &ms); err != nil {
			return nil, err
		}
		return ms, nil
	}
	return nil, lastErr
}

// waitMembers waits until the catalogue holds n members and every client
// is recorded with status.
func (f *fleet) waitMembers(n int, status string) {
	f.t.Helper()
	procs.Eventually(f.t, 60*time.Second, func() error {
		ms, err := f.members()
		if err != nil {
			return err
		}
		if len(ms) != n {
			return fmt.Errorf("%d members, want %d", len(ms), n)
		}
		for _, m := range ms {
			if _, ok := f.clients[m.ID]; ok && m.Status != status {
				return fmt.Errorf("client %s is %q, want %q", m.ID, m.Status, status)
			}
		}
		return nil
	})
}

// leader is the server that leads now.
func (f *fleet) leader() *procs.Agent {
	f.t.Helper()
	var leader *procs.Agent
	procs.Eventually(f.t, 30*time.Second, func() error {
		ms, err := f.members()
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.Leader {
				leader = f.servers.Agent(m.ID)
				return nil
			}
		}
		return fmt.Errorf("no leader")
	})
	return leader
}

// anyServer is a live server.
func (f *fleet) anyServer() *procs.Agent {
	for _, a := range f.servers.Agents {
		if !a.Exited() {
			return a
		}
	}
	f.t.Fatal("no live server")
	return nil
}

func (f *fleet) startUpgrade(req api.StartRequest) string {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	txn, err := f.anyServer().Client().StartUpgrade(ctx, req)
	require.NoError(f.t, err)
	return txn.ID
}

// txn reads transaction id from any live server.
func (f *fleet) txn(id string) (api.Txn, error) {
	var lastErr error
	for _, a := range f.servers.Agents {
		if a.Exited() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		got, _, err := a.Client().Upgrade(ctx, id, api.Wait{})
		cancel()
		if err == nil {
			return got, nil
		}
		lastErr = err
	}
	return api.Txn{}, lastErr
}

// waitTxn waits until transaction id is done, failing at once if it ends
// otherwise.
func (f *fleet) waitDone(id string, timeout time.Duration) api.Txn {
	f.t.Helper()
	var txn api.Txn
	procs.Eventually(f.t, timeout, func() error {
		got, err := f.txn(id)
		if err != nil {
			return err
		}
		if got.State == api.TxnDone {
			txn = got
			return nil
		}
		if got.State.Terminal() || got.State == api.TxnFailed {
			f.t.Fatalf("transaction %s ended %s (%s)", got.ID, got.State, got.Reason)
		}
		return fmt.Errorf("transaction %s is %s (%s)", got.ID, got.State, got.Reason)
	})
	return txn
}

// installs are the install hooks begun, by node.
func (f *fleet) installs() map[string][]procs.HookEvent {
	f.t.Helper()
	events, err := f.hooks.Journal()
	require.NoError(f.t, err)
	out := map[string][]procs.HookEvent{}
	for _, e := range events {
		if e.Hook == "install" && e.Kind == "begin" {
			out[e.Node] = append(out[e.Node], e)
		}
	}
	return out
}

// requireInstalledOnce checks that every server and client ran install
// exactly once and ended at version.
func (f *fleet) requireInstalledOnce(version string) {
	f.t.Helper()
	ins := f.installs()
	var ids []string
	for _, a := range f.servers.Agents {
		ids = append(ids, a.ID)
	}
	for id := range f.clients {
		ids = append(ids, id)
	}
	for _, id := range ids {
		require.Len(f.t, ins[id], 1, "installs on %s: %v", id, ins[id])
		require.Equal(f.t, version, f.hooks.Version(id), "version of %s", id)
	}
}

// waitRunning waits until node's step of transaction id runs its install.
func (f *fleet) waitInstalling(node string) {
	f.t.Helper()
	procs.Eventually(f.t, 2*time.Minute, func() error {
		if len(f.installs()[node]) > 0 {
			return nil
		}
		return fmt.Errorf("%s has not begun its install", node)
	})
}
