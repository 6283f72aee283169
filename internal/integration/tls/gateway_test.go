package tls

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/baton-upgrade/baton/jepsen/procs"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/stretchr/testify/require"
)

// A gateway follows a cluster over TLS: with --ca-cert it speaks HTTPS to
// a bare HOST:PORT, registers, and reports what it has seen; without it,
// it never reaches the cluster.
func TestAGatewayFollowsATLSCluster(t *testing.T) {
	c, _ := tlsCluster(t, 3)
	leader := c.Leader()

	plain := procs.NewGatewayAt(batonBin, freeAddr(t), filepath.Join(c.Root, "gateway-plain.log"),
		[]string{leader.HTTPAddr}, "--name", "plain", "--token", c.Token)
	require.NoError(t, plain.Launch())
	t.Cleanup(plain.Kill)

	gw := procs.NewGatewayAt(batonBin, freeAddr(t), filepath.Join(c.Root, "gateway.log"),
		[]string{leader.HTTPAddr}, "--name", "gw-tls", "--token", c.Token, "--ca-cert", c.CA.CertFile)
	require.NoError(t, gw.Launch())
	t.Cleanup(gw.Kill)

	procs.Eventually(t, 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		gws, _, err := leader.Client().Gateways(ctx, api.Wait{})
		if err != nil {
			return err
		}
		for _, g := range gws {
			if g.Name == "gw-tls" && g.SeenIndex > 0 {
				return nil
			}
		}
		return fmt.Errorf("gw-tls has not reported yet: %+v", gws)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	gws, _, err := leader.Client().Gateways(ctx, api.Wait{})
	require.NoError(t, err)
	for _, g := range gws {
		require.NotEqual(t, "plain", g.Name, "a gateway without the CA reached the cluster")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := procs.FreeAddr()
	require.NoError(t, err)
	return addr
}
