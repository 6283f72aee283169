package harness

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/baton-upgrade/baton/jepsen/checker"
	"github.com/baton-upgrade/baton/jepsen/procs"
)

// The clients' side of the failover ring (S2): a toy HTTP service
// (cmd/demosvc) beside each agent, whose address is the agent's
// service_addr, and `baton gateway` in front of them, registered with the
// cluster as GatewayName. The hooks never touch the services: what the
// suite checks is where the gateway sends requests (I11), not the
// services' restarts. The gateway follows the cluster from the start, but
// routes only once the cluster speaks protocol 3 (the ring's routes and
// service_addr), after the run's first upgrades.

// GatewayName is the suite gateway's name in the cluster's registry.
const GatewayName = "jepsen"

// LateGatewaysMessage is the leader's log message when a registered
// gateway did not confirm a drain announcement in time and the step went
// on without it (coordinator.LogGatewaysLate).
const LateGatewaysMessage = "gateways did not confirm the drain announcement within --gateway-wait; going on"

type frontEnd struct {
	services map[string]*exec.Cmd
	done     map[string]chan struct{}
	logs     map[string]string // node -> the service's request log
	gateway  *procs.Gateway
}

// setUpServices starts every node's service and names its address in the
// node's config, before any agent starts.
func (c *Cluster) setUpServices() error {
	dir := filepath.Join(c.opts.Root, "services")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bin, err := procs.BuildDemosvc(c.buildDir)
	if err != nil {
		return err
	}
	fe := &frontEnd{services: map[string]*exec.Cmd{}, done: map[string]chan struct{}{}, logs: map[string]string{}}
	c.front = fe
	c.Hooks.ServiceAddr = map[string]string{}
	version := filepath.Join(dir, "version")
	if err := os.WriteFile(version, []byte("1.0.0\n"), 0o644); err != nil {
		return err
	}
	for _, id := range c.ids {
		var addr string
		var wrap []string
		if c.opts.Net != nil {
			addr, wrap = c.opts.Net.IP[id]+":7072", c.opts.Net.Wrap(id)
		} else if addr, err = procs.FreeAddr(); err != nil {
			return err
		}
		c.Hooks.ServiceAddr[id] = addr
		fe.logs[id] = ServiceRequestLogs(c.opts.Root, []string{id})[id]
		logf, err := os.Create(filepath.Join(dir, id+".log"))
		if err != nil {
			return err
		}
		argv := append(append([]string(nil), wrap...), bin, "serve", "--node", id, "--addr", addr, "--version-file", version, "--log", fe.logs[id])
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			logf.Close()
			return fmt.Errorf("start the service of %s: %w", id, err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
		fe.services[id], fe.done[id] = cmd, done
	}
	return nil
}

// startGateway launches the gateway once the cluster has formed.
func (c *Cluster) startGateway() error {
	listen, err := procs.FreeAddr()
	if err != nil {
		return err
	}
	var agents []string
	for _, id := range c.ids {
		agents = append(agents, c.nodes[id].agent.HTTPAddr)
	}
	c.front.gateway = procs.NewGatewayAt(c.tc.Bin, listen, filepath.Join(c.opts.Root, "gateway.log"), agents,
		"--token", Token, "--name", GatewayName)
	return c.front.gateway.Launch()
}

// GatewayURL is where clients reach the services through the gateway.
func (c *Cluster) GatewayURL() string { return "http://" + c.front.gateway.Listen + "/" }

// stopFront ends the gateway and the services.
func (c *Cluster) stopFront() {
	if c.front == nil {
		return
	}
	if c.front.gateway != nil {
		c.front.gateway.Kill()
	}
	for id, cmd := range c.front.services {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-c.front.done[id]:
		case <-time.After(10 * time.Second):
		}
	}
}

// ServiceRequests reads what each node's service received.
func (c *Cluster) ServiceRequests() (map[string][]procs.ServiceRequest, error) {
	if c.front == nil {
		return map[string][]procs.ServiceRequest{}, nil
	}
	return ServiceRequestsFromLogs(c.front.logs)
}

// ServiceRequestLogs are the services' request logs a run left under
// root (node id -> path).
func ServiceRequestLogs(root string, ids []string) map[string]string {
	out := map[string]string{}
	for _, id := range ids {
		out[id] = filepath.Join(root, "services", id+"-requests")
	}
	return out
}

// ServiceRequestsFromLogs reads services' request logs (node id -> path).
func ServiceRequestsFromLogs(logs map[string]string) (map[string][]procs.ServiceRequest, error) {
	out := map[string][]procs.ServiceRequest{}
	for id, path := range logs {
		reqs, err := procs.ReadServiceLog(path)
		if err != nil {
			return nil, fmt.Errorf("request log of %s: %w", id, err)
		}
		out[id] = reqs
	}
	return out, nil
}

// LateAnnouncements reads from the agents' logs the batches the leader
// sent although a registered gateway had not confirmed their drain
// announcement (the bounded wait ran out).
func (c *Cluster) LateAnnouncements() ([]checker.LateAnnouncement, error) {
	return LateAnnouncementsFromLogs(c.LogPaths())
}

// LateAnnouncementsFromLogs reads them from agents' logs (node id -> log
// path).
func LateAnnouncementsFromLogs(logs map[string]string) ([]checker.LateAnnouncement, error) {
	var out []checker.LateAnnouncement
	for _, path := range logs {
		f, err := os.Open(path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var line struct {
				Msg   string   `json:"@message"`
				At    string   `json:"@timestamp"`
				Txn   string   `json:"txn"`
				Nodes []string `json:"nodes"`
			}
			if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != LateGatewaysMessage {
				continue
			}
			at, _ := time.Parse(time.RFC3339Nano, line.At)
			out = append(out, checker.LateAnnouncement{Txn: line.Txn, Nodes: line.Nodes, At: at})
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
