package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/baton-upgrade/baton/coordinator"
	"github.com/baton-upgrade/baton/internal/build"
	"github.com/baton-upgrade/baton/node"
	"github.com/baton-upgrade/baton/node/config"
	"github.com/baton-upgrade/baton/node/failover"
	"github.com/baton-upgrade/baton/node/pull"
	"github.com/baton-upgrade/baton/node/tlsnet"
	"github.com/baton-upgrade/baton/rpc"
	"github.com/baton-upgrade/baton/rpc/acl"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"
)

var noWait = api.Wait{}

func agentCommand() *cli.Command {
	return &cli.Command{
		Name:  "agent",
		Usage: "run the Baton agent of this node",
		Description: "Start a new cluster with --bootstrap on one node, then start the others with\n" +
			"--join pointing at any member's API address. A restarted agent needs neither:\n" +
			"it comes back from --data-dir. SIGINT or SIGTERM stops the agent cleanly.",
		ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "id", Usage: "this member's unique `ID` (letters, digits, '.', '_', '-')"},
			&cli.StringFlag{Name: "data-dir", Usage: "`DIR` for the Raft log, snapshots and step journal"},
			&cli.StringFlag{Name: "raft-addr", Usage: "`HOST:PORT` Raft listens on and advertises to peers"},
			&cli.StringFlag{Name: "http-addr", Value: "127.0.0.1:7070", Usage: "`HOST:PORT` of this agent's API"},
			&cli.BoolFlag{Name: "bootstrap", Usage: "start a new cluster with this node as its only voter"},
			&cli.BoolFlag{Name: "client", Usage: "run a client agent: no Raft state and no API; it registers with the servers in --join, " +
				"pulls its steps from them and pushes its notices (docs/clients.md); needs --id, --data-dir and --join"},
			&cli.BoolFlag{Name: "allow-state-loss", Usage: "start although this data dir ran before and its raft.db or journal.db is missing " +
				"(the term, vote and the record of steps already run are lost; docs/operations.md)"},
			&cli.StringSliceFlag{Name: "join", Usage: "API address(es) `HTTP_ADDR[,HTTP_ADDR...]` of members to join through (HOST:PORT, http:// or https://; with --tls-cert a bare HOST:PORT means HTTPS)"},
			&cli.StringFlag{Name: "config", Usage: "`FILE` (.json or .hcl) with this node's upgrade and service-role hooks, labels and service_addr"},
			&cli.StringFlag{Name: "token", EnvVars: []string{"BATON_TOKEN"}, Usage: "shared bearer `TOKEN`: it holds every scope, is required for writes and internal routes, " +
				"and is sent with this agent's own calls to other agents (with --acl-file, give agents a token of the agent scope instead)"},
			tokenFileFlag("BATON_TOKEN_FILE", "read --token from `FILE`, keeping it off the command line and out of ps"),
			&cli.StringFlag{Name: "acl-file", Usage: "`FILE` (.json or .hcl) of named tokens with scopes (read, operator, agent) and what anonymous callers may read (docs/security.md)"},
			&cli.IntFlag{Name: "http-max-conns", Value: rpc.DefaultMaxConns,
				Usage: "`N` API connections open at once over all clients; at the limit the API stops accepting until one closes (0: no limit). Keep it well under the agent's file limit (ulimit -n), which Raft and the stores share"},
			&cli.IntFlag{Name: "http-max-conns-per-client", Value: rpc.DefaultMaxConnsPerClient,
				Usage: "`N` API connections open at once from one IP address; a further one is answered 429 and closed (0: no limit)"},
			&cli.StringFlag{Name: "tls-cert", Usage: "`FILE` (PEM) of this node's certificate, naming its --id in the CommonName and its addresses in the SANs; " +
				"with --tls-key and --tls-ca, Raft speaks mutual TLS and the API HTTPS (docs/tls.md)"},
			&cli.StringFlag{Name: "tls-key", Usage: "`FILE` (PEM) of the private key of --tls-cert"},
			&cli.StringFlag{Name: "tls-ca", Usage: "`FILE` (PEM) of the CA that signed every node's certificate; Raft peers must present one it signed"},
			&cli.BoolFlag{Name: "allow-http-artifacts", Usage: "let transactions name artifacts by plain http URLs (only https otherwise; never local paths or file:)"},
			&cli.Int64Flag{Name: "artifact-max-size", Value: node.DefaultArtifactMaxSize, Usage: "the most `BYTES` an artifact pushed to this server (baton artifact push) may hold; a larger push is refused with 413"},
			&cli.Float64Flag{Name: "raft-multiplier", Value: 1, Usage: "scale Raft's timeouts: 1 keeps the 1 s defaults, 0.2 fails over about 5x faster"},
			&cli.Uint64Flag{Name: "raft-snapshot-threshold", Value: node.DefaultSnapshotThreshold,
				Usage: "snapshot the state and compact the Raft log once `N` entries were added since the last snapshot"},
			&cli.DurationFlag{Name: "raft-snapshot-interval", Value: node.DefaultSnapshotInterval,
				Usage: "how often Raft checks the snapshot threshold (at random, between one and two `DURATION`s)"},
			&cli.Uint64Flag{Name: "raft-trailing-logs", Value: node.DefaultTrailingLogs,
				Usage: "`N` log entries kept behind each snapshot: a follower that lags by fewer catches up from the log, one further behind may be sent the whole snapshot"},
			&cli.DurationFlag{Name: "gateway-ttl", Value: coordinator.DefaultGatewayTTL,
				Usage: "while leader, expire a registered gateway that has not reported for this `DURATION` (docs/ring.md)"},
			&cli.DurationFlag{Name: "gateway-wait", Value: coordinator.DefaultGatewayWait,
				Usage: "while leader, wait at most this `DURATION` after each step begins for every registered gateway to have seen it, before the node's drain hook runs"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "trace, debug, info, warn or error"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
		},
		Action: runAgent,
	}
}

