package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/urfave/cli/v2"
)

// clientFlags are taken by every client command.
func clientFlags(extra ...cli.Flag) []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "addr", Value: defaultAddr, EnvVars: []string{"BATON_ADDR"},
			Usage: "API address (HOST:PORT, http://HOST:PORT or https://HOST:PORT) of any agent of the cluster; with --ca-cert a bare HOST:PORT means HTTPS"},
		&cli.StringFlag{Name: "ca-cert", EnvVars: []string{"BATON_CACERT"},
			Usage: "`FILE` (PEM) of the CA that signed the agents' certificates: speak HTTPS and trust it (docs/tls.md)"},
		&cli.StringFlag{Name: "client-cert", EnvVars: []string{"BATON_CLIENT_CERT"},
			Usage: "`FILE` (PEM) of a certificate to present to the agent, with --client-key and --ca-cert"},
		&cli.StringFlag{Name: "client-key", EnvVars: []string{"BATON_CLIENT_KEY"},
			Usage: "`FILE` (PEM) of the private key of --client-cert"},
		&cli.StringFlag{Name: "token", EnvVars: []string{"BATON_TOKEN"},
			Usage: "bearer token for writes, when the agents were started with one (or with an ACL file: the token's scope decides what it may do)"},
		tokenFileFlag("BATON_TOKEN_FILE", "read the bearer token from `FILE` rather than --token, keeping it off the command line"),
		&cli.BoolFlag{Name: "json", Usage: "print machine-readable JSON on standard output"},
		&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "give up on the agent after this long (a --watch has no limit unless this is given)"},
	}, extra...)
}

func clientOf(c *cli.Context) *api.Client {
	conf, _ := c.Context.Value(clientTLSKey{}).(*tls.Config)
	return api.NewClientTLS(c.String("addr"), c.String("token"), conf)
}

// clientTLSKey keys the client's TLS configuration in a command's context;
// withTLS puts it there.
type clientTLSKey struct{}

// withTLS loads the client's TLS files (--ca-cert, --client-cert,
// --client-key) into c's context for clientOf. Without --ca-cert the
// client speaks plain HTTP to a bare HOST:PORT, and an https:// address is
// checked against the system's CAs.
func withTLS(c *cli.Context) error {
	ca, cert, key := c.String("ca-cert"), c.String("client-cert"), c.String("client-key")
	if ca == "" && cert == "" && key == "" {
		return nil
	}
	if ca == "" {
		return usagef("--client-cert and --client-key need --ca-cert (or BATON_CACERT): the CA that signed the agents' certificates")
	}
	if (cert == "") != (key == "") {
		return usagef("--client-cert and --client-key go together")
	}
	conf, err := api.ClientTLS(ca, cert, key)
	if err != nil {
		return fmt.Errorf("--ca-cert %s: %w", ca, err)
	}
	c.Context = context.WithValue(c.Context, clientTLSKey{}, conf)
	return nil
}

// requestContext bounds one client command by --timeout.
func requestContext(c *cli.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Context, c.Duration("timeout"))
}

// noArgs refuses positional arguments a command does not take.
func noArgs(c *cli.Context) error {
	if c.Args().Present() {
		return usagef("%s takes no arguments, got %q", c.Command.FullName(), c.Args().First())
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
