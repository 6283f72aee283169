package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/jepsen/netns"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
)

// Token is the bearer token every agent of the suite requires for writes.
const Token = "jepsen-token"

// Options configure a Cluster.
type Options struct {
	// Nodes is the cluster size (3, 5 or 7).
	Nodes int
	// Root holds the data directories, logs, hooks and builds.
	Root string
	// Net, when set, runs each agent in its namespace at its address;
	// otherwise agents listen on loopback.
	Net *netns.Layout
	// RaftMultiplier scales the agents' Raft timeouts.
	RaftMultiplier float64
	// Snapshots are the agents' Raft snapshot settings; zero fields keep
	// the agents' defaults.
	Snapshots procs.SnapshotSettings
	// HookTimeout bounds each hook run.
	HookTimeout time.Duration
	// BinaryUpgrades makes the restart hook restart the agent with the
	// build of the version installed, whose protocol range is one higher.
	BinaryUpgrades bool
	// TLS starts every agent with a certificate of a throwaway CA (Raft
	// over mutual TLS, the API over HTTPS); the clients trust that CA.
	TLS bool
	// Recorder receives events and launches.
	Recorder *history.Recorder
	// Logf reports what the harness does.
	Logf func(format string, args ...any)
}

// Cluster is the suite's running cluster.
type Cluster struct {
	opts     Options
	tc       *procs.Cluster
	Hooks    *procs.Hooks
	buildDir string

	mu    sync.Mutex
	nodes map[string]*node
	ids   []string
	// Crashes are the unexpected exits of agents.
	crashes []Crash
	// hangs are the agents that did not stop on SIGTERM.
	hangs []Crash

	wg     sync.WaitGroup
	cancel context.CancelFunc

	// front is the services and the gateway (gateway.go).
	front *frontEnd
}

// node is the harness's view of one agent.
type node struct {
	mu          sync.Mutex // serialises signals, stops and starts of this agent
	agent       *procs.Agent
	down        bool // killed or stopped by the harness
	paused      bool
	incarnation int
	build       Build
}

// Crash is an agent exit the harness did not cause.
type Crash struct {
	Node string    `json:"node"`
	At   time.Time `json:"at"`
	Code int       `json:"code"`
	Tail string    `json:"log_tail"`
}

// Start builds the base binary, writes the hooks and starts the cluster:
// n1 bootstraps and the others join through it. It returns once every
// agent sees every member and a leader.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	c := &Cluster{opts: opts, nodes: map[string]*node{}, buildDir: filepath.Join(opts.Root, "builds")}
	if err := os.MkdirAll(c.buildDir, 0o755); err != nil {
		return nil, err
	}
	base, err := c.BuildFor("1.0.0")
	if err != nil {
		return nil, err
	}
	c.tc = procs.NewClusterAt(opts.Root, base.Path)
	c.tc.Token, c.tc.RaftMultiplier = Token, opts.RaftMultiplier
	c.tc.AgentArgs = opts.Snapshots.Args()
	if opts.TLS {
		if err := c.tc.UseTLS(); err != nil {
			return nil, err
		}
	}
	if c.Hooks, err = procs.NewHooks(filepath.Join(opts.Root, "hooks"), "1.0.0"); err != nil {
		return nil, err
	}
	c.Hooks.Timeout = opts.HookTimeout.String()
	if opts.BinaryUpgrades {
		if err := c.Hooks.Set("binary-upgrades", ""); err != nil {
			return nil, err
		}
	}
	c.tc.ConfigFor = c.Hooks.ConfigFor
	for i := 1; i <= opts.Nodes; i++ {
		id := fmt.Sprintf("n%d", i)
		var a *procs.Agent
		if opts.Net != nil {
			ip := opts.Net.IP[id]
			a = c.tc.AddAt(id, ip+":7071", ip+":7070")
			a.Wrap = opts.Net.Wrap(id)
		} else {
			a = c.tc.Add(id)
		}
		c.nodes[id] = &node{agent: a, down: true, build: base}
		c.ids = append(c.ids, id)
	}
	if err := c.setUpService(); err != nil { // service.go
		return nil, err
	}
	if err := c.setUpServices(); err != nil { // gateway.go
		c.stopFront()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	if err := c.boot(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.startGateway(); err != nil {
		c.Close()
		return nil, err
	}
	c.wg.Add(2)
	go c.supervise(runCtx)
	go c.watchCrashes(runCtx)
	for _, id := range c.ids {
		c.wg.Add(1)
		go c.tailEvents(runCtx, id)
	}
	return c, nil
}

func (c *Cluster) boot(ctx context.Context) error {
	first := c.ids[0]
	if err := c.launch(first, "--bootstrap"); err != nil {
		return err
	}
	if err := c.waitMembers(ctx, first, 1); err != nil {
		return err
	}
	for _, id := range c.ids[1:] {
		if err := c.launch(id, "--join", c.nodes[first].agent.HTTPAddr); err != nil {
			return err
		}
		// Joining one at a time keeps the voter count predictable.
		if err := c.waitMembers(ctx, first, len(c.running())); err != nil {
			return err
		}
	}
	for _, id := range c.ids {
		if err := c.waitMembers(ctx, id, len(c.ids)); err != nil {
			return err
		}
	}
	return nil
}

// waitMembers waits up to a minute until id's catalogue holds n members and
// it knows a leader.
func (c *Cluster) waitMembers(ctx context.Context, id string, n int) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
		ms, _, err := c.Client(id).Members(rctx, api.Wait{})
		rcancel()
		leaders := 0
		for _, m := range ms {
			if m.Leader {
				leaders++
			}
		}
		if err == nil && len(ms) == n && leaders == 1 {
			return nil
		}
		last = fmt.Errorf("%s sees %d members and %d leaders, want %d and 1 (%v)", id, len(ms), leaders, n, err)
		sleep(ctx, 100*time.Millisecond)
	}
	return fmt.Errorf("cluster did not form: %w", last)
}

