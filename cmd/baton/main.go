// Command baton is Baton's agent and command-line client: `baton agent` runs
// the daemon of one node; the other commands talk to any agent's API.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/baton-upgrade/baton/internal/build"
	"github.com/urfave/cli/v2"
)

// usageError marks a mistake in how baton was called: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run executes baton with args and returns its exit status: 0 success, 1 a
// failure, 2 a usage error. Errors are printed as one line on stderr.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, args)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "baton: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:    "baton",
		Usage:   "upgrade a live cluster node by node, as a Raft-replicated transaction",
		Version: build.Version,
		Description: "Run `baton agent` on every node; it forms a Raft cluster with the others.\n" +
			"The other commands talk to any agent's API (--addr, or BATON_ADDR); writes\n" +
			"reach the leader wherever they land. Exit status: 0 success, 1 failure,\n" +
			"2 usage error.",
		Writer:               stdout,
		ErrWriter:            stderr,
		Suggest:              true,
		EnableBashCompletion: true,
		ExitErrHandler:       func(*cli.Context, error) {},
		Commands: []*cli.Command{
			agentCommand(),
			versionCommand(),
			membersCommand(),
			leaderCommand(),
			operatorCommand(),
			upgradeCommand(),
			ringCommand(),
			gatewayCommand(),
			artifactCommand(),
			completionCommand(),
			docsCommand(),
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("unknown command %q (see baton --help)", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
	}
	onUsage := func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	app.OnUsageError = onUsage
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, cmd := range cmds {
			cmd.OnUsageError = onUsage
			if cmd.Action != nil && hasFlag(cmd, "addr") {
				cmd.Action = withHints(cmd.Action)
			}
			if len(cmd.Subcommands) > 0 && cmd.Action == nil {
				cmd.Action = groupAction
			}
			walk(cmd.Subcommands)
		}
	}
	walk(app.Commands)
	return app
}

// hasFlag reports whether cmd takes the flag name.
func hasFlag(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// groupAction answers a command group called without a known subcommand.
func groupAction(c *cli.Context) error {
	if c.Args().Present() {
		return usagef("unknown command %q for %q (see baton %s --help)", c.Args().First(), c.Command.Name, c.Command.Name)
	}
	return cli.ShowSubcommandHelp(c)
}
