package main

import (
	"fmt"
	"runtime"

	"github.com/baton-upgrade/baton/internal/build"
	"github.com/baton-upgrade/baton/rpc"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/urfave/cli/v2"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print this build's version and the protocol versions it speaks",
		Description: "A build speaks a range of protocol versions. A cluster speaks one at a time,\n" +
			"and raises it only when every member's build speaks the higher one.",
		ArgsUsage: " ",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print machine-readable JSON"}},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			p, err := build.Protocol()
			if err != nil {
				return err
			}
			// The same record a member reports of its build (member.status).
			v := api.BuildInfo{Version: build.Version, Protocol: rpc.ProtocolRangeOut(p), GoVersion: runtime.Version()}
			if c.Bool("json") {
				return printJSON(c.App.Writer, v)
			}
			fmt.Fprintf(c.App.Writer, "baton %s (protocol %d-%d, %s)\n", v.Version, p.Min, p.Max, v.GoVersion)
			return nil
		},
	}
}
