package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxBody is the largest request body the gateway buffers (and so
// accepts) unless ProxyOptions say otherwise.
const DefaultMaxBody = 8 << 20

// DefaultDialTimeout bounds the opening of a connection to a node.
const DefaultDialTimeout = 2 * time.Second

// ProxyOptions configure a Proxy. The zero value is usable.
type ProxyOptions struct {
	// MaxBody is the largest request body accepted, in bytes; a larger
	// one is answered 413. Every body is buffered whole before it is sent,
	// so that a request a node refused can be sent to its successor.
	MaxBody int64
	// DialTimeout bounds the opening of a connection to a node; past it
	// the node counts as refusing the connection.
	DialTimeout time.Duration
	// NoFailover sends each request to one node only: no successor, no
	// retry. It is the baseline the demo compares against.
	NoFailover bool
	// Logger receives one line per forward to a successor and per request
	// the gateway fails; nil discards them.
	Logger *slog.Logger
}

// Proxy is the gateway's HTTP reverse proxy. It routes with the View it was
// last given (SetView) and is safe for concurrent use.
type Proxy struct {
	opts ProxyOptions
	log  *slog.Logger
	// mu orders routing decisions against view changes: once SetView
	// returns, no request is routed by an older view any more, so a node
	// taken out of rotation gets no new request after the gateway reports
	// that it has seen its drain announcement.
	mu        sync.RWMutex
	view      *View
	next      atomic.Uint64 // round-robin cursor among equally loaded nodes
	nodes     sync.Map      // id -> *nodeLoad
	metrics   *metrics
	transport *http.Transport
	reverse   *httputil.ReverseProxy
}

// nodeLoad is what the gateway has sent to one node and not yet relayed
// back in full.
type nodeLoad struct {
	inFlight atomic.Int64
	gauge    prometheus.Gauge
}

// NewProxy returns a proxy with no view: it answers 503 until SetView.
func NewProxy(opts ProxyOptions) *Proxy {
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{opts: opts, log: log, metrics: newMetrics()}
	dialer := &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}
	p.transport = &http.Transport{
		DialContext:         dialer.DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	p.reverse = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// The node is chosen per attempt (roundTrip); the client's
			// Host header goes through, as most load balancers do.
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "node.invalid"
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport:    roundTripperFunc(p.roundTrip),
		BufferPool:   &copyBuffers{},
		ErrorHandler: p.answerError,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return p
}

// SetView makes v the routing table of every request that starts from now.
// Requests routed before it returns may still be on their way.
func (p *Proxy) SetView(v *View) {
	p.mu.Lock()
	p.view = v
	p.mu.Unlock()
	p.metrics.observeView(v)
}

// View returns the current routing table, nil before the first SetView.
func (p *Proxy) View() *View {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.view
}

// MetricsHandler serves the gateway's Prometheus metrics.
func (p *Proxy) MetricsHandler() http.Handler { return p.metrics.handler() }

// Close closes the idle connections to the nodes.
func (p *Proxy) Close() { p.transport.CloseIdleConnections() }

// requestInfo is what one client request's handling learned, for its
// metrics.
type requestInfo struct {
	outcome string
}

type requestInfoKey struct{}

// ServeHTTP buffers the request's body, then hands the request to the
// reverse proxy, which sends it to a node (roundTrip) and relays the
// answer.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &requestInfo{outcome: outcomeProxied}
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		p.metrics.requests.WithLabelValues(info.outcome, codeClass(code)).Inc()
		p.metrics.duration.Observe(time.Since(start).Seconds())
	}()
	if err := p.bufferBody(r); err != nil {
		info.outcome = outcomeRejected
		status := http.StatusBadRequest
		if errors.Is(err, errBodyTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		writeGatewayError(rec, status, err.Error())
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	p.reverse.ServeHTTP(rec, r)
}

var errBodyTooLarge = errors.New("request body too large")

// bufferBody reads r's body into memory (at most MaxBody bytes) so that it
// can be sent again to another node when the first refused the
// connection.
func (p *Proxy) bufferBody(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	if r.ContentLength > p.opts.MaxBody {
		return fmt.Errorf("%w: %d bytes, the gateway accepts at most %d (--max-body)", errBodyTooLarge, r.ContentLength, p.opts.MaxBody)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, p.opts.MaxBody+1))
	_ = r.Body.Close()
	if err != nil {
		return fmt.Errorf("read request body: %w", err)
	}
	if int64(len(body)) > p.opts.MaxBody {
		return fmt.Errorf("%w: more than %d bytes, the gateway accepts at most %d (--max-body)", errBodyTooLarge, p.opts.MaxBody, p.opts.MaxBody)
	}
	r.ContentLength = int64(len(body))
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	if len(body) == 0 {
		r.Body, r.GetBody = http.NoBody, nil
	}
	return nil
}

