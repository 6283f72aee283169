package rpc

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/baton-upgrade/baton/rpc/api"
	"github.com/hashicorp/go-hclog"
)

// HTTPLimits bound what clients may hold of an agent's API, so that slow or
// idle connections can neither pile up without end nor take the file
// descriptors Raft, the stores and the hooks need (docs/operations.md,
// "Limits").
type HTTPLimits struct {
	// ReadHeaderTimeout bounds reading a request's headers, and so how long
	// a connection may stay open without sending a request.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included. Once the
	// body is read to its end net/http lifts it (ServeHTTP reads every body
	// first), so a long poll that waits longer is not cut off.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end
	// of its answer. It must exceed the longest legitimate wait: a long
	// poll or /v1/events waits up to api.MaxWait, and a forwarded request
	// that long too.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection waits for its next
	// request.
	IdleTimeout time.Duration
	// MaxConns bounds the connections open at once over all clients; the
	// listener stops accepting at the limit (further clients wait in the
	// kernel's backlog) until one closes. Zero means no limit.
	MaxConns int
	// MaxConnsPerClient bounds the connections open at once from one remote
	// IP; a further one is answered 429 and closed at once. Zero means no
	// limit.
	MaxConnsPerClient int
	// Logger gets a warning when connections are refused, at most one
	// every refusalLogEvery with how many were; nil logs nothing.
	Logger hclog.Logger
	// TLS, when the API is served over TLS on the limited listener, is
	// the server's configuration: a connection over the per-client limit is
	// then answered 429 inside a TLS session of its own (bounded by
	// refusalHandshakeTimeout, at most maxTLSRefusals at once; past that it
	// is closed without a word), since a plain-text answer would read to a
	// TLS client as an agent that speaks plain HTTP.
	TLS *tls.Config
}

// Refusals over TLS: each needs a handshake, so they are bounded in time
// and in number, and a flood of them costs no more than a few goroutines.
const (
	refusalHandshakeTimeout = 2 * time.Second
	maxTLSRefusals          = 16
)

// refusalLogEvery spaces the warnings about refused connections, so that a
// flood does not become a flood of log lines.
const refusalLogEvery = 10 * time.Second

// Default HTTP limits (the agent's defaults; --http-max-conns and
// --http-max-conns-per-client change the connection limits).
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = api.MaxWait + time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxConns          = 4096
	DefaultMaxConnsPerClient = 256
)

// DefaultHTTPLimits returns the default limits.
func DefaultHTTPLimits() HTTPLimits {
	return HTTPLimits{ReadHeaderTimeout: DefaultReadHeaderTimeout, ReadTimeout: DefaultReadTimeout,
		WriteTimeout: DefaultWriteTimeout, IdleTimeout: DefaultIdleTimeout,
		MaxConns: DefaultMaxConns, MaxConnsPerClient: DefaultMaxConnsPerClient}
}

// Server returns an http.Server for h with l's timeouts. Serve it on
// l.Listener(ln) for the connection limits.
func (l HTTPLimits) Server(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: l.ReadHeaderTimeout, ReadTimeout: l.ReadTimeout,
		WriteTimeout: l.WriteTimeout, IdleTimeout: l.IdleTimeout}
}

// Listener wraps ln with l's connection limits.
func (l HTTPLimits) Listener(ln net.Listener) net.Listener {
	out := &limitListener{Listener: ln, perClient: l.MaxConnsPerClient, open: map[string]int{}, done: make(chan struct{}),
		log: l.Logger}
	if out.log == nil {
		out.log = hclog.NewNullLogger()
	}
	if l.MaxConns > 0 {
		out.slots = make(chan struct{}, l.MaxConns)
	}
	if l.TLS != nil {
		out.tls, out.tlsRefusals = l.TLS, make(chan struct{}, maxTLSRefusals)
	}
	return out
}

