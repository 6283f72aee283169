package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// bashCompletion completes baton's commands and flags by asking baton
// itself (urfave/cli answers --generate-bash-completion with the words that
// may follow).
const bashCompletion = `# baton completion for bash: eval "$(baton completion bash)"
_baton_complete() {
  local cur="${COMP_WORDS[COMP_CWORD]}"
  local words=("${COMP_WORDS[@]:1:COMP_CWORD-1}")
  local opts
  if [[ "$cur" == -* ]]; then
    opts=$("${COMP_WORDS[0]}" "${words[@]}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${COMP_WORDS[0]}" "${words[@]}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -o default -F _baton_complete baton
`

// zshCompletion reuses the bash function through zsh's bashcompinit.
const zshCompletion = `# baton completion for zsh: eval "$(baton completion zsh)"
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
` + bashCompletion

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: bash or zsh",
		ArgsUsage: "SHELL",
		Description: "Load it in the shell's start-up file, for example:\n" +
			`   eval "$(baton completion bash)"      # ~/.bashrc` + "\n" +
			`   eval "$(baton completion zsh)"       # ~/.zshrc`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("completion: name one shell: bash or zsh")
			}
			var script string
			switch shell := c.Args().First(); shell {
			case "bash":
				script = bashCompletion
			case "zsh":
				script = zshCompletion
			default:
				return usagef("completion: unknown shell %q: want bash or zsh", shell)
			}
			_, err := fmt.Fprint(c.App.Writer, script)
			return err
		},
	}
}

// docsCommand prints the command reference, generated from the commands
// themselves: `make docs` keeps docs/cli.md and docs/baton.1 from it.
func docsCommand() *cli.Command {
	return &cli.Command{
		Name:      "docs",
		Usage:     "print the command reference as Markdown or a man page",
		ArgsUsage: "markdown|man",
		Hidden:    true,
		Action: func(c *cli.Context) error {
			var (
				out string
				err error
			)
			switch c.Args().First() {
			case "markdown":
				out, err = c.App.ToMarkdown()
			case "man":
				out, err = c.App.ToMan()
			default:
				return usagef("docs: want markdown or man")
			}
			if err != nil {
				return fmt.Errorf("docs: %w", err)
			}
			_, err = fmt.Fprint(c.App.Writer, out)
			return err
		},
	}
}