// Idempotent reports whether RFC 9110 (section 9.2.2) calls method
// idempotent: only such a request is sent again after a node may have
// received it.
func Idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// roundTrip sends one request to a node chosen by load, and, when that
// node fails before an answer begins, to its successor in the ring, as
// long as doing so cannot send a non-idempotent body twice: a connection
// that could not be opened carried nothing, any other failure may have
// delivered the request.
func (p *Proxy) roundTrip(req *http.Request) (*http.Response, error) {
	node, err := p.first()
	if err != nil {
		p.metrics.failures.WithLabelValues(causeNoNode).Inc()
		return nil, err
	}
	tried := map[string]bool{}
	for {
		tried[node.ID] = true
		resp, err := p.send(req, node)
		if err == nil {
			return resp, nil
		}
		if req.Context().Err() != nil {
			return nil, err // the client went away: not the node's failure
		}
		cause := causeNoResponse
		if dialFailed(err) {
			cause = causeConnect
		}
		p.metrics.failures.WithLabelValues(cause).Inc()
		failure := &attemptError{method: req.Method, node: node.ID, cause: cause, err: err}
		if p.opts.NoFailover {
			return nil, failure
		}
		if cause != causeConnect && !Idempotent(req.Method) {
			failure.notResent = true
			return nil, failure
		}
		next, ok := p.successor(node, tried)
		if !ok {
			p.metrics.failures.WithLabelValues(causeNoNode).Inc()
			failure.noSuccessor = true
			return nil, failure
		}
		p.metrics.forwards.WithLabelValues(node.ID, next.ID).Inc()
		if cause != causeConnect {
			p.metrics.retries.Inc()
		}
		p.log.Info("forward to successor", "method", req.Method, "path", req.URL.Path,
			"from", node.ID, "to", next.ID, "cause", cause, "error", err.Error())
		node = next
	}
}

// first routes a new request: the node in rotation with the least load.
func (p *Proxy) first() (Node, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.view == nil {
		return Node{}, &routeError{msg: "the gateway has not read the cluster's members yet"}
	}
	node, ok := p.pick(p.view)
	if !ok {
		return Node{}, &routeError{msg: fmt.Sprintf("no node in rotation (%d known, state index %d)", len(p.view.nodes), p.view.Index)}
	}
	return node, nil
}

// successor is failed's successor in the newest view, skipping the nodes
// this request already tried.
func (p *Proxy) successor(failed Node, tried map[string]bool) (Node, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.view.Successor(failed.ID, func(id string) bool { return tried[id] })
}

// pick chooses the node in rotation with the fewest requests in flight;
// among equals it goes round robin. Least-in-flight sends less to a node
// that answers slowly (one starting up, or overloaded) without any
// measurement of latency, and degenerates to round robin under even load.
func (p *Proxy) pick(v *View) (Node, bool) {
	rot := v.rotation
	if len(rot) == 0 {
		return Node{}, false
	}
	start := int(p.next.Add(1) % uint64(len(rot)))
	best, bestLoad := -1, int64(0)
	for k := range rot {
		i := (start + k) % len(rot)
		if load := p.load(rot[i].ID).inFlight.Load(); best < 0 || load < bestLoad {
			best, bestLoad = i, load
		}
	}
	return rot[best], true
}