// readBody reads r's whole body (at most maxBody, through the
// MaxBytesReader ServeHTTP put there) before the route runs, so the server's
// read deadline (ReadTimeout) bounds the body and nothing else: net/http
// lifts the deadline once a body is read to its end, and a route that then
// waits (a long poll) is not cut off by it (TestLongPollOutlivesTheReadTimeout).
// A body that fails to arrive in time, or is too large, fails here, and the
// route sees that error when it reads the body.
func readBody(r *http.Request) {
	var body []byte
	var err error
	if r.Body != nil && r.Body != http.NoBody {
		body, err = io.ReadAll(r.Body)
		r.Body.Close()
	}
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
}

// errReader fails every read with err, or ends at once for nil.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

// limitListener is a net.Listener with an overall and a per-remote-IP limit
// on open connections.
type limitListener struct {
	net.Listener
	slots     chan struct{} // one per open connection; nil for no overall limit
	perClient int

	mu   sync.Mutex
	open map[string]int // open connections by remote IP
	// refused counts the connections refused since the last warning, at
	// lastWarn.
	refused  int
	lastWarn time.Time
	log      hclog.Logger

	// tls and tlsRefusals: see HTTPLimits.TLS; tlsRefusals holds one token
	// per refusal in progress.
	tls         *tls.Config
	tlsRefusals chan struct{}

	closeOnce sync.Once
	done      chan struct{}
}

// tooManyFromClient is the answer to a connection over the per-client
// limit, written before it is closed.
var tooManyFromClient = func() string {
	body := `{"error":"too many connections from this client","code":"` + string(api.CodeTooMany) + `"}`
	return fmt.Sprintf("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nConnection: close\r\n"+
		"Content-Length: %d\r\n\r\n%s", len(body), body)
}()

// Accept waits for a free slot, then returns the next connection whose
// client is under its limit; connections over it are answered 429 and
// closed.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		if l.slots != nil {
			select {
			case l.slots <- struct{}{}:
			case <-l.done:
				return nil, net.ErrClosed
			}
		}
		c, err := l.Listener.Accept()
		if err != nil {
			l.freeSlot()
			return nil, err
		}
		ip := remoteIP(c)
		if !l.admit(ip) {
			l.refuse(c)
			l.freeSlot()
			continue
		}
		return &limitConn{Conn: c, release: func() { l.leave(ip); l.freeSlot() }}, nil
	}
}

// refuse answers c 429 and closes it: at once over plain HTTP; over TLS
// after a handshake, in a goroutine of its own so that Accept goes on.
func (l *limitListener) refuse(c net.Conn) {
	if l.tls == nil {
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = io.WriteString(c, tooManyFromClient)
		c.Close()
		return
	}
	select {
	case l.tlsRefusals <- struct{}{}:
	default:
		c.Close() // too many refusals in progress: no answer at all
		return
	}
	go func() {
		defer func() { <-l.tlsRefusals }()
		tc := tls.Server(c, l.tls)
		defer tc.Close()
		_ = tc.SetDeadline(time.Now().Add(refusalHandshakeTimeout))
		if tc.Handshake() == nil {
			_, _ = io.WriteString(tc, tooManyFromClient)
		}
	}()
}

// Close stops Accept, also one waiting for a slot.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *limitListener) freeSlot() {
	if l.slots != nil {
		<-l.slots
	}
}

func (l *limitListener) admit(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perClient > 0 && l.open[ip] >= l.perClient {
		l.refused++
		if now := time.Now(); now.Sub(l.lastWarn) >= refusalLogEvery {
			l.log.Warn("API connections refused: over the per-client limit (--http-max-conns-per-client)",
				"client", ip, "limit", l.perClient, "refused", l.refused)
			l.lastWarn, l.refused = now, 0
		}
		return false
	}
	l.open[ip]++
	return true
}

func (l *limitListener) leave(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
}

func remoteIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

// limitConn gives its slot back once, when closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
