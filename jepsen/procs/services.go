package procs

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serviceHook is every service node's hook script: $1 is the node's
// directory, $2 the hook. The service is a demosvc whose pid and request
// log live in the node's directory; restart stops it and leaves it down for
// down-seconds (0.4 unless the file says otherwise) before starting it
// again. Each hook appends "HOOK UNIX_NANOS" to events when it begins,
// drain "drained UNIX_NANOS" when it ends, and health "healthy UNIX_NANOS"
// once the service answers. Executable drain-extra and health-extra files
// in the node's directory run within those hooks (before "drained", after
// "healthy"), for a load balancer's own steps.
const serviceHook = `#!/bin/sh
d="$1"; hook="$2"
now() { date +%s%N; }
start_svc() {
  setsid "$(cat "$d/svc-bin")" serve --node "$BATON_NODE_ID" --addr "$(cat "$d/svc-addr")" \
    --version-file "$d/version" --log "$d/requests" >>"$d/svc.log" 2>&1 </dev/null &
  echo $! > "$d/svc.pid"
}
case "$hook" in
drain)   echo "drain $(now)" >> "$d/events"
         [ ! -x "$d/drain-extra" ] || "$d/drain-extra" || exit 1
         echo "drained $(now)" >> "$d/events"; sleep 0.1 ;;
install) echo "install $(now)" >> "$d/events"; echo "$BATON_TARGET_VERSION" > "$d/version" ;;
restart) echo "restart $(now)" >> "$d/events"
         pid=$(cat "$d/svc.pid"); kill "$pid" 2>/dev/null
         while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
         sleep "$(cat "$d/down-seconds" 2>/dev/null || echo 0.4)"
         start_svc ;;
health)  for i in $(seq 1 50); do
           if "$(cat "$d/svc-bin")" check --addr "$(cat "$d/svc-addr")" >/dev/null 2>&1; then
             echo "healthy $(now)" >> "$d/events"
             [ ! -x "$d/health-extra" ] || "$d/health-extra" || exit 1
             exit 0
           fi
           sleep 0.1
         done; exit 1 ;;
version) cat "$d/version" ;;
rollback) echo "$BATON_TARGET_VERSION" > "$d/version" ;;
start)   BATON_NODE_ID="$3" start_svc ;;
esac
`

// BuildDemosvc compiles cmd/demosvc, the toy HTTP service, into dir.
func BuildDemosvc(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "demosvc")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/demosvc")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build demosvc: %v\n%s", err, b)
	}
	return out, nil
}

// Services are toy HTTP services (cmd/demosvc), one beside each agent of a
// cluster, with hooks that really stop a node's service during its restart
// and record when each hook ran and every request each service received.
type Services struct {
	t     TB
	Bin   string // the demosvc binary
	Root  string
	Nodes map[string]*ServiceNode
}

// ServiceNode is one node's service and its files.
type ServiceNode struct {
	ID   string
	Addr string // the service's HOST:PORT: the agent's service_addr
	Dir  string
}

// NewServices prepares services whose files live under root; every service
// started is killed when the test ends.
func NewServices(t TB, root, demosvcBin string) *Services {
	s := &Services{t: t, Bin: demosvcBin, Root: root, Nodes: map[string]*ServiceNode{}}
	t.Cleanup(s.StopAll)
	return s
}

// Add writes node id's files, starts its service at version 1.0.0 and
// waits until it answers.
func (s *Services) Add(id string) *ServiceNode {
	s.t.Helper()
	addr, err := FreeAddr()
	if err != nil {
		s.t.Fatal(err)
	}
	d := filepath.Join(s.Root, "svc-"+id)
	files := map[string]string{"hook.sh": serviceHook, "version": "1.0.0\n", "svc-bin": s.Bin, "svc-addr": addr}
	if err := os.MkdirAll(d, 0o755); err != nil {
		s.t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(d, name), []byte(content), 0o755); err != nil {
			s.t.Fatal(err)
		}
	}
	node := &ServiceNode{ID: id, Addr: addr, Dir: d}
	s.Nodes[id] = node
	if out, err := exec.Command(filepath.Join(d, "hook.sh"), d, "start", id).CombinedOutput(); err != nil {
		s.t.Fatalf("start the service of %s: %v\n%s", id, err, out)
	}
	Eventually(s.t, 10*time.Second, func() error { return s.Check(addr) })
	return node
}

// Check asks the service (or anything that proxies to one) at addr
// whether it answers.
func (s *Services) Check(addr string) error {
	return exec.Command(s.Bin, "check", "--addr", addr).Run()
}

// ConfigFor writes and returns node id's agent config: its service_addr
// and its hooks. It fits Cluster.ConfigFor.
func (s *Services) ConfigFor(id string) string {
	node := s.Nodes[id]
	if node == nil {
		return ""
	}
	hook := func(name string) string { return filepath.Join(node.Dir, "hook.sh") + " " + node.Dir + " " + name }
	b, _ := json.Marshal(map[string]any{
		"service_addr": node.Addr,
		"upgrade": map[string]any{
			"drain": hook("drain"), "install": hook("install"), "restart": hook("restart"),
			"health": hook("health"), "version": hook("version"), "rollback": hook("rollback"), "timeout": "60s",
		},
	})
	path := filepath.Join(node.Dir, "agent.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		s.t.Fatal(err)
	}
	return path
}

// SetFile writes a file into node id's directory: down-seconds, or an
// executable drain-extra or health-extra.
func (s *Services) SetFile(id, name, content string) {
	if err := os.WriteFile(filepath.Join(s.Nodes[id].Dir, name), []byte(content), 0o755); err != nil {
		s.t.Fatal(err)
	}
}

