package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"

	"github.com/urfave/cli/v2"
)

func membersCommand() *cli.Command {
	return &cli.Command{
		Name:        "members",
		Usage:       "list the cluster's members, their versions, the leader and the service's roles; `members remove` removes one",
		ArgsUsage:   " ",
		Flags:       clientFlags(),
		Subcommands: []*cli.Command{membersRemoveCommand()},
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
			leader := false
			for _, m := range members {
				leader = leader || m.Leader
			}
			if len(members) == 0 {
				return errors.New("the agent holds no catalogue yet: it has not caught up with a cluster (or has only just started); " +
					"`baton operator raft` on it says what it can reach")
			}
			if !leader {
				fmt.Fprintln(c.App.ErrWriter, "baton: warning: the agent knows no leader: this list may be out of date (see `baton operator raft`)")
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, members)
			}
			proto, _, err := clientOf(c).Protocol(ctx, noWait)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tRAFT ADDR\tHTTP ADDR\tSERVICE ADDR\tVERSION\tPROTOCOL\tVOTER\tLEADER\tROLE\tSTATUS")
			now := time.Now()
			for _, m := range members {
				voter := yesNo(m.Voter)
				if m.Client {
					voter = "client" // no Raft state, no API (docs/clients.md)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d-%d\t%s\t%s\t%s\t%s\n", m.ID, orDash(m.RaftAddr), orDash(m.HTTPAddr), orDash(m.ServiceAddr), memberVersion(m),
					m.Protocol.Min, m.Protocol.Max, voter, yesNo(m.Leader), memberRole(m), memberStatus(m, now))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "active protocol: %d\n", proto.Active)
			return nil
		},
	}
}

func membersRemoveCommand() *cli.Command {
	return &cli.Command{
		Name:  "remove",
		Usage: "remove a member from the cluster; --force for a dead member or one with a step",
		Description: "Removes the member from the Raft configuration and the catalogue. Without --force\n" +
			"the member must be reachable and have no pending or running step. With --force a\n" +
			"dead member is removed too, and its unfinished step in the active transaction\n" +
			"fails with \"member ID was removed\" (the transaction follows its --on-failure\n" +
			"policy). The leader hands leadership off before it is removed. The last voter,\n" +
			"or a voter whose removal would leave too few reachable voters for a quorum, is\n" +
			"never removed. The removed agent stops; to bring the node back, start it with\n" +
			"an empty --data-dir and --join, under the same id or another.",
		ArgsUsage: "ID",
		Flags:     clientFlags(&cli.BoolFlag{Name: "force", Usage: "remove an unreachable member too, failing its unfinished step"}),
		Action: func(c *cli.Context) error {
			id, err := oneArg(c, "a member ID")
			if err != nil {
				return err
			}
			ctx, cancel := requestContext(c)
			defer cancel()
			out, err := clientOf(c).RemoveMember(ctx, id, c.Bool("force"))
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, out)
			}
			fmt.Fprintf(c.App.Writer, "removed %s\n", out.Removed)
			if out.FailedStepIn != "" {
				fmt.Fprintf(c.App.Writer, "its unfinished step in transaction %s failed: member %s was removed\n", out.FailedStepIn, out.Removed)
			}
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

// memberVersion describes a member's version for the VERSION column: the
// version, "unknown" when none is known, followed by why the member could
// not read it when its version hook fails ("unknown (version hook failed:
// exited 4: …)").
func memberVersion(m api.Member) string {
	v := m.Version
	if v == "" {
		v = "unknown"
	}
	if m.VersionError != "" {
		v += " (" + strings.Join(strings.Fields(m.VersionError), " ") + ")"
	}
	return v
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
