package main

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// listen serves a TCP port with fn for every connection, until the test
// ends.
func listen(t *testing.T, fn func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go fn(conn)
		}
	}()
	return ln.Addr().String()
}

func TestClientErrorsSayWhatToDo(t *testing.T) {
	// Nobody listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	ln.Close()
	code, _, errOut := runBaton(t, "members", "--addr", closed)
	require.Equal(t, 1, code)
	require.Equal(t, "baton: no agent answers at "+closed+": is one running there, and is it its --http-addr? (connection refused)\n", errOut)

	// A Raft port: it closes a connection that does not speak its protocol.
	raftLike := listen(t, func(c net.Conn) { buf := make([]byte, 1); _, _ = c.Read(buf); c.Close() })
	code, _, errOut = runBaton(t, "members", "--addr", raftLike)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, raftLike+" closed the connection without an HTTP answer: is it a Raft address?")

	// An agent that never answers: the deadline is named.
	silent := listen(t, func(c net.Conn) { buf := make([]byte, 4096); _, _ = c.Read(buf) })
	code, _, errOut = runBaton(t, "members", "--addr", silent, "--timeout", "200ms")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "did not answer within --timeout 200ms")

	// One line each, as CLI.md promises.
	require.Equal(t, 1, countLines(errOut))
}

func countLines(s string) int {
	n := 0
	for _, r := range s {
		if r == '\n' {
			n++
		}
	}
	return n
}

func TestBadFlagValuesAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--max-parallel", "abc"}, {"--max-parallel", "0"}, {"--max-parallel", "150%"},
		{"--on-failure", "maybe"}, {"--step-timeout", "5x"}, {"--progress-deadline", "-1s"},
	} {
		code, _, errOut := runBaton(t, append([]string{"upgrade", "start", "--version", "2.0.0", "--addr", "127.0.0.1:1"}, args...)...)
		require.Equal(t, 2, code, "%v: %s", args, errOut)
		require.Contains(t, errOut, args[0], "the message names the flag")
	}
}
