package procs

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
)

// TB is what the harness needs from its caller. *testing.T and *testing.B
// satisfy it, and so does a benchmark driver that runs outside `go test`.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(fn func())
	TempDir() string
	Failed() bool
}

// Cluster is a set of real baton agent processes on loopback.
type Cluster struct {
	t      TB
	Bin    string
	Root   string
	Token  string
	Agents []*Agent
	// RaftMultiplier is passed to every agent; 0 keeps the agent's default.
	RaftMultiplier float64
	// AgentArgs are flags every agent of the cluster starts and restarts
	// with, after the base ones (such as small Raft snapshot settings).
	AgentArgs []string
	// ConfigFor, when set, returns the --config file for an agent id.
	ConfigFor func(id string) string
	// OwnBinary gives every agent its own copy of the binary (at
	// Root/ID-bin/baton), so that an agent can replace its own executable.
	OwnBinary bool
	// CA, set by UseTLS, issues every agent's certificate: the cluster
	// then runs with TLS (certs.go).
	CA        *CA
	clientTLS *tls.Config
}

// Agent is one agent process and everything needed to restart it.
type Agent struct {
	ID       string
	RaftAddr string
	HTTPAddr string
	DataDir  string
	LogPath  string
	Bin      string
	// Wrap, when set, is a command prefix the agent runs under, such as
	// `ip netns exec NAME` to run it inside a network namespace. The
	// prefix must exec the agent (keep its pid) for signals to reach it.
	Wrap    []string
	c       *Cluster
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
}

// NewCluster prepares a cluster whose files live under t.TempDir(). Every
// process it starts is killed when the test ends; on failure the tail of
// each agent's log is printed.
func NewCluster(t TB, bin string) *Cluster {
	c := &Cluster{t: t, Bin: bin, Root: t.TempDir()}
	t.Cleanup(func() {
		for _, a := range c.Agents {
			a.kill()
		}
		if t.Failed() {
			for _, a := range c.Agents {
				t.Logf("---- log of %s (%s), last lines:\n%s", a.ID, a.LogPath, Tail(a.LogPath, 40))
			}
		}
	})
	return c
}

// NewClusterAt prepares a cluster whose files live under root, for callers
// that are not tests (the chaos suite). Nothing is cleaned up by itself:
// call Close when done. Methods that fail a test with t.Fatal panic on such
// a cluster instead; use the error-returning ones (AddAt, Launch,
// StopWithin).
func NewClusterAt(root, bin string) *Cluster {
	return &Cluster{Bin: bin, Root: root}
}

// Close kills every agent of the cluster with its process group and waits
// (boundedly) for each to end. It is what NewCluster's cleanup does.
func (c *Cluster) Close() {
	for _, a := range c.Agents {
		a.kill()
	}
}

// helper marks the caller as a test helper when the cluster belongs to a
// test.
func (c *Cluster) helper() {
	if c.t != nil {
		c.t.Helper()
	}
}

// fatalf fails the test, or panics on a cluster made by NewClusterAt.
func (c *Cluster) fatalf(format string, args ...any) {
	if c.t == nil {
		panic(fmt.Sprintf(format, args...))
	}
	c.t.Helper()
	c.t.Fatalf(format, args...)
}

// AddAt creates an agent record with the given addresses without starting
// it.
func (c *Cluster) AddAt(id, raftAddr, httpAddr string) *Agent {
	a := &Agent{ID: id, RaftAddr: raftAddr, HTTPAddr: httpAddr, c: c, Bin: c.Bin,
		DataDir: filepath.Join(c.Root, id), LogPath: filepath.Join(c.Root, id+".log")}
	if c.OwnBinary {
		a.Bin = filepath.Join(c.Root, id+"-bin", "baton")
		if err := copyFile(c.Bin, a.Bin); err != nil {
			c.t.Fatal(err)
		}
	}
	c.Agents = append(c.Agents, a)
	return a
}

// Add creates an agent record with fresh ports without starting it.
func (c *Cluster) Add(id string) *Agent {
	c.helper()
	raftAddr, err := FreeAddr()
	if err != nil {
		c.fatalf("%v", err)
	}
	httpAddr, err := FreeAddr()
	if err != nil {
		c.fatalf("%v", err)
	}
	return c.AddAt(id, raftAddr, httpAddr)
}

