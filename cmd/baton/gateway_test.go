package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGatewayRefusesBadFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"gateway"}, "gateway needs --listen"},
		{[]string{"gateway", "--listen", "nowhere"}, `--listen "nowhere": want HOST:PORT`},
		{[]string{"gateway", "--listen", "127.0.0.1:0", "--addr", " , "}, "--addr names no agent"},
		{[]string{"gateway", "--listen", "127.0.0.1:0", "--name", "Gate Way"}, `--name "Gate Way": want 1 to 32`},
		{[]string{"gateway", "--listen", "127.0.0.1:0", "--max-body", "0"}, "--max-body 0: want a positive number"},
		{[]string{"gateway", "--listen", "127.0.0.1:0", "--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"gateway", "--listen", "127.0.0.1:0", "extra"}, "takes no arguments"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"baton"}, c.args...), &stdout, &stderr)
		require.Equal(t, 2, code, "%v: %s", c.args, stderr.String())
		require.Contains(t, stderr.String(), c.want, "%v", c.args)
	}
}

func TestDefaultGatewayNameFitsTheRegistry(t *testing.T) {
	name := defaultGatewayName("0.0.0.0:8080")
	require.Regexp(t, `^[a-z0-9._-]{1,32}$`, name)
	require.Regexp(t, `-8080$`, name)
}