func agentConfig(c *cli.Context) (node.Config, error) {
	if c.Bool("client") {
		return clientConfig(c) // client_agent.go
	}
	for _, name := range []string{"id", "data-dir", "raft-addr"} {
		if c.String(name) == "" {
			return node.Config{}, usagef("agent: --%s is required", name)
		}
	}
	if err := noArgs(c); err != nil {
		return node.Config{}, err
	}
	for _, name := range []string{"gateway-ttl", "gateway-wait"} {
		if c.Duration(name) <= 0 {
			return node.Config{}, usagef("agent: --%s %s: want a positive duration such as 5s", name, c.Duration(name))
		}
	}
	for _, name := range []string{"http-max-conns", "http-max-conns-per-client"} {
		if c.Int(name) < 0 {
			return node.Config{}, usagef("agent: --%s %d: want 0 (no limit) or more", name, c.Int(name))
		}
	}
	protocol, err := build.Protocol()
	if err != nil {
		return node.Config{}, err
	}
	var join []string
	for _, j := range c.StringSlice("join") {
		for _, addr := range strings.Split(j, ",") {
			if addr = strings.TrimSpace(addr); addr != "" {
				join = append(join, addr)
			}
		}
	}
	snapshots, err := snapshotConfig(c)
	if err != nil {
		return node.Config{}, err
	}
	cfg := node.Config{
		ID: c.String("id"), DataDir: c.String("data-dir"), RaftAddr: c.String("raft-addr"),
		HTTPAddr: c.String("http-addr"), Bootstrap: c.Bool("bootstrap"), Join: join,
		AllowStateLoss: c.Bool("allow-state-loss"),
		Token:          c.String("token"), Version: build.Version, Protocol: protocol,
		RaftMultiplier: c.Float64("raft-multiplier"), Snapshots: snapshots, AllowHTTPArtifacts: c.Bool("allow-http-artifacts"),
		ArtifactMaxSize: c.Int64("artifact-max-size"),
	}
	tlsFiles := tlsnet.Files{Cert: c.String("tls-cert"), Key: c.String("tls-key"), CA: c.String("tls-ca")}
	if err := tlsFiles.Complete(); err != nil {
		return node.Config{}, usagef("agent: %v", err)
	}
	if tlsFiles.Set() {
		if cfg.TLS, err = tlsnet.Load(tlsFiles, cfg.ID); err != nil {
			return node.Config{}, fmt.Errorf("agent: %w", err)
		}
	}
	if path := c.String("config"); path != "" {
		fc, err := config.Load(path)
		if err != nil {
			return node.Config{}, err
		}
		cfg.Labels, cfg.Hooks, cfg.ServiceAddr = fc.Labels, fc.Upgrade, fc.ServiceAddr
	}
	return cfg, nil
}

