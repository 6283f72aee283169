package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/baton-upgrade/baton/gateway"
	"github.com/urfave/cli/v2"
)

func gatewayCommand() *cli.Command {
	return &cli.Command{
		Name:  "gateway",
		Usage: "run an HTTP reverse proxy to the members' services that keeps clients served through upgrades",
		Description: "The gateway spreads client requests over the members' service addresses\n" +
			"(service_addr in each agent's config), sending each to the node with the\n" +
			"fewest requests in flight. It follows the cluster through long-polled\n" +
			"reads of the members, the failover ring and the active transaction, so\n" +
			"it needs no restart when they change.\n\n" +
			"A node whose step runs is out of rotation from the moment the gateway\n" +
			"sees its step begin until its step is done (its health hook passed). The\n" +
			"gateway registers with the cluster under --name and reports each state\n" +
			"it has acted on, so a node's drain hook waits until every gateway has\n" +
			"taken it out of rotation (bounded: a dead gateway cannot stall an\n" +
			"upgrade). On SIGINT or SIGTERM it leaves the registry and stops.\n\n" +
			"When a node refuses the connection, the request goes to its successor in\n" +
			"the ring (the next node in ring order that is in rotation). A request that\n" +
			"may have reached a node is sent again only when its method is idempotent\n" +
			"(GET, HEAD, OPTIONS, TRACE, PUT, DELETE); a POST or PATCH that may have\n" +
			"arrived gets 502 instead, so no body is ever sent twice. Request bodies\n" +
			"are buffered, up to --max-body (413 beyond).\n\n" +
			"Prometheus metrics are served at /metrics on --metrics-listen. See\n" +
			"docs/gateway.md.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Usage: "`HOST:PORT` clients connect to (required)"},
			&cli.StringFlag{Name: "addr", Value: defaultAddr, EnvVars: []string{"BATON_ADDR"},
				Usage: "API addresses (`HOST:PORT[,HOST:PORT...]`) of agents to follow; the gateway also learns the other members' and moves on when one fails"},
			&cli.StringFlag{Name: "token", EnvVars: []string{"BATON_TOKEN"},
				Usage: "bearer token for the agents, when they were started with one (registering is a write; under an ACL file, a token of the gateway scope)"},
			tokenFileFlag("BATON_TOKEN_FILE", "read the bearer token from `FILE` rather than --token, keeping it off the command line"),
			&cli.StringFlag{Name: "ca-cert", EnvVars: []string{"BATON_CACERT"},
				Usage: "`FILE` (PEM) of the CA that signed the agents' certificates: speak HTTPS to them and trust it (docs/tls.md)"},
			&cli.StringFlag{Name: "client-cert", EnvVars: []string{"BATON_CLIENT_CERT"},
				Usage: "`FILE` (PEM) of a certificate to present to the agents, with --client-key and --ca-cert"},
			&cli.StringFlag{Name: "client-key", EnvVars: []string{"BATON_CLIENT_KEY"},
				Usage: "`FILE` (PEM) of the private key of --client-cert"},
			&cli.StringFlag{Name: "name", Usage: "`NAME` in the cluster's gateway registry: 1 to 32 of a-z, 0-9, '.', '_', '-' (default: the host name and the --listen port)"},
			&cli.StringFlag{Name: "metrics-listen", Usage: "`HOST:PORT` serving Prometheus metrics at /metrics (default: none)"},
			&cli.BoolFlag{Name: "passive", Usage: "do not register, and keep nodes in rotation whatever their steps: only failover hides a node's restart"},
			&cli.BoolFlag{Name: "no-failover", Usage: "send each request to one node only, never to a successor (a baseline to compare with)"},
			&cli.Int64Flag{Name: "max-body", Value: gateway.DefaultMaxBody, Usage: "largest request body accepted, in `BYTES`"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log level: debug, info, warn or error"},
		},
		Action: runGateway,
	}
}

var gatewayNameRE = regexp.MustCompile(`^[a-z0-9._-]{1,32}$`)

func runGateway(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	if err := withTLS(c); err != nil {
		return err
	}
	agentTLS, _ := c.Context.Value(clientTLSKey{}).(*tls.Config)
	var agents []string
	for _, a := range strings.Split(c.String("addr"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			agents = append(agents, a)
		}
	}
	if len(agents) == 0 {
		return usagef("--addr names no agent")
	}
	if c.String("listen") == "" {
		return usagef("gateway needs --listen HOST:PORT, where clients connect")
	}
	if _, _, err := net.SplitHostPort(c.String("listen")); err != nil {
		return usagef("--listen %q: want HOST:PORT (%v)", c.String("listen"), err)
	}
	if c.Int64("max-body") <= 0 {
		return usagef("--max-body %d: want a positive number of bytes", c.Int64("max-body"))
	}
	name := c.String("name")
	if name == "" {
		name = defaultGatewayName(c.String("listen"))
	} else if !gatewayNameRE.MatchString(name) {
		return usagef("--name %q: want 1 to 32 of a-z, 0-9, '.', '_', '-'", name)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))
	if c.Bool("passive") {
		name = ""
	}
	gw, err := gateway.New(gateway.Config{Agents: agents, Token: c.String("token"), TLS: agentTLS, Name: name,
		Passive: c.Bool("passive"), NoFailover: c.Bool("no-failover"), MaxBody: c.Int64("max-body"), Logger: log})
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	followed := make(chan struct{})
	go func() { gw.Run(ctx); close(followed) }()
	// Clients are let in once the gateway knows where to send them: until
	// then a refused connection tells them to try again, where a listening
	// gateway could only answer 503.
	log.Info("reading the cluster", "agents", strings.Join(agents, ","))
	select {
	case <-gw.Ready():
	case <-c.Context.Done():
		cancel()
		<-followed
		return nil
	}

	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		cancel()
		<-followed
		return fmt.Errorf("listen on %s: %w", c.String("listen"), err)
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	var msrv *http.Server
	if addr := c.String("metrics-listen"); addr != "" {
		mln, err := net.Listen("tcp", addr)
		if err != nil {
			_ = srv.Close()
			cancel()
			<-followed
			return fmt.Errorf("listen on %s: %w", addr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", gw.MetricsHandler())
		msrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- msrv.Serve(mln) }()
	}
	log.Info("gateway listening", "listen", ln.Addr().String(), "name", name,
		"passive", c.Bool("passive"), "failover", !c.Bool("no-failover"))

	var serveErr error
	select {
	case <-c.Context.Done():
	case serveErr = <-errc:
	}
	// Stop taking requests and let those in flight finish while the
	// rotation still follows the cluster; then leave the registry (the end
	// of Run), when nothing is routed any more.
	log.Info("stopping: finishing the requests in flight")
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	cancel()
	<-followed
	if msrv != nil {
		_ = msrv.Shutdown(sctx)
	}
	log.Info("gateway stopped")
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// defaultGatewayName is the host name and the listen port, made to fit
// the registry's names.
func defaultGatewayName(listen string) string {
	host, _ := os.Hostname()
	_, port, _ := net.SplitHostPort(listen)
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	}, host)
	if clean == "" {
		clean = "gateway"
	}
	suffix := "-" + port
	if len(clean)+len(suffix) > 32 {
		clean = clean[:32-len(suffix)]
	}
	return clean + suffix
}
