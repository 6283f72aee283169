package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
)

// GatewayOptions shape the gateway measurement.
type GatewayOptions struct {
	// Bin is a baton build that speaks protocol 3 (the ring and the
	// gateway registry); Demosvc, the toy service.
	Bin, Demosvc string
	// HAProxy is Debian's haproxy binary; empty skips its half.
	HAProxy string
	// Nodes is the cluster's size; Rate the client load in requests a
	// second; Latency the sequential requests of each latency sample set.
	Nodes, Rate, Latency int
}

// UpgradeLoad is what a client load counted through one upgrade.
type UpgradeLoad struct {
	Requests int
	Failed   int
	Seconds  float64
	Errors   []string // the first few failures
}

// GatewayResult is one gateway measurement.
type GatewayResult struct {
	// Direct, Gateway and HAProxy are latencies of one request, sent one
	// at a time on a kept-alive connection: to a node, through Baton's
	// gateway, through HAProxy; interleaved, so each pair saw the same
	// machine.
	Direct, Gateway, HAProxy []time.Duration
	// GatewayUpgrade and HAProxyUpgrade are the loads through a ring
	// upgrade of every node.
	GatewayUpgrade, HAProxyUpgrade UpgradeLoad
	HAProxyErr                     string
}

// GatewayUnderUpgrade starts a cluster of toy services beside agents, a
// `baton gateway` and (when given) HAProxy in front of them, measures the
// latency each front adds, and runs a ring upgrade under a client load
// through each.
func GatewayUnderUpgrade(t *T, o GatewayOptions) GatewayResult {
	c := procs.NewCluster(t, o.Bin)
	svc := procs.NewServices(t, c.Root, o.Demosvc)
	c.ConfigFor = svc.ConfigFor
	for i := 1; i <= o.Nodes; i++ {
		svc.Add(fmt.Sprintf("n%d", i))
	}
	c.Start(o.Nodes)
	var agents, nodes []string
	for _, a := range c.Agents {
		agents = append(agents, a.HTTPAddr)
	}
	for i := 1; i <= o.Nodes; i++ {
		nodes = append(nodes, svc.Nodes[fmt.Sprintf("n%d", i)].Addr)
	}
	gw := procs.StartGateway(t, o.Bin, c.Root, agents, "--name", "bench")
	var res GatewayResult
	var haproxy string
	if o.HAProxy != "" {
		var err error
		if haproxy, err = startHAProxy(t, o.HAProxy, c.Root, svc); err != nil {
			res.HAProxyErr = err.Error()
			haproxy = ""
		}
	}
	res.Direct, res.Gateway, res.HAProxy = frontLatencies(t, nodes, gw.Listen, haproxy, o.Latency)

	res.GatewayUpgrade = ringUpgradeUnderLoad(t, c, "http://"+gw.Listen+"/", "2.0.0", o.Rate)
	if haproxy != "" {
		gw.Kill() // it would count as a gateway to wait for, and nothing goes through it any more
		res.HAProxyUpgrade = ringUpgradeUnderLoad(t, c, "http://"+haproxy+"/", "3.0.0", o.Rate)
	}
	return res
}

// frontLatencies sends n rounds of one GET to a node (the next in turn),
// one through the gateway and one through HAProxy (when running).
func frontLatencies(t *T, nodes []string, gateway, haproxy string, n int) (direct, viaGateway, viaHAProxy []time.Duration) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	get := func(addr string) time.Duration {
		start := time.Now()
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("GET %s: %v", addr, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", addr, resp.Status)
		}
		return time.Since(start)
	}
	for i := range n + 50 {
		d, g := get(nodes[i%len(nodes)]), get(gateway)
		var h time.Duration
		if haproxy != "" {
			h = get(haproxy)
		}
		if i < 50 {
			continue // warm-up: connections, the nodes' and the fronts' first requests
		}
		direct, viaGateway = append(direct, d), append(viaGateway, g)
		if haproxy != "" {
			viaHAProxy = append(viaHAProxy, h)
		}
	}
	return direct, viaGateway, viaHAProxy
}

