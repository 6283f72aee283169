package main

import (
	"fmt"
	"strings"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/urfave/cli/v2"
)

func ringCommand() *cli.Command {
	return &cli.Command{
		Name:  "ring",
		Usage: "show the failover ring (S2); `ring set` sets its order",
		Description: "The failover ring orders the members: a gateway forwards a request that its\n" +
			"node fails to the node's successor, and --strategy ring never upgrades two ring\n" +
			"neighbours (the last and the first are neighbours) at once. By default it is the\n" +
			"members in natural id order; once set, members that join later are appended at\n" +
			"its end and members that leave are dropped. See docs/ring.md.",
		ArgsUsage:   " ",
		Flags:       clientFlags(),
		Subcommands: []*cli.Command{ringSetCommand()},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			ctx, cancel := requestContext(c)
			defer cancel()
			ring, _, err := clientOf(c).Ring(ctx, noWait)
			if err != nil {
				return err
			}
			return printRing(c, ring)
		},
	}
}

func ringSetCommand() *cli.Command {
	return &cli.Command{
		Name:  "set",
		Usage: "set the failover ring's order: every member exactly once",
		Description: "ID,ID,... lists every current member exactly once, in ring order (the last\n" +
			"one's successor is the first). Refused while a ring transaction is active.",
		ArgsUsage: "ID,ID,...",
		Flags:     clientFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("ring set takes one argument, the member ids in ring order (ID,ID,...), got %d", c.NArg())
			}
			var order []string
			for _, id := range strings.Split(c.Args().First(), ",") {
				if id = strings.TrimSpace(id); id == "" {
					return usagef("ring set %q: an empty id in the list", c.Args().First())
				}
				order = append(order, id)
			}
			ctx, cancel := requestContext(c)
			defer cancel()
			ring, err := clientOf(c).SetRing(ctx, order)
			if err != nil {
				return err
			}
			return printRing(c, ring)
		},
	}
}

// printRing shows the ring as JSON, or as its order with the wrap-around.
func printRing(c *cli.Context, ring api.Ring) error {
	if c.Bool("json") {
		return printJSON(c.App.Writer, ring)
	}
	how := "default: the members in natural id order"
	if ring.Explicit {
		how = "set by an operator"
	}
	if len(ring.Order) == 0 {
		_, err := fmt.Fprintf(c.App.Writer, "ring: (no members) (%s)\n", how)
		return err
	}
	_, err := fmt.Fprintf(c.App.Writer, "ring: %s -> %s (%s)\n", strings.Join(ring.Order, " -> "), ring.Order[0], how)
	return err
}
