package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// tokenFileFlag is --token-file: the bearer token read from a file, so the
// secret stays off the command line (and out of ps). Its action reads the
// file and sets --token, so everything after reads one flag.
func tokenFileFlag(envVar, usage string) *cli.StringFlag {
	return &cli.StringFlag{Name: "token-file", EnvVars: []string{envVar}, Usage: usage,
		Action: func(c *cli.Context, path string) error {
			if c.IsSet("token") {
				return usagef("give --token or --token-file, not both (BATON_TOKEN counts as --token)")
			}
			token, warning, err := readTokenFile(path)
			if err != nil {
				return err
			}
			if warning != "" {
				fmt.Fprintf(c.App.ErrWriter, "baton: warning: %s\n", warning)
			}
			return c.Set("token", token)
		}}
}

// runFlagAction runs the action of a flag set after the command's
// positional argument, which urfave/cli leaves to the command (see oneArg):
// --token-file's reads the file.
func runFlagAction(c *cli.Context, f cli.Flag) error {
	if af, ok := f.(cli.ActionableFlag); ok {
		return af.RunAction(c)
	}
	return nil
}

// readTokenFile reads a token from path: the file's content without
// surrounding whitespace (a trailing newline is usual). A file that other
// users may read is accepted with a warning, as ssh does for keys not so
// strictly; an empty one, or one holding more than one line, is an error.
func readTokenFile(path string) (token, warning string, err error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", "", fmt.Errorf("--token-file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return "", "", fmt.Errorf("--token-file %s: not a regular file", path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("--token-file: %w", err)
	}
	token = strings.TrimSpace(string(raw))
	switch {
	case token == "":
		return "", "", fmt.Errorf("--token-file %s: the file is empty", path)
	case strings.ContainsAny(token, "\r\n"):
		return "", "", errors.New("--token-file " + path + ": the file holds more than one line; want the token alone")
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		warning = fmt.Sprintf("token file %s is open to other users (mode %#o): chmod 600 %s", path, perm, path)
	}
	return token, warning, nil
}