// Agent returns the agent with the given id.
func (c *Cluster) Agent(id string) *Agent {
	for _, a := range c.Agents {
		if a.ID == id {
			return a
		}
	}
	c.fatalf("no agent %q", id)
	return nil
}

// Start starts n agents n1..n: n1 bootstraps, the others join through n1,
// and it waits until every agent sees all n members and a leader.
func (c *Cluster) Start(n int) {
	c.t.Helper()
	first := c.Add("n1")
	first.Start("--bootstrap")
	c.WaitMembers(first, 1, 20*time.Second)
	for i := 2; i <= n; i++ {
		c.Add(fmt.Sprintf("n%d", i)).Start("--join", first.HTTPAddr)
	}
	for _, a := range c.Agents {
		c.WaitMembers(a, n, 30*time.Second)
	}
}

// WaitMembers waits until a's catalogue holds n members and a knows a leader.
func (c *Cluster) WaitMembers(a *Agent, n int, timeout time.Duration) {
	c.t.Helper()
	Eventually(c.t, timeout, func() error {
		ms, _, err := a.Client().Members(context.Background(), api.Wait{})
		if err != nil {
			return err
		}
		leaders := 0
		for _, m := range ms {
			if m.Leader {
				leaders++
			}
		}
		if len(ms) != n || leaders != 1 {
			return fmt.Errorf("%s sees %d members and %d leaders, want %d and 1", a.ID, len(ms), leaders, n)
		}
		return nil
	})
}

// Start launches the agent process with the base flags plus extra, and
// fails the test if it cannot.
func (a *Agent) Start(extra ...string) {
	a.c.helper()
	if err := a.Launch(extra...); err != nil {
		a.c.fatalf("%v", err)
	}
}

