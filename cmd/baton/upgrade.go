package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/coordinator/strategy"
	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/urfave/cli/v2"
)

// upgradeCommand groups the commands that plan, start, follow and steer
// upgrade transactions. They only talk to an agent's API: every decision is
// the leader's, so the server validates versions, strategies and limits.
func upgradeCommand() *cli.Command {
	return &cli.Command{
		Name:  "upgrade",
		Usage: "plan, start, watch and steer rolling upgrade transactions",
		Description: "An upgrade is one Raft-replicated transaction: its steps upgrade the nodes batch\n" +
			"by batch, never taking down more voters than quorum allows, and hand leadership\n" +
			"off before the leader's own step. At most one transaction is active; commands\n" +
			"given no TXN_ID act on it.",
		Subcommands: []*cli.Command{
			upgradePlanCommand(),
			upgradeStartCommand(),
			upgradeStatusCommand(),
			upgradeControlCommand(api.ActionPause, "pause the active transaction (or TXN_ID) after the running steps",
				"Steps already running finish; no new step starts until `baton upgrade resume`."),
			upgradeControlCommand(api.ActionResume, "resume a paused transaction",
				"The transaction goes on with the next pending steps."),
			upgradeControlCommand(api.ActionRetry, "retry the failed steps of a halted transaction, or its failed rollback",
				"A transaction that halted on a failed step (state failed) runs that step again,\n"+
					"as a new attempt, and goes on. One whose rollback failed (state\n"+
					"rollback-failed) retries the rollbacks that failed; with --forward it upgrades\n"+
					"again every node whose step is not done instead."),
			upgradeControlCommand(api.ActionAbort, "abort a transaction, optionally rolling back the steps done",
				"No new step starts, and the nodes of running upgrade steps are asked to stop\n"+
					"them (from protocol 3). With --rollback the steps already done are rolled\n"+
					"back, in reverse order, before the transaction ends aborted; a rollback that\n"+
					"fails leaves it rollback-failed, naming the nodes. Aborting a rollback-failed\n"+
					"transaction ends it, leaving the nodes as they are."),
			upgradeListCommand(),
			upgradeLogsCommand(),
		},
	}
}

// policyFlags are the flags that shape a transaction, shared by plan and
// start. Their defaults are the server's: an unset flag sends nothing.
func policyFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "version", Usage: "target `VERSION` to install, such as 2.0.0 (required)"},
		&cli.StringFlag{Name: "strategy", Usage: strategyUsage()},
		&cli.StringFlag{Name: "max-parallel", Usage: "`N|P%` nodes upgraded at once, a count or a share of all nodes (default: 1)"},
		&cli.StringFlag{Name: "on-failure", Usage: "`halt|rollback` on a failed step: halt waits for an operator's retry or abort, rollback undoes the steps done (default: halt)"},
		&cli.Uint64Flag{Name: "max-lag", Usage: "the most a replica's lag hook may print for it to take over as the service's primary (`N`, default: 0)"},
		&cli.StringFlag{Name: "group-by", Usage: "with --strategy grouped: group by the /N network of each member's address or by a label (`subnet:N|label:KEY`, default: subnet:24)"},
		&cli.IntFlag{Name: "max-groups", Usage: "with --strategy grouped: `N` groups upgrade at once, max-parallel members of each (default: 1)"},
	}
}

// strategyUsage is --strategy's help, naming the strategies this build
// registers. The agent judges the name: one of a newer build may know more.
func strategyUsage() string {
	return fmt.Sprintf("order of the nodes: `NAME` is one of %s (default: %s)",
		strings.Join(strategy.Names(), ", "), strategy.Default)
}

// strategiesHelp lists the registered strategies with their summaries, for
// the descriptions of plan and start.
func strategiesHelp() string {
	width := 0
	for _, s := range strategy.All() {
		width = max(width, len(s.Name()))
	}
	var b strings.Builder
	b.WriteString("\n\nStrategies (--strategy):")
	for _, s := range strategy.All() {
		fmt.Fprintf(&b, "\n  %-*s  %s", width, s.Name(), s.Summary())
	}
	return b.String()
}

