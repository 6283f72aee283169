package jepsen

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/jepsen/checker"
	"github.com/baton-upgrade/baton/jepsen/harness"
	"github.com/baton-upgrade/baton/jepsen/history"
	"github.com/baton-upgrade/baton/jepsen/nemesis"
	"github.com/baton-upgrade/baton/jepsen/netns"
	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/jepsen/report"
	"github.com/baton-upgrade/baton/jepsen/workload"
	"github.com/baton-upgrade/baton/rpc/api"
)

// Config is one chaos run.
type Config struct {
	Duration time.Duration
	Nodes    int
	Nemeses  []nemesis.Kind
	Seed     int64
	// Out receives the history, the result, the report and the cluster's
	// files.
	Out string
	// Net, when set, runs the agents in the suite's namespaces (the caller
	// runs inside its control namespace); nil runs them on loopback.
	Net *netns.Layout
	// RaftMultiplier scales the agents' Raft timeouts (1 s by default).
	RaftMultiplier float64
	// Snapshots are the agents' Raft snapshot settings (DefaultSnapshots
	// when zero): small, so that snapshots are taken and installed
	// throughout the run.
	Snapshots procs.SnapshotSettings
	// HookTimeout bounds each hook run.
	HookTimeout time.Duration
	// SettleBound is I7's bound: how long after the last heal every
	// transaction must have ended.
	SettleBound time.Duration
	// BinaryUpgrades restarts each upgraded agent with the build of its new
	// version, so protocol versions rise (I6).
	BinaryUpgrades bool
	// TLS runs the agents with TLS (Raft over mutual TLS, the API over
	// HTTPS) and the clients over HTTPS.
	TLS        bool
	APIClients int
	CLIClients int
	// Command is the command line that reproduces the run.
	Command string
	// Notes are said in the report (a nemesis skipped, and why).
	Notes []string
	Logf  func(format string, args ...any)
}