// launch starts node id with the build of its installed version (the base
// build before any upgrade) and records it.
func (c *Cluster) launch(id string, extra ...string) error {
	n := c.nodes[id]
	b, err := c.BuildFor(c.Hooks.Version(id))
	if err != nil {
		return err
	}
	n.agent.Bin = b.Path
	if err := n.agent.Launch(extra...); err != nil {
		return err
	}
	c.mu.Lock()
	n.down, n.paused, n.build = false, false, b
	n.incarnation++
	c.mu.Unlock()
	if err := c.Hooks.Set("running-"+id, b.Version); err != nil {
		return err
	}
	if c.opts.Recorder != nil {
		c.opts.Recorder.AddLaunch(history.Launch{Node: id, Version: b.Version, ProtocolMin: b.ProtocolMin,
			ProtocolMax: b.ProtocolMax, At: time.Now()})
	}
	return nil
}

// IDs lists the nodes, n1 first.
func (c *Cluster) IDs() []string { return append([]string(nil), c.ids...) }

// Addr is node id's API address.
func (c *Cluster) Addr(id string) string { return c.nodes[id].agent.HTTPAddr }

// Client is an API client of node id.
func (c *Cluster) Client(id string) *api.Client {
	return api.NewClientTLS(c.nodes[id].agent.HTTPAddr, Token, c.tc.ClientTLS())
}

// CLIEnv is the environment a baton command needs to reach node id: its
// address, the token, and the CA when the cluster runs with TLS.
func (c *Cluster) CLIEnv(id string) []string { return c.tc.CLIEnv(c.nodes[id].agent) }

// Bin is the base baton binary, for CLI commands.
func (c *Cluster) Bin() string { return c.tc.Bin }

// Root is the cluster's working directory.
func (c *Cluster) Root() string { return c.opts.Root }

// running lists the nodes whose agent runs (paused ones included).
func (c *Cluster) running() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, id := range c.ids {
		if !c.nodes[id].down {
			out = append(out, id)
		}
	}
	return out
}

// Live lists the nodes whose agent runs and is not paused.
func (c *Cluster) Live() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, id := range c.ids {
		if n := c.nodes[id]; !n.down && !n.paused {
			out = append(out, id)
		}
	}
	return out
}

// Down lists the nodes the harness killed and has not restarted.
func (c *Cluster) Down() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, id := range c.ids {
		if c.nodes[id].down {
			out = append(out, id)
		}
	}
	return out
}

// Paused lists the paused nodes.
func (c *Cluster) Paused() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, id := range c.ids {
		if c.nodes[id].paused {
			out = append(out, id)
		}
	}
	return out
}

// Leader asks the live agents who leads and returns the answer most of
// them give ("" when none knows).
func (c *Cluster) Leader(ctx context.Context) string {
	votes := map[string]int{}
	for _, id := range c.Live() {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		l, err := c.Client(id).Leader(rctx)
		cancel()
		if err == nil && l.ID != "" {
			votes[l.ID]++
		}
	}
	best, n := "", 0
	for id, v := range votes {
		if v > n || (v == n && id < best) {
			best, n = id, v
		}
	}
	return best
}

