package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// oneArg returns the single positional argument named what (such as "ID")
// that command c requires. urfave/cli stops reading flags at the first
// argument, so flags written after it (`members remove n3 --force`) are
// applied here; a missing or extra argument, or an unknown flag, is a usage
// error.
func oneArg(c *cli.Context, what string) (string, error) {
	name := c.Command.FullName()
	args := c.Args().Slice()
	if len(args) == 0 {
		return "", usagef("%s needs %s", name, what)
	}
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		arg := rest[i]
		if !strings.HasPrefix(arg, "-") {
			return "", usagef("%s takes one %s, got %q after it", name, what, arg)
		}
		flagName, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		flag := findFlag(c.Command.Flags, flagName)
		if flag == nil {
			return "", usagef("%s: flag provided but not defined: %s", name, arg)
		}
		if _, isBool := flag.(*cli.BoolFlag); isBool {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if i+1 >= len(rest) {
				return "", usagef("%s: flag %s needs a value", name, arg)
			}
			i++
			value = rest[i]
		}
		if err := c.Set(flagName, value); err != nil {
			return "", usagef("%s: %s: %v", name, arg, err)
		}
		if err := runFlagAction(c, flag); err != nil {
			return "", err
		}
	}
	return args[0], nil
}