func (c *Config) defaults() {
	if c.Nodes == 0 {
		c.Nodes = 5
	}
	if c.RaftMultiplier == 0 {
		c.RaftMultiplier = 0.5
	}
	if c.HookTimeout == 0 {
		c.HookTimeout = 10 * time.Second
	}
	if c.Snapshots == (procs.SnapshotSettings{}) {
		c.Snapshots = DefaultSnapshots
	}
	if c.SettleBound == 0 {
		c.SettleBound = 2 * time.Minute
	}
	if c.APIClients == 0 {
		c.APIClients = 3
	}
	if c.CLIClients == 0 {
		c.CLIClients = 1
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// DefaultSnapshots are the chaos suite's Raft snapshot settings: a
// snapshot about every hundred entries, checked every one to two seconds,
// with 30 entries kept behind it. A run writes several entries a second
// (the consistent reads' barriers among them), so every agent snapshots
// every few tens of seconds, and a node down for a while comes back to a
// log compacted past it.
var DefaultSnapshots = procs.SnapshotSettings{Threshold: 100, Interval: time.Second, TrailingLogs: 30}

// ElectionTimeout is the agents' election timeout under cfg.
func (c Config) ElectionTimeout() time.Duration {
	return time.Duration(float64(time.Second) * c.RaftMultiplier)
}

// Run runs the cluster, the workload and the nemeses for cfg.Duration,
// heals everything, lets the transactions settle, checks the history and
// writes the result. It returns the result even when checks fail; an error
// means the run itself could not be carried out.
func Run(ctx context.Context, cfg Config) (*report.Result, error) {
	cfg.defaults()
	res := &report.Result{Seed: cfg.Seed, Nodes: cfg.Nodes, Duration: cfg.Duration.String(), Nemeses: nemesis.Names(cfg.Nemeses),
		Network: "loopback", Notes: cfg.Notes, Command: cfg.Command, Started: time.Now(), Runs: 1}
	if cfg.Net != nil {
		res.Network = fmt.Sprintf("namespaces %s-* on %s (partitions by iptables inside them)", cfg.Net.Prefix, netns.Subnet)
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	rec, err := history.NewRecorder(cfg.Out)
	if err != nil {
		return nil, err
	}
	defer rec.Close()
	cfg.Logf("starting %d agents (%s)", cfg.Nodes, res.Network)
	c, err := harness.Start(ctx, harness.Options{Nodes: cfg.Nodes, Root: filepath.Join(cfg.Out, "cluster"), Net: cfg.Net,
		RaftMultiplier: cfg.RaftMultiplier, Snapshots: cfg.Snapshots, HookTimeout: cfg.HookTimeout,
		BinaryUpgrades: cfg.BinaryUpgrades, TLS: cfg.TLS, Recorder: rec, Logf: cfg.Logf})
	if err != nil {
		return nil, fmt.Errorf("start the cluster: %w", err)
	}
	defer c.Close()

	cfg.Logf("running the workload and nemeses %s for %s (seed %d)", res.Nemeses, cfg.Duration, cfg.Seed)
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	// Clients of the service, through the gateway (I11): refused until the
	// cluster speaks protocol 3 and the gateway routes.
	rate := 20
	load := procs.StartLoad(runCtx, procs.LoadOptions{URL: c.GatewayURL(), Rate: rate, Workers: 4,
		Max: rate * int(cfg.Duration/time.Second+1), Tag: "g"})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		nemesis.Run(runCtx, c, nemesis.Options{Kinds: cfg.Nemeses, Seed: cfg.Seed, ElectionTimeout: cfg.ElectionTimeout(),
			HookTimeout: cfg.HookTimeout, RecoveryLimit: time.Minute, Recorder: rec, Logf: cfg.Logf})
	}()
	go func() {
		defer wg.Done()
		workload.Run(runCtx, c, workload.Options{APIClients: cfg.APIClients, CLIClients: cfg.CLIClients, Seed: cfg.Seed,
			StepTimeout: 60 * time.Second, ProgressDeadline: 3 * time.Minute, Recorder: rec})
	}()
	wg.Wait()
	cancel()
	gatewayRequests := load.Wait()
	if err := writeGatewayRequests(cfg.Out, gatewayRequests); err != nil {
		cfg.Logf("write the gateway's requests: %v", err)
	}

	if err := c.HealAll(); err != nil {
		cfg.Logf("heal: %v", err)
	}
	_ = c.Hooks.Clear("fail-percent")
	_ = c.Hooks.Clear("hang-percent")
	healed := time.Now()
	cfg.Logf("faults healed; settling (bound %s)", cfg.SettleBound)
	if !workload.Settle(ctx, c, rec, cfg.SettleBound) {
		cfg.Logf("a transaction was still active when the settle bound ran out")
	}
	final, err := workload.FinalState(ctx, c, rec, time.Minute)
	if err != nil {
		cfg.Logf("%v", err)
	}
	finalTxns := finalTxns(ctx, c)
	// Let the event streams deliver the last commands before stopping.
	time.Sleep(2 * time.Second)
	end := time.Now()
	c.Stop()
	_ = rec.Flush()

	in, err := evidence(c, rec, finalTxns, healed, end, cfg)
	if err != nil {
		return nil, err
	}
	in.GatewayName, in.GatewayRequests = harness.GatewayName, gatewayRequests
	if in.ServiceRequests, err = c.ServiceRequests(); err != nil {
		return nil, err
	}
	if in.Late, err = c.LateAnnouncements(); err != nil {
		return nil, fmt.Errorf("late announcements from the logs: %w", err)
	}
	if err := writeMeta(cfg.Out, in); err != nil {
		cfg.Logf("write %s: %v", runFile, err)
	}
	cfg.Logf("checking %d operations, %d committed commands, %d hook runs", len(in.Ops), len(in.Commands), len(in.Hooks))
	res.Checks = checker.Run(in)
	res.Checks = append(res.Checks, crashCheck(c.Crashes()), stopCheck(c.Hangs()))
	if res.Snapshots, err = c.SnapshotActivity(); err != nil {
		return nil, fmt.Errorf("snapshots from the logs: %w", err)
	}
	res.Checks = append(res.Checks, snapshotCheck(res.Snapshots, end))
	res.Crashes = len(c.Crashes())
	res.Tally(rec.Ops(), rec.Faults(), final.Results)
	res.Finished = time.Now()
	if err := res.Write(cfg.Out); err != nil {
		return res, err
	}
	return res, nil
}

// finalTxns reads every transaction whole (steps and all) with a
// consistent read, for the checkers.
func finalTxns(ctx context.Context, c *harness.Cluster) []api.Txn {
	deadline := time.Now().Add(time.Minute)
	for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
		live := c.Live()
		if len(live) == 0 {
			break
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var ts []api.Txn
		_, err := c.Client(live[i%len(live)]).Do(rctx, "GET", "/v1/upgrades", map[string][]string{"consistent": {"true"}}, nil, &ts)
		cancel()
		if err == nil {
			return ts
		}
		time.Sleep(500 * time.Millisecond)
	}
	return nil
}

func evidence(c *harness.Cluster, rec *history.Recorder, final []api.Txn, healed, end time.Time, cfg Config) (checker.Input, error) {
	in := checker.Input{Ops: rec.Ops(), Commands: history.Commands(rec.Events()), Final: final, Launches: rec.Launches(),
		InitialProtocol: 1, Healed: healed, SettleBound: cfg.SettleBound, End: end,
		VisualizePath: filepath.Join(cfg.Out, "linearizability.html")}
	var err error
	if in.Tenures, err = c.Tenures(); err != nil {
		return in, fmt.Errorf("leadership from the logs: %w", err)
	}
	if in.Hooks, err = c.Hooks.Journal(); err != nil {
		return in, fmt.Errorf("hook journal: %w", err)
	}
	if in.Acks, err = c.Acks(); err != nil {
		return in, fmt.Errorf("acknowledged notices from the logs: %w", err)
	}
	return in, nil
}

// stopCheck fails when an agent did not stop on SIGTERM: CLI.md promises
// that SIGINT and SIGTERM stop the agent cleanly.
func stopCheck(hangs []harness.Crash) checker.Result {
	r := checker.Result{Invariant: "STOP", Name: "SIGTERM stops an agent", Status: checker.Pass, Checked: 1}
	if len(hangs) > 0 {
		h := hangs[0]
		r.Status = checker.Fail
		r.Violation = &checker.Violation{At: h.At, Nodes: []string{h.Node},
			What: fmt.Sprintf("%s (%d such hangs in all)", h.Tail, len(hangs))}
	}
	return r
}

// crashCheck fails when an agent exited without the harness asking: Baton
// must survive faults, not die of them.
func crashCheck(crashes []harness.Crash) checker.Result {
	r := checker.Result{Invariant: "CRASH", Name: "no agent exits by itself", Status: checker.Pass, Checked: 1}
	if len(crashes) > 0 {
		cr := crashes[0]
		r.Status = checker.Fail
		r.Violation = &checker.Violation{At: cr.At, Nodes: []string{cr.Node},
			What: fmt.Sprintf("agent exited with status %d (%d exits in all); log tail: %s", cr.Code, len(crashes), cr.Tail)}
	}
	return r
}

// writeGatewayRequests keeps the requests sent through the gateway in
// gateway-requests.jsonl, one JSON object a line.
func writeGatewayRequests(dir string, reqs []procs.LoadRequest) error {
	f, err := os.Create(filepath.Join(dir, "gateway-requests.jsonl"))
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, r := range reqs {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