// startFlags are start's flags beyond the policy.
func startFlags() []cli.Flag {
	return append(policyFlags(),
		&cli.StringFlag{Name: "artifact", Usage: "`URL|sha256:HEX` of the artifact each node downloads and verifies: a URL (needs --sha256), or an artifact held by the cluster (baton artifact push)"},
		&cli.StringFlag{Name: "sha256", Usage: "expected SHA-256 `HEX` digest of --artifact"},
		&cli.StringFlag{Name: "step-timeout", Usage: "fail a node's step after `DURATION` (default: 10m)"},
		&cli.StringFlag{Name: "progress-deadline", Usage: "halt when no step completes for `DURATION` (default: 30m)"},
		&cli.BoolFlag{Name: "allow-leader-upgrade", Usage: "let a one-voter cluster upgrade its leader in place"},
		&cli.BoolFlag{Name: "watch", Usage: "then follow the transaction as upgrade status --watch does"},
	)
}

// policyRequest maps plan's flags to a request, refusing the mistakes that
// need no server to find; the server validates the rest.
func policyRequest(c *cli.Context) (api.StartRequest, error) {
	if err := upgradeNoArgs(c); err != nil {
		return api.StartRequest{}, err
	}
	req := api.StartRequest{
		TargetVersion: c.String("version"),
		Strategy:      c.String("strategy"),
		MaxParallel:   c.String("max-parallel"),
		OnFailure:     c.String("on-failure"),
		MaxLag:        c.Uint64("max-lag"),
		GroupBy:       c.String("group-by"),
		MaxGroups:     c.Int("max-groups"),
	}
	if c.IsSet("max-groups") && req.MaxGroups < 1 {
		return req, usagef("%s: --max-groups %d: want at least 1", upgradeName(c), req.MaxGroups)
	}
	if req.TargetVersion == "" {
		return req, usagef("%s: --version is required", upgradeName(c))
	}
	if err := checkMaxParallel(req.MaxParallel); err != nil {
		return req, usagef("%s: %v", upgradeName(c), err)
	}
	if f := req.OnFailure; f != "" && f != "halt" && f != "rollback" {
		return req, usagef("%s: --on-failure %q: want halt or rollback", upgradeName(c), f)
	}
	return req, nil
}

// checkMaxParallel refuses a --max-parallel that is neither a count of at
// least 1 nor a share from 1% to 100%; whether a count fits the cluster is
// the server's to judge.
func checkMaxParallel(v string) error {
	if v == "" {
		return nil
	}
	if p, ok := strings.CutSuffix(v, "%"); ok {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 100 {
			return fmt.Errorf("--max-parallel %q: a share is 1%% to 100%%", v)
		}
		return nil
	}
	if n, err := strconv.Atoi(v); err != nil || n < 1 {
		return fmt.Errorf("--max-parallel %q: want a count of at least 1, or a share such as 25%%", v)
	}
	return nil
}

// checkDuration refuses a duration flag that does not parse or is not
// positive.
func checkDuration(flag, v string) error {
	if v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("--%s %q: want a positive duration such as 90s or 10m", flag, v)
	}
	return nil
}

// startRequest maps start's flags to a request, as policyRequest does.
func startRequest(c *cli.Context) (api.StartRequest, error) {
	req, err := policyRequest(c)
	if err != nil {
		return req, err
	}
	req.ArtifactURL = c.String("artifact")
	req.ArtifactSHA256 = c.String("sha256")
	req.StepTimeout = c.String("step-timeout")
	req.ProgressDeadline = c.String("progress-deadline")
	req.AllowLeaderUpgrade = c.Bool("allow-leader-upgrade")
	for _, f := range [][2]string{{"step-timeout", req.StepTimeout}, {"progress-deadline", req.ProgressDeadline}} {
		if err := checkDuration(f[0], f[1]); err != nil {
			return req, usagef("%s: %v", upgradeName(c), err)
		}
	}
	if strings.HasPrefix(req.ArtifactURL, api.ArtifactRefPrefix) {
		req.Artifact, req.ArtifactURL = req.ArtifactURL, ""
		if _, err := api.ParseArtifactRef(req.Artifact); err != nil {
			return req, usagef("%s: %v", upgradeName(c), err)
		}
		if req.ArtifactSHA256 != "" {
			return req, usagef("%s: --artifact %s is its own digest: give no --sha256 with it", upgradeName(c), req.Artifact)
		}
		return req, nil
	}
	if req.ArtifactURL != "" && req.ArtifactSHA256 == "" {
		return req, usagef("%s: --artifact needs --sha256, the digest each node checks it against", upgradeName(c))
	}
	if req.ArtifactSHA256 != "" && req.ArtifactURL == "" {
		return req, usagef("%s: --sha256 needs --artifact, the URL it is the digest of", upgradeName(c))
	}
	return req, nil
}

// upgradeName names the command being run in messages, such as "upgrade
// start".
func upgradeName(c *cli.Context) string { return "upgrade " + c.Command.Name }