func (p *Proxy) load(id string) *nodeLoad {
	if l, ok := p.nodes.Load(id); ok {
		return l.(*nodeLoad)
	}
	l, _ := p.nodes.LoadOrStore(id, &nodeLoad{gauge: p.metrics.inFlight.WithLabelValues(id)})
	return l.(*nodeLoad)
}

// send makes one attempt at node. The answer's body reports the end of
// the request's time in flight when it is closed.
func (p *Proxy) send(req *http.Request, node Node) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.URL.Host = node.Addr
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		out.Body = body
	}
	load := p.load(node.ID)
	load.inFlight.Add(1)
	load.gauge.Inc()
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		load.inFlight.Add(-1)
		load.gauge.Dec()
		return nil, err
	}
	info, _ := req.Context().Value(requestInfoKey{}).(*requestInfo)
	resp.Body = &trackedBody{ReadCloser: resp.Body, done: func(readErr error) {
		load.inFlight.Add(-1)
		load.gauge.Dec()
		if readErr != nil && req.Context().Err() == nil {
			p.metrics.failures.WithLabelValues(causeResponse).Inc()
			if info != nil {
				info.outcome = outcomeFailed
			}
		}
	}}
	return resp, nil
}

// dialFailed reports whether err is the failure to open a connection: the
// request was never sent.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// routeError is a request the gateway had no node for.
type routeError struct{ msg string }

func (e *routeError) Error() string { return e.msg }

// attemptError is the last failed attempt of a request the gateway gives
// up on.
type attemptError struct {
	method, node, cause string
	err                 error
	notResent           bool // failed after it may have been sent, and not idempotent
	noSuccessor         bool // every node in rotation was tried
}

func (e *attemptError) Error() string {
	var what string
	if e.cause == causeConnect {
		what = fmt.Sprintf("could not connect to node %s (%v)", e.node, e.err)
	} else {
		what = fmt.Sprintf("node %s failed before answering (%v)", e.node, e.err)
	}
	switch {
	case e.notResent:
		return what + fmt.Sprintf("; the request may have reached it, and %s is not idempotent, so it was not sent to another node", e.method)
	case e.noSuccessor:
		return what + "; no other node in rotation was left to try"
	}
	return what
}

func (e *attemptError) Unwrap() error { return e.err }

// answerError answers a request no node answered.
func (p *Proxy) answerError(w http.ResponseWriter, r *http.Request, err error) {
	info, _ := r.Context().Value(requestInfoKey{}).(*requestInfo)
	if r.Context().Err() != nil {
		if info != nil {
			info.outcome = outcomeCanceled
		}
		w.WriteHeader(http.StatusBadGateway) // nobody reads it
		return
	}
	if info != nil {
		info.outcome = outcomeFailed
	}
	status := http.StatusBadGateway
	var re *routeError
	if errors.As(err, &re) {
		status = http.StatusServiceUnavailable
	}
	p.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "error", err.Error())
	writeGatewayError(w, status, err.Error())
}

func writeGatewayError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, "baton gateway: %s\n", msg)
}

// copyBuffers keeps the 32 KiB buffers that answers are copied through,
// instead of allocating (and clearing) one per request.
type copyBuffers struct{ pool sync.Pool }

func (c *copyBuffers) Get() []byte {
	if b, ok := c.pool.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

func (c *copyBuffers) Put(b []byte) { c.pool.Put(&b) }

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// trackedBody calls done once, when the body is closed, with the read
// error that ended it early, if any.
type trackedBody struct {
	io.ReadCloser
	once    sync.Once
	readErr error
	done    func(readErr error)
}

func (b *trackedBody) Read(buf []byte) (int, error) {
	n, err := b.ReadCloser.Read(buf)
	if err != nil && err != io.EOF {
		b.readErr = err
	}
	return n, err
}

func (b *trackedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() { b.done(b.readErr) })
	return err
}

// statusRecorder remembers the status code written through it.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 && code >= 200 { // 1xx answers are interim
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the writer's Flush.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