func (s *Services) pid(id string) int {
	b, err := os.ReadFile(filepath.Join(s.Nodes[id].Dir, "svc.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Stop kills node id's service, as a crash would, and waits until it no
// longer answers.
func (s *Services) Stop(id string) {
	s.t.Helper()
	if pid := s.pid(id); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	Eventually(s.t, 10*time.Second, func() error {
		if s.Check(s.Nodes[id].Addr) == nil {
			return fmt.Errorf("%s's service still answers", id)
		}
		return nil
	})
}

// StopAll kills every service (by the pid its hook recorded).
func (s *Services) StopAll() {
	for id := range s.Nodes {
		if pid := s.pid(id); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// ServiceRequest is one request a service logged.
type ServiceRequest struct {
	At     time.Time
	Method string
	Path   string
	Body   string
}

// Requests reads node id's request log.
func (s *Services) Requests(id string) []ServiceRequest {
	reqs, _ := ReadServiceLog(filepath.Join(s.Nodes[id].Dir, "requests"))
	return reqs
}

// ReadServiceLog reads a demosvc request log (serve --log): one line per
// request, "UNIX_NANOS METHOD PATH BODY" with the body quoted. A missing
// file is no request.
func ReadServiceLog(path string) ([]ServiceRequest, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []ServiceRequest
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), " ", 4)
		if len(fields) != 4 {
			continue
		}
		ns, _ := strconv.ParseInt(fields[0], 10, 64)
		body, _ := strconv.Unquote(fields[3])
		out = append(out, ServiceRequest{At: time.Unix(0, ns), Method: fields[1], Path: fields[2], Body: body})
	}
	return out, sc.Err()
}

// ClientRequests are node id's requests that came from clients, not from
// its health checks (path /health).
func (s *Services) ClientRequests(id string) []ServiceRequest {
	var out []ServiceRequest
	for _, r := range s.Requests(id) {
		if r.Path != "/health" {
			out = append(out, r)
		}
	}
	return out
}

// Events reads node id's hook events: name -> times, in order.
func (s *Services) Events(id string) map[string][]time.Time {
	b, err := os.ReadFile(filepath.Join(s.Nodes[id].Dir, "events"))
	if err != nil {
		return nil
	}
	out := map[string][]time.Time{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var name string
		var ns int64
		if _, err := fmt.Sscanf(line, "%s %d", &name, &ns); err == nil {
			out[name] = append(out[name], time.Unix(0, ns))
		}
	}
	return out
}

// Gateway is one `baton gateway` process.
type Gateway struct {
	t       TB
	Bin     string
	Listen  string
	Metrics string
	LogPath string
	Args    []string
	cmd     *exec.Cmd
	done    chan struct{}
}

// StartGateway runs `baton gateway --listen … --metrics-listen … --addr
// AGENTS extra…` and waits until it routes; it is killed when the test
// ends (its log's tail printed if the test failed).
func StartGateway(t TB, bin, logDir string, agents []string, extra ...string) *Gateway {
	t.Helper()
	listen, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{t: t, Bin: bin, Listen: listen, Metrics: metrics, LogPath: filepath.Join(logDir, "gateway-"+strings.ReplaceAll(listen, ":", "-")+".log"),
		Args: append([]string{"gateway", "--listen", listen, "--metrics-listen", metrics, "--addr", strings.Join(agents, ","), "--log-level", "debug"}, extra...)}
	t.Cleanup(func() {
		g.Kill()
		if t.Failed() {
			t.Logf("---- gateway log %s, last lines:\n%s", g.LogPath, Tail(g.LogPath, 60))
		}
	})
	g.Start()
	return g
}

// Start starts the gateway process (again) and waits until it routes: a
// GET /health through it is answered 200.
func (g *Gateway) Start() {
	g.t.Helper()
	if err := g.Launch(); err != nil {
		g.t.Fatal(err)
	}
	Eventually(g.t, 30*time.Second, func() error {
		select {
		case <-g.done:
			return fmt.Errorf("the gateway exited: %s", Tail(g.LogPath, 5))
		default:
		}
		return healthThrough(g.Listen)
	})
}

// Launch starts the gateway process and returns at once: it takes clients
// only once it has read the cluster.
func (g *Gateway) Launch() error {
	logf, err := os.OpenFile(g.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	g.cmd = exec.Command(g.Bin, g.Args...)
	g.cmd.Stdout, g.cmd.Stderr = logf, logf
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := g.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start the gateway: %w", err)
	}
	g.done = make(chan struct{})
	go func() { _ = g.cmd.Wait(); logf.Close(); close(g.done) }()
	return nil
}

// NewGatewayAt prepares a gateway process for a caller that is not a test
// (the chaos suite): it listens on listen, follows agents, and logs to
// logPath; Launch starts it, Kill ends it.
func NewGatewayAt(bin, listen, logPath string, agents []string, extra ...string) *Gateway {
	return &Gateway{Bin: bin, Listen: listen, LogPath: logPath,
		Args: append([]string{"gateway", "--listen", listen, "--addr", strings.Join(agents, ","), "--log-level", "debug"}, extra...)}
}

// Kill ends the gateway with SIGKILL, as a crash would.
func (g *Gateway) Kill() {
	if g.cmd == nil || g.cmd.Process == nil {
		return
	}
	_ = g.cmd.Process.Signal(syscall.SIGKILL)
	<-g.done
}

// Stop ends the gateway with SIGTERM and waits up to timeout.
func (g *Gateway) Stop(timeout time.Duration) error {
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("the gateway did not stop within %s of SIGTERM", timeout)
	}
}

// Log returns the gateway's log.
func (g *Gateway) Log() string {
	b, _ := os.ReadFile(g.LogPath)
	return string(b)
}
