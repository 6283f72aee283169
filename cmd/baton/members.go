package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"

	"github.com/urfave/cli/v2"
)

func membersCommand() *cli.Command {
	return &cli.Command{
		Name:      "members",
		Usage:     "list the cluster's members, their versions, the leader and the service's roles",
		ArgsUsage: " ",
		Flags:     clientFlags(),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			ctx, cancel := requestContext(c)
			defer cancel()
			members, _, err := clientOf(c).Members(ctx, noWait)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, members)
			}
			proto, _, err := clientOf(c).Protocol(ctx, noWait)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tRAFT ADDR\tHTTP ADDR\tVERSION\tPROTOCOL\tVOTER\tLEADER\tROLE\tSTATUS")
			now := time.Now()
			for _, m := range members {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d-%d\t%s\t%s\t%s\t%s\n", m.ID, m.RaftAddr, m.HTTPAddr, m.Version,
					m.Protocol.Min, m.Protocol.Max, yesNo(m.Voter), yesNo(m.Leader), memberRole(m), memberStatus(m, now))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "active protocol: %d\n", proto.Active)
			return nil
		},
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func leaderCommand() *cli.Command {
	return &cli.Command{
		Name:      "leader",
		Usage:     "show the Raft leader, or move leadership with `leader transfer`",
		ArgsUsage: " ",
		Flags:     clientFlags(),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			ctx, cancel := requestContext(c)
			defer cancel()
			l, err := clientOf(c).Leader(ctx)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, l)
			}
			fmt.Fprintf(c.App.Writer, "%s (raft %s, api %s)\n", l.ID, l.RaftAddr, l.HTTPAddr)
			return nil
		},
		Subcommands: []*cli.Command{{
			Name:  "transfer",
			Usage: "hand leadership to another voter (--to ID), or to any voter",
			Description: "The leader catches the target up and asks it to start an election at once.\n" +
				"Without --to, Raft picks the most up-to-date voter.",
			ArgsUsage: " ",
			Flags:     clientFlags(&cli.StringFlag{Name: "to", Usage: "member `ID` to receive leadership"}),
			Action: func(c *cli.Context) error {
				if err := noArgs(c); err != nil {
					return err
				}
				ctx, cancel := requestContext(c)
				defer cancel()
				leader, err := clientOf(c).TransferLeadership(ctx, c.String("to"))
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(c.App.Writer, map[string]string{"leader": leader})
				}
				fmt.Fprintf(c.App.Writer, "leadership moved to %s\n", leader)
				return nil
			},
		}},
	}
}

// memberStatus describes a member's liveness for the STATUS column:
// "alive", "unreachable since 14:03:07Z (2m10s ago)", or "unknown".
func memberStatus(m api.Member, now time.Time) string {
	switch m.Status {
	case api.MemberAlive:
		return api.MemberAlive
	case api.MemberUnreachable:
		return fmt.Sprintf("unreachable since %s (%s ago)", m.StatusSince.UTC().Format("15:04:05Z"),
			now.Sub(m.StatusSince).Round(time.Second))
	}
	return api.MemberUnknown
}
