package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/urfave/cli/v2"
)

func operatorCommand() *cli.Command {
	return &cli.Command{
		Name:  "operator",
		Usage: "look into the cluster's machinery: `operator raft`",
		Subcommands: []*cli.Command{{
			Name:  "raft",
			Usage: "show the Raft configuration, each server's state, last contact, log index and lag",
			Description: "The leader (reached through the agent at --addr) reads its committed Raft\n" +
				"configuration and asks every server's API for its state, its last contact with\n" +
				"the leader and its log indexes (a second at most each); LAG is the leader's\n" +
				"last log index minus the server's. STATUS is the leader's liveness record of\n" +
				"the member. When no leader answers, the agent at --addr reports what it sees,\n" +
				"what it can reach and how many voters a quorum needs, and the command exits 1.\n" +
				"--stale reports what the agent at --addr sees, without asking the leader.",
			ArgsUsage: " ",
			Flags:     clientFlags(&cli.BoolFlag{Name: "stale", Usage: "report what the agent asked sees, without asking the leader"}),
			Action:    operatorRaft,
		}},
	}
}

func operatorRaft(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	ctx, cancel := requestContext(c)
	defer cancel()
	client := clientOf(c)
	// The agent's own view first: it answers at once, with a diagnosis,
	// when there is no leader (a consistent read would wait for one).
	rep, err := client.RaftReport(ctx, false)
	if errors.Is(err, api.ErrNotFound) {
		return fmt.Errorf("%w (this agent's build does not serve the Raft report (protocol 3); ask an upgraded agent with --addr)", err)
	}
	if err != nil {
		return err
	}
	if rep.Leader != "" && rep.Leader != rep.Observer && !c.Bool("stale") {
		// The leader's committed view, when it answers.
		if lrep, err := client.RaftReport(ctx, true); err == nil {
			rep = lrep
		} else {
			fmt.Fprintf(c.App.ErrWriter, "baton: warning: the leader %s did not answer (%v); this is what %s sees\n", rep.Leader, err, rep.Observer)
		}
	}
	if c.Bool("json") {
		if err := printJSON(c.App.Writer, rep); err != nil {
			return err
		}
	} else if err := printRaftReport(c, rep); err != nil {
		return err
	}
	if rep.Leader == "" {
		if rep.Diagnosis == "" {
			return fmt.Errorf("no leader known to %s", rep.Observer)
		}
		return errors.New(rep.Diagnosis)
	}
	return nil
}

func printRaftReport(c *cli.Context, rep api.RaftReport) error {
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tSUFFRAGE\tSTATE\tSTATUS\tLAST CONTACT\tLAST INDEX\tLAG")
	for _, s := range rep.Servers {
		state, contact, last, lag := "no answer", "-", "-", "-"
		if s.Reachable {
			state, contact, last = strings.ToLower(s.RaftState), s.LastContact, strconv.FormatUint(s.LastIndex, 10)
		}
		if s.Lag != nil {
			lag = strconv.FormatUint(*s.Lag, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Address, s.Suffrage, state, s.Status, orDash(contact), last, lag)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rep.Leader == "" {
		fmt.Fprintln(c.App.Writer, rep.Diagnosis)
		return nil
	}
	fmt.Fprintf(c.App.Writer, "leader %s (term %d), as seen by %s; %d voters, a quorum needs %d; lag = the leader's last index (%d) minus the server's\n",
		rep.Leader, rep.Term, rep.Observer, rep.Voters, rep.Quorum, rep.LeaderLastIndex)
	return nil
}
