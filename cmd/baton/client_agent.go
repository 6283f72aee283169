package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/baton-upgrade/baton/internal/build"
	"github.com/baton-upgrade/baton/node"
	"github.com/baton-upgrade/baton/node/clientagent"
	"github.com/baton-upgrade/baton/node/config"
	"github.com/baton-upgrade/baton/node/tlsnet"
	"github.com/urfave/cli/v2"
)

// clientOnlyServerFlags are the agent flags a client agent refuses: it
// holds no Raft state and serves no API (docs/clients.md, "No API").
var clientOnlyServerFlags = []string{"raft-addr", "http-addr", "bootstrap", "acl-file", "http-max-conns",
	"http-max-conns-per-client", "raft-multiplier", "raft-snapshot-threshold", "raft-snapshot-interval",
	"raft-trailing-logs", "gateway-ttl", "gateway-wait", "allow-state-loss"}

// clientConfig reads the flags of `baton agent --client`: --id, --data-dir
// and --join are required, and the server-only flags are refused.
func clientConfig(c *cli.Context) (node.Config, error) {
	for _, name := range []string{"id", "data-dir", "join"} {
		if !c.IsSet(name) {
			return node.Config{}, usagef("agent --client: --%s is required", name)
		}
	}
	for _, name := range clientOnlyServerFlags {
		if c.IsSet(name) {
			return node.Config{}, usagef("agent --client: --%s is a server's flag: a client agent holds no Raft state and serves no API", name)
		}
	}
	if err := noArgs(c); err != nil {
		return node.Config{}, err
	}
	protocol, err := build.Protocol()
	if err != nil {
		return node.Config{}, err
	}
	cfg := node.Config{ID: c.String("id"), DataDir: c.String("data-dir"), Token: c.String("token"),
		Version: build.Version, BuildVersion: build.Version, Protocol: protocol, AllowHTTPArtifacts: c.Bool("allow-http-artifacts")}
	for _, j := range c.StringSlice("join") {
		for _, addr := range strings.Split(j, ",") {
			if addr = strings.TrimSpace(addr); addr != "" {
				cfg.Join = append(cfg.Join, addr)
			}
		}
	}
	if len(cfg.Join) == 0 {
		return node.Config{}, usagef("agent --client: --join names no server address")
	}
	tlsFiles := tlsnet.Files{Cert: c.String("tls-cert"), Key: c.String("tls-key"), CA: c.String("tls-ca")}
	if err := tlsFiles.Complete(); err != nil {
		return node.Config{}, usagef("agent --client: %v", err)
	}
	if tlsFiles.Set() {
		if cfg.TLS, err = tlsnet.Load(tlsFiles, cfg.ID); err != nil {
			return node.Config{}, fmt.Errorf("agent --client: %w", err)
		}
	}
	if path := c.String("config"); path != "" {
		fc, err := config.Load(path)
		if err != nil {
			return node.Config{}, err
		}
		if fc.ServiceAddr != "" {
			return node.Config{}, usagef("agent --client: %s names a service_addr: client agents take no part in a service's ring", path)
		}
		cfg.Labels, cfg.Hooks = fc.Labels, fc.Upgrade
	}
	return cfg, nil
}

// runClient runs a client agent until SIGINT or SIGTERM, or until the
// servers refuse its registration for good.
func runClient(c *cli.Context, cfg node.Config) error {
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	ccfg := clientagent.Config{ID: cfg.ID, DataDir: cfg.DataDir, Servers: cfg.Join, Token: cfg.Token,
		Hooks: cfg.Hooks, Labels: cfg.Labels, BuildVersion: cfg.BuildVersion, Protocol: cfg.Protocol,
		AllowHTTPArtifacts: cfg.AllowHTTPArtifacts, Logger: log, SelfRestart: reexecClient}
	if cfg.TLS != nil {
		ccfg.TLS = cfg.TLS.ClientConfig()
	}
	a, err := clientagent.Start(ccfg)
	if err != nil {
		return err
	}
	defer a.Stop()
	log.Info("client agent running", "id", cfg.ID, "servers", strings.Join(cfg.Join, ","), "version", cfg.Version,
		"pid", os.Getpid(), "tls", cfg.TLS != nil)
	select {
	case <-c.Context.Done():
		log.Info("signal received, stopping")
		return nil
	case err := <-a.Fatal():
		return err
	}
}

// reexecClient replaces the client agent's process with a fresh run of its
// executable, for the restart hook "self": the journal says the restart
// began, so the new process resumes the step.
func reexecClient() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	return syscall.Exec(exe, os.Args, os.Environ())
}