// ringUpgradeUnderLoad runs a ring upgrade to version while a load of rate
// requests a second (GET and POST alternating) goes through url.
func ringUpgradeUnderLoad(t *T, c *procs.Cluster, url, version string, rate int) UpgradeLoad {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	load := procs.StartLoad(ctx, procs.LoadOptions{URL: url, Rate: rate, Workers: 32, Max: rate * 240, Tag: "bench-" + version})
	start := time.Now()
	time.Sleep(time.Second)
	client := c.Agents[0].Client()
	txn, err := client.StartUpgrade(context.Background(), api.StartRequest{TargetVersion: version, Strategy: "ring"})
	if err != nil {
		t.Fatalf("start the ring upgrade to %s: %v", version, err)
	}
	if end := waitTxnEnd(t, c, txn.ID, 3*time.Minute); end.State != api.TxnDone {
		t.Fatalf("the ring upgrade to %s ended %s: %s", version, end.State, end.Reason)
	}
	time.Sleep(time.Second)
	cancel()
	reqs := load.Wait()
	out := UpgradeLoad{Seconds: time.Since(start).Seconds(), Requests: len(reqs)}
	for _, r := range reqs {
		// The front never restarts here: a connection it refused is a
		// failed request too.
		if r.Refused || r.Failed() {
			out.Failed++
			if len(out.Errors) < 5 {
				out.Errors = append(out.Errors, fmt.Sprintf("%s: %d %s", r.Method, r.Status, r.Err))
			}
		}
	}
	return out
}

// startHAProxy runs haproxy in front of svc's nodes, with each node's drain
// and health hooks driving it through examples/haproxy/haproxy-hook.sh,
// and returns its front address.
func startHAProxy(t *T, bin, root string, svc *procs.Services) (string, error) {
	front, err := procs.FreeAddr()
	if err != nil {
		return "", err
	}
	runtime, err := procs.FreeAddr()
	if err != nil {
		return "", err
	}
	hook, err := exampleHook()
	if err != nil {
		return "", err
	}
	var servers strings.Builder
	for i := 1; i <= len(svc.Nodes); i++ {
		id := fmt.Sprintf("n%d", i)
		fmt.Fprintf(&servers, "    server %s %s check inter 200ms\n", id, svc.Nodes[id].Addr)
		env := fmt.Sprintf("HAPROXY_RUNTIME=%s HAPROXY_BACKEND=service HAPROXY_DRAIN_TIMEOUT=20 SERVICE_CHECK='%s check --addr %s >/dev/null'",
			runtime, svc.Bin, svc.Nodes[id].Addr)
		for name, verb := range map[string]string{"drain-extra": "drain", "health-extra": "health"} {
			svc.SetFile(id, name, fmt.Sprintf("#!/bin/sh\nexec env %s %s %s\n", env, hook, verb))
		}
	}
	cfg := fmt.Sprintf("global\n    stats socket ipv4@%s level admin\ndefaults\n    mode http\n    timeout connect 2s\n"+
		"    timeout client 30s\n    timeout server 30s\n    retries 3\n    option redispatch 1\n"+
		"frontend clients\n    bind %s\n    default_backend service\nbackend service\n    balance leastconn\n%s",
		runtime, front, servers.String())
	path := filepath.Join(root, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return "", err
	}
	logf, err := os.Create(filepath.Join(root, "haproxy.log"))
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return "", err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGKILL); <-done })
	procs.Eventually(t, 20*time.Second, func() error { return svc.Check(front) })
	return front, nil
}

// exampleHook is the path of examples/haproxy/haproxy-hook.sh in this
// source tree.
func exampleHook() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("find the module's directory: %w", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "examples", "haproxy", "haproxy-hook.sh"), nil
}