// upgradeNoArgs refuses positional arguments, naming the command in full.
func upgradeNoArgs(c *cli.Context) error {
	if c.Args().Present() {
		return usagef("%s takes no arguments, got %q", upgradeName(c), c.Args().First())
	}
	return nil
}

// txnArg returns the optional TXN_ID, or fallback when none is given.
// urfave/cli stops reading flags at the first argument, so flags written
// after TXN_ID (as CLI.md shows them: `upgrade status t-1 --watch`) are
// applied here.
func txnArg(c *cli.Context, fallback string) (string, error) {
	args := c.Args().Slice()
	if len(args) == 0 {
		return fallback, nil
	}
	if err := applyTrailingFlags(c, args[1:]); err != nil {
		return "", err
	}
	return args[0], nil
}

// applyTrailingFlags sets the command's flags found in rest; anything else
// is a usage error.
func applyTrailingFlags(c *cli.Context, rest []string) error {
	for i := 0; i < len(rest); i++ {
		arg := rest[i]
		if !strings.HasPrefix(arg, "-") {
			return usagef("%s takes at most one TXN_ID, got %q after it", upgradeName(c), arg)
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		flag := findFlag(c.Command.Flags, name)
		if flag == nil {
			return usagef("%s: flag provided but not defined: %s", upgradeName(c), arg)
		}
		if _, isBool := flag.(*cli.BoolFlag); isBool {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if i+1 >= len(rest) {
				return usagef("%s: flag %s needs a value", upgradeName(c), arg)
			}
			i++
			value = rest[i]
		}
		if err := c.Set(name, value); err != nil {
			return usagef("%s: %s: %v", upgradeName(c), arg, err)
		}
		if err := runFlagAction(c, flag); err != nil {
			return err
		}
	}
	return nil
}

func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func upgradePlanCommand() *cli.Command {
	return &cli.Command{
		Name:  "plan",
		Usage: "show what an upgrade to --version would do, without starting it",
		Description: "Asks the leader to compute the transaction's batches from the members, the\n" +
			"strategy and --max-parallel, capped by the quorum budget (how many voters may\n" +
			"be down at once). The batch holding the leader hands leadership off first.\n" +
			"Nothing changes on the cluster." + strategiesHelp(),
		ArgsUsage: " ",
		Flags:     clientFlags(policyFlags()...),
		Action: func(c *cli.Context) error {
			req, err := policyRequest(c)
			if err != nil {
				return err
			}
			ctx, cancel := requestContext(c)
			defer cancel()
			plan, err := clientOf(c).PlanUpgrade(ctx, req)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, plan)
			}
			return writePlan(c.App.Writer, plan)
		},
	}
}

func upgradeStartCommand() *cli.Command {
	return &cli.Command{
		Name:  "start",
		Usage: "start an upgrade transaction to --version and print its id",
		Description: "Commits a new transaction; the leader then upgrades the nodes batch by batch,\n" +
			"running each node's install, restart and health hooks. Only one transaction\n" +
			"may be active (409 otherwise). Prints the transaction id, or the transaction\n" +
			"with --json; --watch then follows it like `upgrade status --watch`, with no\n" +
			"time limit unless --timeout is given, and exits 0 when it is done, 1 when it\n" +
			"ends otherwise." + strategiesHelp(),
		ArgsUsage: " ",
		Flags:     clientFlags(startFlags()...),
		Action: func(c *cli.Context) error {
			req, err := startRequest(c)
			if err != nil {
				return err
			}
			ctx, cancel := requestContext(c)
			defer cancel()
			txn, err := clientOf(c).StartUpgrade(ctx, req)
			if err != nil {
				return err
			}
			if c.Bool("json") && !c.Bool("watch") {
				return printJSON(c.App.Writer, txn)
			}
			if !c.Bool("json") {
				if _, err := fmt.Fprintln(c.App.Writer, txn.ID); err != nil {
					return err
				}
			}
			if !c.Bool("watch") {
				return nil
			}
			// With --json the started transaction opens the stream of
			// compact objects, one a line, that the watch goes on with.
			w := newWatcher(c, txn.ID)
			if err := w.show(txn); err != nil {
				return err
			}
			return w.run(c)
		},
	}
}