// Kill sends SIGKILL to node id's agent (its hooks run on).
func (c *Cluster) Kill(id string) {
	n := c.nodes[id]
	n.mu.Lock()
	defer n.mu.Unlock()
	c.mu.Lock()
	n.down, n.paused = true, false
	c.mu.Unlock()
	n.agent.Kill()
}

// Restart starts node id again from its data directory, with the build of
// its installed version.
func (c *Cluster) Restart(id string) error {
	n := c.nodes[id]
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.agent.Exited() {
		return nil
	}
	return c.launch(id)
}

// Pause stops node id's agent with SIGSTOP.
func (c *Cluster) Pause(id string) error {
	n := c.nodes[id]
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.agent.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	c.mu.Lock()
	n.paused = true
	c.mu.Unlock()
	return nil
}

// Resume continues a paused agent with SIGCONT.
func (c *Cluster) Resume(id string) error {
	n := c.nodes[id]
	n.mu.Lock()
	defer n.mu.Unlock()
	c.mu.Lock()
	n.paused = false
	c.mu.Unlock()
	return n.agent.Signal(syscall.SIGCONT)
}

// Partition blocks the listed pairs of nodes from each other (replacing any
// partition); it needs namespaces.
func (c *Cluster) Partition(pairs [][2]string) error {
	if c.opts.Net == nil {
		return errors.New("partitions need network namespaces")
	}
	return c.opts.Net.Block(pairs)
}

// CanPartition reports whether the cluster runs in network namespaces,
// where Partition works.
func (c *Cluster) CanPartition() bool { return c.opts.Net != nil }

// Snapshots are the agents' Raft snapshot settings, defaults filled in.
func (c *Cluster) Snapshots() procs.SnapshotSettings { return c.opts.Snapshots.Effective() }

// SnapshotActivity reads every agent's log for what Raft did with
// snapshots, by node.
func (c *Cluster) SnapshotActivity() (map[string]procs.SnapshotActivity, error) {
	return c.tc.Snapshots()
}

// HealNetwork removes every partition.
func (c *Cluster) HealNetwork() error {
	if c.opts.Net == nil {
		return nil
	}
	return c.opts.Net.Heal()
}

// ConsistentRead reads the members from id with ?consistent=true: it
// succeeds only when a leader serves it after a barrier.
func (c *Cluster) ConsistentRead(ctx context.Context, id string) error {
	var out []api.Member
	_, err := c.Client(id).Do(ctx, http.MethodGet, "/v1/members", url.Values{"consistent": {"true"}}, nil, &out)
	return err
}

// WaitAvailable waits until some live agent serves a consistent read, up
// to limit, and returns when it did (zero if it never did).
func (c *Cluster) WaitAvailable(ctx context.Context, limit time.Duration) time.Time {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for ctx.Err() == nil {
		for _, id := range c.Live() {
			rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
			err := c.ConsistentRead(rctx, id)
			rcancel()
			if err == nil {
				return time.Now()
			}
		}
		sleep(ctx, 50*time.Millisecond)
	}
	return time.Time{}
}

// supervise restarts an agent with a new build when its restart hook asks
// (restart-request-NODE), as a real install that replaces the binary would.
func (c *Cluster) supervise(ctx context.Context) {
	defer c.wg.Done()
	for ctx.Err() == nil {
		sleep(ctx, 200*time.Millisecond)
		for _, id := range c.ids {
			req := filepath.Join(c.Hooks.Dir, "restart-request-"+id)
			b, err := os.ReadFile(req)
			if err != nil {
				continue
			}
			c.serveRestart(ctx, id, strings.TrimSpace(string(b)), req)
		}
	}
}

