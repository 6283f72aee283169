package gateway

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/stretchr/testify/require"
)

// TestHAProxyDrainedByTheRing runs Debian's haproxy in front of three
// nodes whose drain and health hooks call examples/haproxy/haproxy-hook.sh:
// through a ring upgrade under load, no request fails, and no request
// reaches a node between the end of its drain hook and its health check.
func TestHAProxyDrainedByTheRing(t *testing.T) {
	if testing.Short() {
		t.Skip("an upgrade under load behind HAProxy; -short skips it")
	}
	haproxy := procs.LookTool(t, "haproxy", "haproxy")
	sc := newSvcCluster(t, 3)
	front, err := procs.FreeAddr()
	require.NoError(t, err)
	runtime, err := procs.FreeAddr()
	require.NoError(t, err)

	var servers strings.Builder
	for _, id := range []string{"n1", "n2", "n3"} {
		fmt.Fprintf(&servers, "    server %s %s check inter 200ms\n", id, sc.svc.Nodes[id].Addr)
	}
	cfg := fmt.Sprintf(`global
    stats socket ipv4@%s level admin
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch 1
frontend clients
    bind %s
    default_backend service
backend service
    balance leastconn
%s`, runtime, front, servers.String())
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o644))
	hp := exec.Command(haproxy, "-db", "-f", cfgPath)
	logPath := filepath.Join(dir, "haproxy.log")
	logf, err := os.Create(logPath)
	require.NoError(t, err)
	hp.Stdout, hp.Stderr = logf, logf
	hp.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, hp.Start())
	exited := make(chan struct{})
	go func() { _ = hp.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = hp.Process.Signal(syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("---- haproxy log:\n%s", procs.Tail(logPath, 40))
		}
	})
	procs.Eventually(t, 20*time.Second, func() error { return sc.svc.Check(front) })

	hook, err := filepath.Abs("../../../examples/haproxy/haproxy-hook.sh")
	require.NoError(t, err)
	for id, n := range sc.svc.Nodes {
		env := fmt.Sprintf("HAPROXY_RUNTIME=%s HAPROXY_BACKEND=service HAPROXY_DRAIN_TIMEOUT=20 SERVICE_CHECK='%s check --addr %s >/dev/null'",
			runtime, demosvcBin, n.Addr)
		for name, verb := range map[string]string{"drain-extra": "drain", "health-extra": "health"} {
			sc.svc.SetFile(id, name, fmt.Sprintf("#!/bin/sh\nexec env %s %s %s\n", env, hook, verb))
		}
	}

	reqs := upgradeUnderLoad(t, sc, "http://"+front+"/", "2.0.0", nil)
	require.Greater(t, answered(reqs), 100)
	require.Empty(t, failures(reqs), "of %d requests through HAProxy", answered(reqs))
	requireOutOfRotationFrom(t, sc, reqs, "drained", "n1", "n2", "n3")
	requireNoBodyTwice(t, sc)
}
