package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/urfave/cli/v2"
)

// defaultAddr is where the client looks for an agent unless told otherwise.
const defaultAddr = "127.0.0.1:7070"

// withHints wraps the action of a client command so that its failures say
// what to do next: an agent that does not answer, an address that is not an
// agent's API, a deadline that passed.
func withHints(action cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		return hintFor(c, action(c))
	}
}

// hintFor adds to err what the operator can do about it; other errors, and
// usage errors, come back as they are.
func hintFor(c *cli.Context, err error) error {
	var ue usageError
	if err == nil || errors.As(err, &ue) {
		return err
	}
	addr := c.String("addr")
	cause := lastPart(err)
	switch {
	case strings.Contains(err.Error(), "malformed HTTP response") || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("%s closed the connection without an HTTP answer: is it a Raft address? --addr and BATON_ADDR take an agent's API address, its --http-addr (%s)", addr, cause)
	case errors.Is(err, api.ErrUnreachable) && !c.IsSet("addr"):
		return fmt.Errorf("no agent answers at the default address %s: give an agent's API address with --addr or BATON_ADDR (%s)", defaultAddr, cause)
	case errors.Is(err, api.ErrUnreachable):
		return fmt.Errorf("no agent answers at %s: is one running there, and is it its --http-addr? (%s)", addr, cause)
	case errors.Is(err, context.DeadlineExceeded) && c.Context.Err() == nil:
		return fmt.Errorf("the agent at %s did not answer within --timeout %s: raise --timeout, or check the agent (%s)", addr, c.Duration("timeout"), cause)
	}
	return err
}

// lastPart is the innermost part of a wrapped error's text: "connection
// refused" of "agent at ...: dial tcp ...: connect: connection refused".
func lastPart(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}
