// Command batonfleet runs a fleet of Baton client agents in one process
// (docs/clients.md, "The fleet driver"), so that one machine can hold a
// real fleet behind real `baton agent` servers: each agent has its own
// data dir, step journal and node key, and speaks real HTTP to the
// servers. Their hooks are two tiny shell scripts shared by the fleet (an
// install that records the target version in the node's file, and a
// version hook that prints it).
//
//	batonfleet -join HOST:PORT[,...] -clients N [-prefix f] [-dir DIR] [-token T]
//	           [-start-rate N] [-duration D] [-label KEY=VALUE ...] [-subnets N]
//
// It stops after -duration, or at SIGINT or SIGTERM; every agent is then
// stopped (a running hook is left to its journal, as after a crash).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/baton-upgrade/baton/fsm"
	"github.com/baton-upgrade/baton/node/clientagent"
	"github.com/baton-upgrade/baton/node/config"
	"github.com/hashicorp/go-hclog"
)

// maxClients bounds a fleet in one process.
const maxClients = 20000

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "batonfleet:", err)
		os.Exit(1)
	}
}

type labelFlags map[string]string

func (l labelFlags) String() string { return fmt.Sprint(map[string]string(l)) }
func (l labelFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("label %q: want KEY=VALUE", v)
	}
	l[k] = val
	return nil
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("batonfleet", flag.ContinueOnError)
	join := fs.String("join", "", "API `ADDRS` of the servers, comma-separated")
	n := fs.Int("clients", 100, "`N` client agents to run")
	prefix := fs.String("prefix", "f", "client ids are `PREFIX` followed by a number (f00001...)")
	dir := fs.String("dir", "", "`DIR` for the agents' data dirs and the hooks (default: a new temporary directory, removed at the end)")
	token := fs.String("token", os.Getenv("BATON_TOKEN"), "bearer `TOKEN` of the agent scope")
	rate := fs.Int("start-rate", 200, "agents started per second (their registrations are Raft commits)")
	duration := fs.Duration("duration", 10*time.Minute, "stop after `D`")
	version := fs.String("initial-version", "1.0.0", "the version every client starts at")
	subnets := fs.Int("subnets", 0, "label the clients with subnet=10.S.0.0/24, S cycling over `N` subnets (0: no such label)")
	logLevel := fs.String("log-level", "warn", "the agents' log level")
	labels := labelFlags{}
	fs.Var(labels, "label", "`KEY=VALUE` label of every client (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	servers := splitAddrs(*join)
	switch {
	case len(servers) == 0:
		return errors.New("-join: name at least one server's API address")
	case *n < 1 || *n > maxClients:
		return fmt.Errorf("-clients %d: want 1 to %d", *n, maxClients)
	case *rate < 1:
		return fmt.Errorf("-start-rate %d: want at least 1", *rate)
	case *duration <= 0:
		return fmt.Errorf("-duration %s: want a positive duration", *duration)
	}
	root := *dir
	if root == "" {
		tmp, err := os.MkdirTemp("", "batonfleet-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		root = tmp
	}
	hooks, err := writeHooks(root, *version)
	if err != nil {
		return err
	}
	// Every agent's calls share the default transport: keep a connection
	// per agent alive between polls rather than open one each time.
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		t.MaxIdleConnsPerHost = *n + 16
		t.MaxIdleConns = *n + 16
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "fleet", Level: hclog.LevelFromString(*logLevel), Output: os.Stderr})
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()

	start := time.Now()
	agents := make([]*clientagent.Agent, 0, *n)
	var registered atomic.Int64
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(*rate))
	defer tick.Stop()
	defer func() {
		for _, a := range agents {
			wg.Add(1)
			go func() { defer wg.Done(); a.Stop() }()
		}
		wg.Wait()
	}()
	for i := range *n {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		id := fmt.Sprintf("%s%05d", *prefix, i+1)
		l := map[string]string{}
		for k, v := range labels {
			l[k] = v
		}
		if *subnets > 0 {
			l["subnet"] = fmt.Sprintf("10.%d.0.0/24", i%*subnets)
		}
		a, err := clientagent.Start(clientagent.Config{ID: id, DataDir: filepath.Join(root, id), Token: *token,
			Servers: rotate(servers, i), Hooks: hooks, Labels: l, BuildVersion: *version,
			Protocol: fsm.ProtocolRange{Min: fsm.LatestProtocol - 1, Max: fsm.LatestProtocol},
			Logger:   log.Named(id)})
		if err != nil {
			return fmt.Errorf("client %s: %w", id, err)
		}
		agents = append(agents, a)
		go func() {
			select {
			case <-a.Registered():
				if registered.Add(1) == int64(*n) {
					fmt.Printf("%s all %d clients registered\n", stamp(start), *n)
				}
			case err := <-a.Fatal():
				fmt.Fprintf(os.Stderr, "%s client %s stopped: %v\n", stamp(start), a.ID(), err)
			case <-ctx.Done():
			}
		}()
	}
	fmt.Printf("%s %d clients started\n", stamp(start), *n)
	report := time.NewTicker(10 * time.Second)
	defer report.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Printf("%s stopping: %d of %d clients registered\n", stamp(start), registered.Load(), *n)
			return nil
		case <-report.C:
			pending := 0
			for _, a := range agents {
				pending += a.PendingNotices()
			}
			fmt.Printf("%s %d of %d clients registered, %d notices not yet acknowledged\n", stamp(start), registered.Load(), *n, pending)
		}
	}
}

// writeHooks writes the fleet's two hook scripts under root: each client's
// version lives in root/versions/ID.
func writeHooks(root, initial string) (config.Hooks, error) {
	vdir := filepath.Join(root, "versions")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return config.Hooks{}, err
	}
	install := filepath.Join(root, "install.sh")
	version := filepath.Join(root, "version.sh")
	scripts := map[string]string{
		install: "#!/bin/sh\necho \"$BATON_TARGET_VERSION\" > \"" + vdir + "/$BATON_NODE_ID.tmp\" && mv \"" + vdir + "/$BATON_NODE_ID.tmp\" \"" + vdir + "/$BATON_NODE_ID\"\n",
		version: "#!/bin/sh\ncat \"" + vdir + "/$BATON_NODE_ID\" 2>/dev/null || echo " + initial + "\n",
	}
	for path, body := range scripts {
		if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
			return config.Hooks{}, err
		}
	}
	return config.Hooks{Install: install, Version: version, Timeout: time.Minute}, nil
}

func splitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// rotate starts client i's server list at server i mod len, spreading the
// fleet's polls over the servers.
func rotate(servers []string, i int) []string {
	k := i % len(servers)
	return append(append([]string(nil), servers[k:]...), servers[:k]...)
}

func stamp(start time.Time) string {
	return fmt.Sprintf("[%6.1fs]", time.Since(start).Seconds())
}
