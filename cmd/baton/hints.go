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
		if err := withTLS(c); err != nil {
			return err
		}
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
	case errors.Is(err, api.ErrUnknownAuthority) && c.String("ca-cert") == "":
		return fmt.Errorf("%s: its certificate is signed by an authority this client does not know: pass --ca-cert FILE "+
			"(or BATON_CACERT), the CA that signed the agents' certificates (%s)", addr, cause)
	case errors.Is(err, api.ErrUnknownAuthority):
		return fmt.Errorf("%s: its certificate is not signed by the CA of --ca-cert %s: is it the cluster's CA? (%s)", addr, c.String("ca-cert"), cause)
	case errors.Is(err, api.ErrCertificateName):
		return fmt.Errorf("%s: the agent's certificate does not name this address: reach it by a host or IP its certificate names "+
			"(its subjectAltName) (%s)", addr, cause)
	case errors.Is(err, api.ErrAgentSpeaksHTTPS):
		return fmt.Errorf("%s serves HTTPS, and this client spoke plain HTTP: pass --ca-cert FILE (or BATON_CACERT), "+
			"or give the address as https://%s", addr, hostOf(addr))
	case errors.Is(err, api.ErrAgentSpeaksHTTP):
		return fmt.Errorf("%s serves plain HTTP, and this client spoke HTTPS: give the address as http://%s, or leave out --ca-cert "+
			"(and BATON_CACERT)", addr, hostOf(addr))
	case errors.Is(err, api.ErrTLSHandshake):
		return fmt.Errorf("%s refused the TLS handshake: %v (are --client-cert and --client-key signed by the cluster's CA?)", addr, err)
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

// hostOf is the HOST:PORT of an address given with or without a scheme.
func hostOf(addr string) string {
	if i := strings.Index(addr, "://"); i >= 0 {
		return addr[i+3:]
	}
	return addr
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