// snapshotConfig reads the Raft snapshot flags. Zero is refused here
// because node.Config reads a zero as "the default".
func snapshotConfig(c *cli.Context) (node.SnapshotConfig, error) {
	s := node.SnapshotConfig{Threshold: c.Uint64("raft-snapshot-threshold"), Interval: c.Duration("raft-snapshot-interval"),
		TrailingLogs: c.Uint64("raft-trailing-logs")}
	switch {
	case s.Threshold == 0:
		return s, usagef("agent: --raft-snapshot-threshold 0: want at least 1 new entry between snapshots")
	case s.Interval < node.MinSnapshotInterval:
		return s, usagef("agent: --raft-snapshot-interval %s: want at least %s", s.Interval, node.MinSnapshotInterval)
	case s.TrailingLogs == 0:
		return s, usagef("agent: --raft-trailing-logs 0: want at least 1; with no entry kept behind a snapshot, " +
			"a follower one entry behind must be sent the whole state")
	}
	return s, nil
}

func newLogger(c *cli.Context) (hclog.Logger, error) {
	level := hclog.LevelFromString(c.String("log-level"))
	if level == hclog.NoLevel {
		return nil, usagef("agent: --log-level %q: want trace, debug, info, warn or error", c.String("log-level"))
	}
	format := c.String("log-format")
	if format != "text" && format != "json" {
		return nil, usagef("agent: --log-format %q: want text or json", format)
	}
	return hclog.New(&hclog.LoggerOptions{
		Name: "baton", Level: level, JSONFormat: format == "json", Output: c.App.ErrWriter,
		TimeFormat: time.RFC3339Nano,
	}), nil
}

// aclPolicy loads --acl-file, if given, and says which token the API
// accepts as the shared one (every scope). --token is the agent's own
// credential for its calls to other agents; it is also the shared token,
// unless it is one of the ACL file's tokens: then it holds that token's
// scope only, here as everywhere. A bad file stops the agent (exit 1)
// with the entry that is wrong.
func aclPolicy(c *cli.Context, cfg node.Config) (*acl.Policy, string, error) {
	path := c.String("acl-file")
	if path == "" {
		return nil, cfg.Token, nil
	}
	p, err := acl.Load(path)
	if err != nil {
		return nil, "", err
	}
	cfg.Logger.Info("ACL file loaded", "path", path, "tokens", len(p.Tokens()), "anonymous", string(p.Anonymous))
	if cfg.Token == "" {
		cfg.Logger.Warn("--acl-file without --token or --token-file: this agent's calls to the others carry its node key alone, " +
			"which is accepted only once the key is on record; to join or register it needs a token of the agent scope")
		return p, "", nil
	}
	if t, ok := p.Lookup(cfg.Token); ok {
		if t.Scope != acl.Agent {
			cfg.Logger.Warn("this agent's --token is the ACL file's token of another scope than agent; its calls to other agents will be refused",
				"token", t.Name, "scope", string(t.Scope))
		}
		return p, "", nil
	}
	return p, cfg.Token, nil
}

// The agent is the coordinator's cluster: every method the coordinator
// relies on is on coordinator.Cluster.
var _ coordinator.Cluster = (*node.Agent)(nil)

