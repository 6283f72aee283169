package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// Config configures a Gateway.
type Config struct {
	// Agents are the API addresses (HOST:PORT) of the agents to follow, in
	// order of preference; at least one.
	Agents []string
	// Token is sent to the agents with every call (the registry's calls
	// are writes).
	Token string
	// TLS, when set, is the configuration of the calls to the agents (the
	// cluster's CA, and a client certificate if given): docs/tls.md.
	TLS *tls.Config
	// Name is the gateway's name in the cluster's registry; empty, the
	// gateway does not register (see Passive).
	Name string
	// Passive leaves every member in rotation whatever its step, and does
	// not register: failover alone then keeps clients served.
	Passive bool
	// NoFailover sends each request to one node only.
	NoFailover bool
	// MaxBody is the largest request body accepted (DefaultMaxBody).
	MaxBody int64
	// Poll is the longest wait of one long-polled read (DefaultPoll).
	Poll time.Duration
	// Logger receives the gateway's log lines; nil discards them.
	Logger *slog.Logger
}

// Gateway is a Proxy kept current by a Follower.
type Gateway struct {
	proxy    *Proxy
	follower *Follower
}

// New returns a gateway; it routes nothing until Run has read the cluster.
func New(cfg Config) (*Gateway, error) {
	if len(cfg.Agents) == 0 {
		return nil, errors.New("gateway: no agent address to follow")
	}
	p := NewProxy(ProxyOptions{MaxBody: cfg.MaxBody, NoFailover: cfg.NoFailover, Logger: cfg.Logger})
	var agents []Agent
	for _, addr := range cfg.Agents {
		agents = append(agents, NewAgent(addr, cfg.Token, cfg.TLS))
	}
	f := NewFollower(p, FollowOptions{
		Agents:  agents,
		Dial:    func(addr string) Agent { return NewAgent(addr, cfg.Token, cfg.TLS) },
		Name:    cfg.Name,
		Passive: cfg.Passive,
		Poll:    cfg.Poll,
		Logger:  cfg.Logger,
	})
	return &Gateway{proxy: p, follower: f}, nil
}

// ServeHTTP proxies one client request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.proxy.ServeHTTP(w, r) }

// MetricsHandler serves the gateway's Prometheus metrics.
func (g *Gateway) MetricsHandler() http.Handler { return g.proxy.MetricsHandler() }

// View returns the routing table in use, nil before the first read.
func (g *Gateway) View() *View { return g.proxy.View() }

// Ready is closed once the gateway routes by a state read from the
// cluster: before that it could only answer 503.
func (g *Gateway) Ready() <-chan struct{} { return g.follower.Ready() }

// Run follows the cluster until ctx ends, then leaves the registry.
func (g *Gateway) Run(ctx context.Context) {
	defer g.proxy.Close()
	g.follower.Run(ctx)
}
