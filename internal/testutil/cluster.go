package testutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/rpc"
)

// Cluster is a set of real baton agent processes on loopback.
type Cluster struct {
	t      testing.TB
	Bin    string
	Root   string
	Token  string
	Agents []*Agent
	// RaftMultiplier is passed to every agent; 0 keeps the agent's default.
	RaftMultiplier float64
	// ConfigFor, when set, returns the --config file for an agent id.
	ConfigFor func(id string) string
}

// Agent is one agent process and everything needed to restart it.
type Agent struct {
	ID       string
	RaftAddr string
	HTTPAddr string
	DataDir  string
	LogPath  string
	Bin      string
	c        *Cluster
	cmd      *exec.Cmd
	exited   chan struct{}
	exitErr  error
}

// NewCluster prepares a cluster whose files live under t.TempDir(). Every
// process it starts is killed when the test ends; on failure the tail of
// each agent's log is printed.
func NewCluster(t testing.TB, bin string) *Cluster {
	c := &Cluster{t: t, Bin: bin, Root: t.TempDir()}
	t.Cleanup(func() {
		for _, a := range c.Agents {
			a.kill()
		}
		if t.Failed() {
			for _, a := range c.Agents {
				t.Logf("---- log of %s (%s), last lines:\n%s", a.ID, a.LogPath, tail(a.LogPath, 40))
			}
		}
	})
	return c
}

// Add creates an agent record with fresh ports without starting it.
func (c *Cluster) Add(id string) *Agent {
	c.t.Helper()
	raftAddr, err := FreeAddr()
	if err != nil {
		c.t.Fatal(err)
	}
	httpAddr, err := FreeAddr()
	if err != nil {
		c.t.Fatal(err)
	}
	a := &Agent{ID: id, RaftAddr: raftAddr, HTTPAddr: httpAddr, c: c, Bin: c.Bin,
		DataDir: filepath.Join(c.Root, id), LogPath: filepath.Join(c.Root, id+".log")}
	c.Agents = append(c.Agents, a)
	return a
}

// Agent returns the agent with the given id.
func (c *Cluster) Agent(id string) *Agent {
	for _, a := range c.Agents {
		if a.ID == id {
			return a
		}
	}
	c.t.Fatalf("no agent %q", id)
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
		ms, _, err := a.Client().Members(context.Background(), rpc.Wait{})
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

// Start launches the agent process with the base flags plus extra.
func (a *Agent) Start(extra ...string) {
	a.c.t.Helper()
	if a.cmd != nil && !a.Exited() {
		a.c.t.Fatalf("agent %s is already running", a.ID)
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
	args = append(args, extra...)
	logf, err := os.OpenFile(a.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		a.c.t.Fatal(err)
	}
	fmt.Fprintf(logf, "==== start %s %s\n", a.Bin, strings.Join(args, " "))
	cmd := exec.Command(a.Bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		a.c.t.Fatalf("start %s: %v", a.ID, err)
	}
	a.cmd, a.exited = cmd, make(chan struct{})
	go func() {
		a.exitErr = cmd.Wait()
		logf.Close()
		close(a.exited)
	}()
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

// Kill sends SIGKILL to the agent (not to its hooks) and waits for it to die.
func (a *Agent) Kill() {
	a.c.t.Helper()
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
	a.c.t.Helper()
	if a.cmd == nil || a.Exited() {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	if _, err := a.WaitExit(30 * time.Second); err != nil {
		a.c.t.Fatal(err)
	}
}

// kill ends the agent and its process group, for cleanup.
func (a *Agent) kill() {
	if a.cmd == nil || a.Exited() {
		return
	}
	_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-a.exited:
	case <-time.After(10 * time.Second):
	}
}

// Client is an API client of this agent, with the cluster's token.
func (a *Agent) Client() *rpc.Client { return rpc.NewClient(a.HTTPAddr, a.c.Token) }

// CLIResult is the outcome of one baton command.
type CLIResult struct {
	Stdout, Stderr string
	Code           int
}

// CLI runs the baton binary with args against this agent (BATON_ADDR and
// BATON_TOKEN are set) and returns its output and exit status.
func (a *Agent) CLI(args ...string) CLIResult {
	a.c.t.Helper()
	return RunCLI(a.c.t, a.Bin, []string{"BATON_ADDR=" + a.HTTPAddr, "BATON_TOKEN=" + a.c.Token}, args...)
}

// RunCLI runs bin with args and extra environment, bounded by two minutes.
func RunCLI(t testing.TB, bin string, env []string, args ...string) CLIResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := CLIResult{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run baton %v: %v", args, err)
	}
	return res
}

// Eventually calls fn until it returns nil or timeout passes, then fails the
// test with fn's last error.
func Eventually(t testing.TB, timeout time.Duration, fn func() error) {
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

func tail(path string, n int) string {
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