func runAgent(c *cli.Context) error {
	cfg, err := agentConfig(c)
	if err != nil {
		return err
	}
	if c.Bool("client") {
		return runClient(c, cfg) // client_agent.go
	}
	if cfg.Logger, err = newLogger(c); err != nil {
		return err
	}
	policy, shared, err := aclPolicy(c, cfg)
	if err != nil {
		return err
	}
	// A write or fsync the disk refused ends the process at once, before
	// anything else touches the stores (docs/operations.md, "A disk that
	// fails or fills").
	cfg.OnStoreFailure = func(err error) {
		fmt.Fprintf(c.App.ErrWriter, "baton: %v\n", err)
		os.Exit(1)
	}
	agent, err := node.New(cfg)
	if err != nil {
		return usageError{err}
	}
	// Listen before starting Raft, so a taken port fails at once.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on --http-addr %s: %w", cfg.HTTPAddr, err)
	}
	nodes := pull.Nodes{Hub: agent.PullHub(), // client agents pull their steps (docs/clients.md)
		Next: coordinator.HTTPNodes{Token: cfg.Token, TLS: agent.ClientTLS(), Sign: agent.SignRequest, AppliedIndex: agent.AppliedIndex,
			Nudge: agent.NudgeFollowers}}
	coord := coordinator.New(agent, nodes, coordinator.Options{Logger: cfg.Logger,
		AllowHTTPArtifacts: cfg.AllowHTTPArtifacts, GatewayTTL: c.Duration("gateway-ttl"), GatewayWait: c.Duration("gateway-wait")})
	agent.OnLeadership(coord.Run)
	agent.OnLeadership(coord.WatchRoles)    // the service's roles (docs/switchover.md)
	agent.OnLeadership(coord.WatchGateways) // the gateway registry (docs/ring.md)
	if err := agent.Start(); err != nil {
		ln.Close()
		return err
	}
	defer agent.Shutdown()
	watchCtx, stopWatch := context.WithCancel(c.Context)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		failover.Watch(watchCtx, agent, failover.LeaseTimeout(cfg.RaftMultiplier), cfg.Logger)
	}()
	defer func() { stopWatch(); <-watched }()

	metrics, err := agent.MetricsHandler()
	if err != nil {
		cfg.Logger.Warn("metrics disabled", "error", err)
	}
	api := rpc.NewServer(agent, rpc.ServerOptions{Token: shared, Metrics: metrics, Logger: cfg.Logger.Named("api"),
		Upgrades: coord, Steps: agent, Events: agent, Service: agent, Ring: coord, Artifacts: agent, Clients: agent, Speaks: cfg.Protocol.Max,
		ClientTLS: agent.ClientTLS(), ACL: policy, Audit: cfg.Logger.Named("audit"),
		PeerName: peerName(cfg.TLS != nil)})
	limits := rpc.DefaultHTTPLimits()
	limits.MaxConns, limits.MaxConnsPerClient = c.Int("http-max-conns"), c.Int("http-max-conns-per-client")
	limits.Logger = cfg.Logger.Named("api")
	if cfg.TLS != nil {
		limits.TLS = cfg.TLS.APIServerConfig() // refusals answered inside TLS
	}
	srv := limits.Server(api)
	serveErr := make(chan error, 1)
	go func() { serveErr <- serveAPI(srv, limits.Listener(ln), cfg.TLS, cfg.Logger.Named("api")) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()

	regErr := make(chan error, 1)
	go func() { regErr <- agent.Register(c.Context) }()
	cfg.Logger.Info("agent running", "id", cfg.ID, "http_addr", cfg.HTTPAddr, "version", cfg.Version,
		"protocol", fmt.Sprintf("%d-%d", cfg.Protocol.Min, cfg.Protocol.Max), "pid", os.Getpid(), "tls", cfg.TLS != nil)

	// SIGHUP reloads the hooks from --config, as Consul and Nomad reload
	// on it; a file that does not load leaves the hooks as they were.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	for {
		select {
		case <-hup:
			reloadHooks(c, agent, cfg.Logger)
			reloadCertificate(cfg.TLS, cfg.Logger)
		case <-c.Context.Done():
			cfg.Logger.Info("signal received, stopping")
			return nil
		case err := <-serveErr:
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("api server: %w", err)
		case err := <-agent.Fatal():
			return err
		case err := <-regErr:
			if err != nil && c.Context.Err() == nil {
				return err
			}
		}
	}
}

// reloadHooks reads --config again and gives the agent its hooks.
func reloadHooks(c *cli.Context, agent *node.Agent, log hclog.Logger) {
	path := c.String("config")
	if path == "" {
		log.Warn("SIGHUP: no --config to reload")
		return
	}
	fc, err := config.Load(path)
	if err != nil {
		log.Error("SIGHUP: config not reloaded; the hooks stay as they were", "error", err)
		return
	}
	agent.ReloadHooks(fc.Upgrade)
}

// peerName is the API's source of node identity from client certificates
// (docs/tls.md, "Identity"): with TLS, the name of a verified certificate;
// without, none, so that nodes of a cluster whose leader has no key on
// record yet (protocol 2) fall back to the token's scope
// (docs/security.md).
func peerName(tls bool) func(*http.Request) string {
	if !tls {
		return nil
	}
	return func(r *http.Request) string { n, _ := rpc.PeerCertName(r); return n }
}