func upgradeLogsCommand() *cli.Command {
	return &cli.Command{
		Name:  "logs",
		Usage: "show the output of every hook a transaction ran (the latest one without TXN_ID)",
		Description: "The agent asks each node that ran a step of the transaction for the output its\n" +
			"hooks left (standard output and error together, the last 64 KiB of each run),\n" +
			"and prints it node by node, attempt by attempt, each run under a header line.\n" +
			"A node that cannot be asked (unreachable, or of a build that keeps no hook\n" +
			"output) is named with the reason; the others are shown all the same.",
		ArgsUsage: "[TXN_ID]",
		Flags: clientFlags(
			&cli.StringFlag{Name: "node", Usage: "only the hooks of node `ID`"},
			&cli.StringFlag{Name: "hook", Usage: "only the runs of hook `NAME` (drain, install, restart, health, version, rollback)"},
		),
		Action: func(c *cli.Context) error {
			id, err := txnArg(c, "latest")
			if err != nil {
				return err
			}
			ctx, cancel := requestContext(c)
			defer cancel()
			logs, err := clientOf(c).UpgradeLogs(ctx, id, c.String("node"), c.String("hook"))
			if err != nil {
				return err
			}
			if c.Bool("json") {
				if logs == nil {
					logs = []api.StepLogs{}
				}
				return printJSON(c.App.Writer, logs)
			}
			return writeLogs(c.App.Writer, logs)
		},
	}
}

func upgradeStatusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show a transaction and its steps (the latest one without TXN_ID)",
		Description: "Without TXN_ID shows the active transaction, else the newest one, with the\n" +
			"hook each running step's node runs and the earlier attempts of each step.\n" +
			"--watch follows it, long-polling the agent, until it is done (exit 0), aborted,\n" +
			"failed or rollback-failed (exit 1; the last two wait for an operator's retry or\n" +
			"abort). It prints a line at every change (a step's state, the hook it runs,\n" +
			"what the transaction waits for) and, on a terminal, a progress bar with the\n" +
			"time it has run. It rides out agent restarts and elections, and runs until\n" +
			"then unless --timeout is given. With --json, --watch prints one transaction\n" +
			"per line at every change.",
		ArgsUsage: "[TXN_ID]",
		Flags:     clientFlags(&cli.BoolFlag{Name: "watch", Usage: "follow the transaction until it ends"}),
		Action: func(c *cli.Context) error {
			id, err := txnArg(c, "latest")
			if err != nil {
				return err
			}
			if c.Bool("watch") {
				return newWatcher(c, id).run(c)
			}
			ctx, cancel := requestContext(c)
			defer cancel()
			if c.Bool("json") {
				txn, _, err := clientOf(c).Upgrade(ctx, id, noWait)
				if err != nil {
					return err
				}
				return printJSON(c.App.Writer, txn)
			}
			// For a person, the running steps name their hooks.
			txn, _, err := clientOf(c).UpgradeLive(ctx, id, noWait)
			if err != nil {
				return err
			}
			return writeTxn(c.App.Writer, txn)
		},
	}
}

// upgradeControlCommand builds pause, resume, retry and abort, which differ
// only in their action and abort's --rollback.
func upgradeControlCommand(action, usage, description string) *cli.Command {
	var flags []cli.Flag
	switch action {
	case api.ActionAbort:
		flags = append(flags, &cli.BoolFlag{Name: "rollback", Usage: "roll back the steps already done before ending"})
	case api.ActionRetry:
		flags = append(flags, &cli.BoolFlag{Name: "forward", Usage: "of a rollback-failed transaction: upgrade its nodes again instead of retrying the rollback"})
	}
	return &cli.Command{
		Name:        action,
		Usage:       usage,
		Description: description + "\nWithout TXN_ID acts on the active transaction.",
		ArgsUsage:   "[TXN_ID]",
		Flags:       clientFlags(flags...),
		Action: func(c *cli.Context) error {
			id, err := txnArg(c, "active")
			if err != nil {
				return err
			}
			ctx, cancel := requestContext(c)
			defer cancel()
			txn, err := clientOf(c).ControlUpgrade(ctx, id, action, api.ControlRequest{Rollback: c.Bool("rollback"), Forward: c.Bool("forward")})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, txn)
			}
			_, err = fmt.Fprintf(c.App.Writer, "transaction %s is now %s\n", txn.ID, txn.State)
			return err
		},
	}
}

func upgradeListCommand() *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "list the transactions kept, oldest first",
		ArgsUsage: " ",
		Flags:     clientFlags(),
		Action: func(c *cli.Context) error {
			if err := upgradeNoArgs(c); err != nil {
				return err
			}
			ctx, cancel := requestContext(c)
			defer cancel()
			txns, err := clientOf(c).Upgrades(ctx)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				if txns == nil {
					txns = []api.Txn{}
				}
				return printJSON(c.App.Writer, txns)
			}
			return writeTxnList(c.App.Writer, txns)
		},
	}
}
