package netns

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStalePrefix(t *testing.T) {
	for name, want := range map[string]int{"bj123-n1": 123, "bj9-hub": 9, "bjx-n1": 0, "other": 0, "bj12": 0} {
		pid, ok := stalePrefixPID(name)
		require.Equal(t, want != 0, ok, name)
		require.Equal(t, want, pid, name)
	}
}

// TestPartitionDropsPackets builds a two-node network, checks the nodes
// reach each other, blocks the pair, checks they no longer do while the
// control namespace still reaches both, heals, and tears everything down.
func TestPartitionDropsPackets(t *testing.T) {
	if err := Check(); err != nil {
		t.Skipf("SKIPPING the namespace test: %v", err)
	}
	l, err := Setup(fmt.Sprintf("bj%d", os.Getpid()), []string{"a", "b"})
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Teardown()) }()

	// A listener in b's namespace, answered from a's and from the control
	// namespace with a tiny bounded TCP probe through `ip netns exec`.
	srv := exec.Command("ip", "netns", "exec", l.NS["b"], "sh", "-c",
		"exec python3 -c \"import socket,time\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('"+l.IP["b"]+"',7999));s.listen(16)\nend=time.time()+30\nwhile time.time()<end:\n s.settimeout(1)\n try: s.accept()[0].close()\n except Exception: pass\"")
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is needed for the probe listener")
	}
	require.NoError(t, srv.Start())
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()

	reach := func(from string) bool {
		out, err := exec.Command("ip", "netns", "exec", from, "python3", "-c",
			"import socket;socket.create_connection(('"+l.IP["b"]+"',7999),timeout=0.5);print('ok')").CombinedOutput()
		return err == nil && strings.Contains(string(out), "ok")
	}
	require.Eventually(t, func() bool { return reach(l.NS["a"]) }, 10*time.Second, 100*time.Millisecond)
	require.NoError(t, l.Block([][2]string{{"a", "b"}}))
	require.False(t, reach(l.NS["a"]), "a reaches b through a partition")
	require.True(t, reach(l.Ctl), "the control namespace must reach every node")
	require.NoError(t, l.Heal())
	require.True(t, reach(l.NS["a"]))
}