func (c *Cluster) serveRestart(ctx context.Context, id, version, req string) {
	n := c.nodes[id]
	n.mu.Lock()
	defer n.mu.Unlock()
	c.mu.Lock()
	busy := n.down || n.paused
	c.mu.Unlock()
	if busy || ctx.Err() != nil {
		return // the nemesis holds it; the request waits
	}
	_ = os.Remove(req)
	if c.Hooks.Version(id) != version || n.build.Version == fmt.Sprintf("%d.0.0", major(version)) && !n.agent.Exited() {
		// A stale request: the hooks no longer installed that version, or
		// the agent already runs its build (the hook asked again while it
		// was being restarted).
		_ = c.Hooks.Set("running-"+id, n.build.Version)
		return
	}
	c.mu.Lock()
	n.down = true
	c.mu.Unlock()
	c.stop(id, n)
	if err := c.launch(id); err != nil {
		c.opts.Logf("restart %s with build %s failed: %v", id, version, err)
		return
	}
	c.opts.Logf("restarted %s with build %s (its restart hook asked)", id, version)
}

// watchCrashes restarts agents that exited without the harness asking, and
// records each such exit: Baton must not crash under faults.
func (c *Cluster) watchCrashes(ctx context.Context) {
	defer c.wg.Done()
	for ctx.Err() == nil {
		sleep(ctx, 500*time.Millisecond)
		for _, id := range c.ids {
			n := c.nodes[id]
			if !n.mu.TryLock() {
				continue
			}
			c.mu.Lock()
			down := n.down
			c.mu.Unlock()
			if !down && n.agent.Exited() && ctx.Err() == nil {
				code, _ := n.agent.WaitExit(time.Second)
				crash := Crash{Node: id, At: time.Now(), Code: code, Tail: procs.Tail(n.agent.LogPath, 15)}
				c.mu.Lock()
				c.crashes = append(c.crashes, crash)
				c.mu.Unlock()
				c.opts.Logf("agent %s exited by itself (status %d); restarting it", id, code)
				if len(c.Crashes()) < 50 {
					_ = c.launch(id)
				}
			}
			n.mu.Unlock()
		}
	}
}

// stopTimeout is how long an agent may take to stop on SIGTERM.
const stopTimeout = 20 * time.Second

// stop stops node id's agent with SIGTERM. An agent still running after
// stopTimeout is recorded as hung, sent SIGQUIT (the Go runtime writes every
// goroutine's stack to its log, to show where it hangs) and then SIGKILL.
// n.mu must be held.
func (c *Cluster) stop(id string, n *node) {
	if err := n.agent.StopWithin(stopTimeout); err == nil {
		return
	}
	_ = n.agent.Signal(syscall.SIGQUIT)
	_, _ = n.agent.WaitExit(5 * time.Second)
	hang := Crash{Node: id, At: time.Now(), Code: -1, Tail: fmt.Sprintf("did not stop within %s of SIGTERM; "+
		"its goroutines' stacks (SIGQUIT) are in %s", stopTimeout, n.agent.LogPath)}
	c.mu.Lock()
	c.hangs = append(c.hangs, hang)
	c.mu.Unlock()
	c.opts.Logf("agent %s did not stop within %s of SIGTERM; stacks dumped to its log, killing it", id, stopTimeout)
	n.agent.Kill()
}

// Hangs returns the agents that did not stop on SIGTERM.
func (c *Cluster) Hangs() []Crash {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Crash(nil), c.hangs...)
}

// Crashes returns the agents' unexpected exits so far.
func (c *Cluster) Crashes() []Crash {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Crash(nil), c.crashes...)
}

// HealAll resumes paused agents, restarts killed ones and heals the
// network.
func (c *Cluster) HealAll() error {
	var errs []error
	for _, id := range c.Paused() {
		errs = append(errs, c.Resume(id))
	}
	for _, id := range c.Down() {
		errs = append(errs, c.Restart(id))
	}
	errs = append(errs, c.HealNetwork())
	return errors.Join(errs...)
}

// Stop stops the background loops and then every agent with SIGTERM
// (SIGKILL after a bound).
func (c *Cluster) Stop() {
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
	var wg sync.WaitGroup
	for _, id := range c.ids {
		n := c.nodes[id]
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.mu.Lock()
			defer n.mu.Unlock()
			c.mu.Lock()
			n.down = true
			c.mu.Unlock()
			c.stop(id, n)
		}()
	}
	wg.Wait()
}

// Close kills everything the cluster started.
func (c *Cluster) Close() {
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
	c.stopFront()
	c.tc.Close()
}

// Tenures are the agents' leadership spans from their logs.
func (c *Cluster) Tenures() ([]procs.Tenure, error) { return c.tc.Tenures() }

// LogPaths maps each node to its agent's log file.
func (c *Cluster) LogPaths() map[string]string {
	out := map[string]string{}
	for _, id := range c.ids {
		out[id] = c.nodes[id].agent.LogPath
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