// Launch starts the agent process with the base flags plus extra (under
// Wrap, when set) and returns once it runs.
func (a *Agent) Launch(extra ...string) error {
	if a.cmd != nil && !a.Exited() {
		return fmt.Errorf("agent %s is already running", a.ID)
	}
	args := []string{"agent", "--id", a.ID, "--data-dir", a.DataDir, "--raft-addr", a.RaftAddr,
		"--http-addr", a.HTTPAddr, "--log-level", "debug", "--log-format", "json"}
	if a.c.Token != "" {
		args = append(args, "--token", a.c.Token)
	}
	if a.c.RaftMultiplier != 0 {
		args = append(args, "--raft-multiplier", strconv.FormatFloat(a.c.RaftMultiplier, 'f', -1, 64))
	}
	if a.c.ConfigFor != nil {
		if p := a.c.ConfigFor(a.ID); p != "" {
			args = append(args, "--config", p)
		}
	}
	tlsArgs, err := a.tlsArgs()
	if err != nil {
		return err
	}
	args = append(args, tlsArgs...)
	args = append(args, a.c.AgentArgs...)
	args = append(args, extra...)
	logf, err := os.OpenFile(a.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	argv := append(append(append([]string(nil), a.Wrap...), a.Bin), args...)
	fmt.Fprintf(logf, "%s%s\n", startMarker, strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", a.ID, err)
	}
	a.cmd, a.exited = cmd, make(chan struct{})
	go func() {
		a.exitErr = cmd.Wait()
		logf.Close()
		close(a.exited)
	}()
	return nil
}

// Restart starts a stopped agent again with only its data directory and
// addresses.
func (a *Agent) Restart() { a.Start() }

// Pid is the agent's process id.
func (a *Agent) Pid() int { return a.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (a *Agent) Exited() bool {
	select {
	case <-a.exited:
		return true
	default:
		return false
	}
}

// WaitExit waits for the process to end and returns its exit code.
func (a *Agent) WaitExit(timeout time.Duration) (int, error) {
	select {
	case <-a.exited:
	case <-time.After(timeout):
		return 0, fmt.Errorf("agent %s still running after %s", a.ID, timeout)
	}
	var ee *exec.ExitError
	if errors.As(a.exitErr, &ee) {
		return ee.ExitCode(), nil
	}
	return 0, a.exitErr
}

// Signal sends sig to the agent process (not to its hooks), such as
// SIGSTOP and SIGCONT to pause and resume it.
func (a *Agent) Signal(sig syscall.Signal) error {
	if a.cmd == nil || a.Exited() {
		return fmt.Errorf("agent %s is not running", a.ID)
	}
	return a.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL to the agent (not to its hooks) and waits for it to die.
func (a *Agent) Kill() {
	a.c.helper()
	if a.cmd == nil || a.Exited() {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.exited
	a.appendLog(fmt.Sprintf(`{"@message":%q,"at":%q,"id":%q}`, killedMessage, time.Now().UTC().Format(time.RFC3339Nano), a.ID))
}

// appendLog adds a line to the agent's log, for events the harness causes.
func (a *Agent) appendLog(line string) {
	f, err := os.OpenFile(a.LogPath, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintln(f, line)
}

// Stop sends SIGTERM and waits for a clean exit.
func (a *Agent) Stop() {
	a.c.helper()
	if err := a.StopWithin(30 * time.Second); err != nil {
		a.c.fatalf("%v", err)
	}
}

// StopWithin sends SIGTERM (and SIGCONT, in case the agent is paused) and
// waits up to timeout for the agent to exit.
func (a *Agent) StopWithin(timeout time.Duration) error {
	if a.cmd == nil || a.Exited() {
		return nil
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	_ = a.cmd.Process.Signal(syscall.SIGCONT)
	_, err := a.WaitExit(timeout)
	return err
}

// kill ends the agent and its process group, for cleanup.
func (a *Agent) kill() {
	if a.cmd == nil || a.Exited() {
		return
	}
	_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
	_ = syscall.Kill(a.cmd.Process.Pid, syscall.SIGCONT)
	select {
	case <-a.exited:
	case <-time.After(10 * time.Second):
	}
}

// Client is an API client of this agent, with the cluster's token (over
// HTTPS trusting the cluster's CA when it runs with TLS).
func (a *Agent) Client() *api.Client { return api.NewClientTLS(a.HTTPAddr, a.c.Token, a.c.clientTLS) }

// CLIResult is the outcome of one baton command.
type CLIResult struct {
	Stdout, Stderr string
	Code           int
}

// CLI runs the baton binary with args against this agent (BATON_ADDR and
// BATON_TOKEN are set, and BATON_CACERT when the cluster runs with TLS) and
// returns its output and exit status.
func (a *Agent) CLI(args ...string) CLIResult {
	a.c.helper()
	return RunCLI(a.c.t, a.Bin, a.c.CLIEnv(a), args...)
}

// CLIEnv is the environment a baton command needs to reach agent a.
func (c *Cluster) CLIEnv(a *Agent) []string {
	env := []string{"BATON_ADDR=" + a.HTTPAddr, "BATON_TOKEN=" + c.Token}
	if c.CA != nil {
		env = append(env, "BATON_CACERT="+c.CA.CertFile)
	}
	return env
}

// RunCLI runs bin with args and extra environment, bounded by two minutes.
func RunCLI(t TB, bin string, env []string, args ...string) CLIResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := RunCLIContext(ctx, nil, bin, env, args...)
	if err != nil {
		t.Fatalf("run baton %v: %v", args, err)
	}
	return res
}

// RunCLIContext runs bin with args and extra environment under the command
// prefix wrap (none when empty), until it exits or ctx ends. A non-zero
// exit is a result, not an error; the error says the command could not run
// or was cut short by ctx.
func RunCLIContext(ctx context.Context, wrap []string, bin string, env []string, args ...string) (CLIResult, error) {
	argv := append(append(append([]string(nil), wrap...), bin), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := CLIResult{Stdout: out.String(), Stderr: errb.String()}
	if ctx.Err() != nil {
		return res, fmt.Errorf("run baton %v: %w", args, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.Code = ee.ExitCode()
		return res, nil
	}
	return res, err
}

// Eventually calls fn until it returns nil or timeout passes, then fails the
// test with fn's last error.
func Eventually(t TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Tail returns the last n lines of a file, or the error reading it.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// copyFile copies an executable to dst, creating dst's directory.
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}
