package main

import (
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// The command reference in docs/ is generated from the commands; a change
// to a command or flag must come with `make docs`.
func TestCommandReferenceIsCurrent(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	app.Setup() // as running it does: the help command is added
	md, err := app.ToMarkdown()
	require.NoError(t, err)
	got, err := os.ReadFile("../../docs/cli.md")
	require.NoError(t, err)
	require.Equal(t, md, string(got), "docs/cli.md is stale: run make docs")

	man, err := app.ToMan()
	require.NoError(t, err)
	got, err = os.ReadFile("../../docs/baton.1")
	require.NoError(t, err)
	require.Equal(t, man, string(got), "docs/baton.1 is stale: run make docs")
}

func TestHelpAndCompletion(t *testing.T) {
	code, out, _ := runBaton(t, "help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "upgrade")

	code, out, _ = runBaton(t, "help", "upgrade")
	require.Equal(t, 0, code)
	require.Contains(t, out, "baton upgrade")

	for _, shell := range []string{"bash", "zsh"} {
		code, out, _ = runBaton(t, "completion", shell)
		require.Equal(t, 0, code, shell)
		require.Contains(t, out, "baton", shell)
	}
	code, _, errOut := runBaton(t, "completion", "tcsh")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, `unknown shell "tcsh"`)

	// urfave/cli reads the word being completed from os.Args, as the
	// shell's completion function runs baton.
	args := os.Args
	t.Cleanup(func() { os.Args = args })
	os.Args = []string{"baton", "upgrade", "--generate-bash-completion"}
	code, out, _ = runBaton(t, os.Args[1:]...)
	require.Equal(t, 0, code)
	require.Contains(t, out, "start\n")
	require.Contains(t, out, "status\n")
}
