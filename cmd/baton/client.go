package main

import (
	"context"
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
			Usage: "API address (HOST:PORT) of any agent of the cluster"},
		&cli.StringFlag{Name: "token", EnvVars: []string{"BATON_TOKEN"},
			Usage: "bearer token for writes, when the agents were started with one (or with an ACL file: the token's scope decides what it may do)"},
		tokenFileFlag("BATON_TOKEN_FILE", "read the bearer token from `FILE` rather than --token, keeping it off the command line"),
		&cli.BoolFlag{Name: "json", Usage: "print machine-readable JSON on standard output"},
		&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "give up on the agent after this long (a --watch has no limit unless this is given)"},
	}, extra...)
}

func clientOf(c *cli.Context) *api.Client {
	return api.NewClient(c.String("addr"), c.String("token"))
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
